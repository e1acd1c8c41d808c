/*
 * lifecycle: how a run of archive, restore or purge begins and ends, one
 * way for all three.
 *
 * lifecycle_begin records the run in the index unless another run holds
 * the session (busy). From then on every way out goes through one of the
 * calls below, each of which closes the run's row with its end state and
 * returns the exit code cron sees, so that `status` and the exit code can
 * never tell two stories:
 *
 *   lifecycle_fail            failed before or outside the courses    1
 *   lifecycle_idle            finished, nothing to do        0, or 6 when
 *                             courses that failed earlier are still left
 *   lifecycle_outside_window  waiting-window (--no-wait)              3
 *   lifecycle_end             after engine_run: cancelled 1, stopped by
 *                             an outage 5 or 10, waiting-window 3,
 *                             finished 0, or 6 when a course failed
 */
#ifndef SA_LIFECYCLE_H
#define SA_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

struct cli;

/*
 * The engine's configuration of a run of operation ("archive", "purge
 * (dry run)") on session: [jobs], [window] and [mail] of cli's
 * configuration, quiet when cli is.
 */
struct engine_config lifecycle_config(const struct cli *cli,
				      const char *operation,
				      const char *session, struct idx *idx,
				      bool no_wait);

/*
 * Records a run of kind ("archive", "purge-dry-run") on the session and
 * sets ec->run_id. SA_EXIT_OK; SA_EXIT_BUSY when another run is alive
 * (logged with its operation and pid); SA_EXIT_FAILURE when the index
 * cannot record it.
 */
int lifecycle_begin(struct engine_config *ec, int64_t session_id,
		    const char *kind);

/* Closes the run as failed, why its last error. SA_EXIT_FAILURE. */
int lifecycle_fail(const struct engine_config *ec, const char *why);

/* Closes a run that found nothing to do. */
int lifecycle_idle(const struct engine_config *ec, bool failures_left);

/* Closes a --no-wait run outside the hour window, said in the log. */
int lifecycle_outside_window(const struct engine_config *ec);

/*
 * Closes the run as engine_run's res ended it. more_failed: failures the
 * engine did not count (backups that failed their check).
 */
int lifecycle_end(const struct engine_config *ec,
		  const struct engine_result *res, bool more_failed);

#endif
