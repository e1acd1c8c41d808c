/*
 * The log module: formats a message once, escapes it into one printable
 * line, then hands it to stderr or syslog, and to the operation log file
 * when one is set. Settings are plain atomics so that FUSE worker threads
 * may log while main() holds nothing.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "printable.h"

static const char *log_ident = "sessionarchiver";
static atomic_int log_level = LOG_INFO;
static atomic_bool log_syslog;
static atomic_int log_file_fd = -1;

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

void log_set_level(int level)
{
	atomic_store(&log_level, level);
}

void log_use_syslog(bool on)
{
	if (on && !atomic_load(&log_syslog))
		openlog(log_ident, LOG_PID, LOG_DAEMON);
	atomic_store(&log_syslog, on);
}

void log_set_file_fd(int fd)
{
	atomic_store(&log_file_fd, fd);
}

static const char *level_word(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE:
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

/* write() the whole buffer; a log line that cannot be written is dropped */
static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * prefix and text as one line into buf, newline included, cut to fit;
 * returns its length
 */
static size_t make_line(char *buf, size_t size, const char *prefix,
			const char *text)
{
	int n = snprintf(buf, size, "%s%s\n", prefix, text);

	if (n < 0)
		return 0;
	if ((size_t)n < size)
		return (size_t)n;
	/* cut: the line still ends, or the next one would run on */
	buf[size - 2] = '\n';
	return size - 1;
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
	/* escaping may make the message longer: up to 4 bytes a byte */
	char msg[2048], text[4096], line[4096 + 256], prefix[256];
	int fd, n;

	if (level > atomic_load(&log_level))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	/* messages carry course names and Moodle's texts: a terminal, syslog
	 * and the operation log get one line with no control character */
	printable_copy(msg, (size_t)n < sizeof(msg) ? (size_t)n
						    : sizeof(msg) - 1,
		       0, text, sizeof(text));

	if (atomic_load(&log_syslog)) {
		syslog(level, "%s", text);
	} else {
		snprintf(prefix, sizeof(prefix), "%s: %s%s", log_ident,
			 level <= LOG_WARNING ? level_word(level) : "",
			 level <= LOG_WARNING ? ": " : "");
		write_all(STDERR_FILENO, line,
			  make_line(line, sizeof(line), prefix, text));
	}

	fd = atomic_load(&log_file_fd);
	if (fd >= 0) {
		struct tm tm;
		char stamp[32];
		time_t now = time(NULL);

		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S%z", &tm);
		snprintf(prefix, sizeof(prefix), "%s %s ", stamp,
			 level_word(level));
		write_all(fd, line,
			  make_line(line, sizeof(line), prefix, text));
	}
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERR, fmt, ap);
	va_end(ap);
	return -1;
}

void log_lines(int level, const char *label, const char *text)
{
	const char *p = text, *end;
	int n;

	if (level > atomic_load(&log_level))
		return;
	for (; *p; p = *end ? end + 1 : end) {
		end = p + strcspn(p, "\n");
		n = (int)(end - p);
		while (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > 0)
			log_msg(level, "%s: %.*s", label, n, p);
	}
}
