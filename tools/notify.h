/*
 * notify: progress by e-mail for a long operation.
 *
 * Mails at the start, every [mail] every (N% or N minutes), when the run
 * waits for its window or is paused, on a burst of failures, and at the
 * end. A mail server that is down never stops the operation: the failure
 * is logged and the next message goes out as usual. Without [mail] url
 * every call does nothing. One owner thread.
 */
#ifndef SA_NOTIFY_H
#define SA_NOTIFY_H

#include <stdint.h>
#include <time.h>

struct config_mail;

/* Consecutive failed courses that make a burst worth a mail. */
#define NOTIFY_BURST 3

struct notify {
	const struct config_mail *mail; /* borrowed; NULL: no mail */
	const char *operation;          /* "archive" */
	const char *session;
	time_t last_sent;
	int last_percent;
	int failures_in_row;
	int sent, failed_sends;          /* for tests and the end summary */
};

void notify_init(struct notify *n, const struct config_mail *mail,
		 const char *operation, const char *session);
/* Sends "<operation> <session>: <what>" with body; logs a failure. */
void notify_send(struct notify *n, const char *what, const char *body);
/* After each course: the every-N rule and failure bursts. */
void notify_progress(struct notify *n, int64_t done, int64_t failed,
		     int64_t total, int ok);

#endif
