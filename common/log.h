/*
 * log: the one way sessionarchiver reports what happens.
 *
 * Messages go to stderr in the foreground or to syslog once log_use_syslog()
 * was called (daemon, cron with --syslog), and optionally to an operation log
 * file as well. Levels are syslog's. Messages follow STYLE.md: lower case,
 * no final period, object quoted, cause last. Never pass a secret here.
 * A message is one line: once formatted it is escaped (printable.h), so
 * that a course name with an ESC or a newline in it reaches a terminal,
 * syslog and the operation log as \x1b and \x0a. Messages longer than
 * about 2 KiB are cut.
 * Safe from any thread: each message is written with a single write().
 */
#ifndef SA_LOG_H
#define SA_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

/* Program name shown before each stderr message; borrowed, keep it alive. */
void log_set_ident(const char *ident);
/* Messages less urgent than level (LOG_ERR..LOG_DEBUG) are dropped. */
void log_set_level(int level);
void log_use_syslog(bool on);
/*
 * Also append every kept message, time-stamped, to an open fd (the
 * operation log); -1 stops it. The fd stays the caller's.
 */
void log_set_file_fd(int fd);

void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap);

/* log_err() returns -1 so that reporting and returning share a line. */
int log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Each line of text (a program's output) as a message of its own, as
 * "label: line"; empty lines are skipped.
 */
void log_lines(int level, const char *label, const char *text);

#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
