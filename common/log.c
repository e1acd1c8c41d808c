/*
 * The log module: formats a message once, then hands it to stderr or
 * syslog, and to the operation log file when one is set. Settings are
 * plain atomics so that FUSE worker threads may log while main() holds
 * nothing.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int log_get_level(void)
{
	return atomic_load(&log_level);
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

void log_vmsg(int level, const char *fmt, va_list ap)
{
	char msg[2048], line[2200];
	int fd, n;

	if (level > atomic_load(&log_level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);

	if (atomic_load(&log_syslog)) {
		syslog(level, "%s", msg);
	} else {
		n = snprintf(line, sizeof(line), "%s: %s%s%s\n", log_ident,
			     level <= LOG_WARNING ? level_word(level) : "",
			     level <= LOG_WARNING ? ": " : "", msg);
		if (n > 0)
			write_all(STDERR_FILENO, line,
				  (size_t)n < sizeof(line) ? (size_t)n
							   : sizeof(line) - 1);
	}

	fd = atomic_load(&log_file_fd);
	if (fd >= 0) {
		struct tm tm;
		char stamp[32];
		time_t now = time(NULL);

		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S%z", &tm);
		n = snprintf(line, sizeof(line), "%s %s %s\n", stamp,
			     level_word(level), msg);
		if (n > 0)
			write_all(fd, line,
				  (size_t)n < sizeof(line) ? (size_t)n
							   : sizeof(line) - 1);
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
