/*
 * progress: a one-line progress bar on stderr, only when stderr is a
 * terminal (never in logs, cron mails or pipes). Redrawn at most ten times
 * a second. The label is shown escaped (printable.h). One bar at a time,
 * owned by one thread.
 */
#ifndef SA_PROGRESS_H
#define SA_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress;

/* NULL (and every call a no-op) when stderr is not a terminal or quiet. */
struct progress *progress_new(const char *label, int64_t total_items,
			      int64_t total_bytes, bool quiet);
/* current may be NULL; it is shown escaped (printable.h), cut to fit. */
void progress_update(struct progress *p, int64_t done_items,
		     int64_t done_bytes, const char *current);
/* Clears the line and frees p. progress_end(NULL) is a no-op. */
void progress_end(struct progress *p);

#endif
