/*
 * runner: how a run reaches Moodle for each course, as [jobs] runner says:
 * through a pool of long-lived bridge workers (Moodle set up once per job,
 * not once per course), or through one admin/cli script per course.
 */
#ifndef SA_RUNNER_H
#define SA_RUNNER_H

#include <stdbool.h>

#include "moodle.h"

struct config;

/*
 * *pool: the run's workers on m, or NULL when runner is cli and always is
 * false (purge always has workers: Moodle 4.5's delete_course.php is
 * broken). On the thread that owns m. 0, or -1 (logged).
 */
int runner_pool(const struct config *cfg, struct moodle *m,
		const struct bridge_opts *bo, bool always,
		struct bridge_pool **pool);

/* Logs what the pool's workers did (for a run's end) and frees it. */
void runner_pool_end(struct bridge_pool *pool, const char *operation,
		     const char *session);

#endif
