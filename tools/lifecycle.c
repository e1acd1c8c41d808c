#include "lifecycle.h"

#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "log.h"
#include "runs.h"

struct engine_config lifecycle_config(const struct cli *cli,
				      const char *operation,
				      const char *session, struct idx *idx,
				      bool no_wait)
{
	const struct config *cfg = cli->cfg;

	return (struct engine_config){ .operation = operation,
				       .session = session,
				       .parallel = cfg->jobs.parallel,
				       .window = &cfg->window,
				       .no_wait = no_wait,
				       .mail = &cfg->mail,
				       .quiet = cli->verbosity < 0,
				       .idx = idx,
				       .stop_after = cfg->jobs.stop_after };
}

int lifecycle_begin(struct engine_config *ec, int64_t session_id,
		    const char *kind)
{
	struct run_info busy;

	ec->run_id = runs_begin(ec->idx, session_id, kind, getpid(), NULL,
				&busy);
	if (ec->run_id == 0) {
		log_err("%s is already running on session '%s' (pid %d)",
			busy.operation, ec->session, (int)busy.pid);
		return SA_EXIT_BUSY;
	}
	return ec->run_id < 0 ? SA_EXIT_FAILURE : SA_EXIT_OK;
}

int lifecycle_fail(const struct engine_config *ec, const char *why)
{
	runs_end(ec->idx, ec->run_id, "failed", why);
	return SA_EXIT_FAILURE;
}

int lifecycle_idle(const struct engine_config *ec, bool failures_left)
{
	runs_end(ec->idx, ec->run_id, "finished", NULL);
	/* cron must hear of failures until someone looks at them */
	return failures_left ? SA_EXIT_PARTIAL : SA_EXIT_OK;
}

int lifecycle_outside_window(const struct engine_config *ec)
{
	log_msg(LOG_NOTICE,
		"%s of %s: outside the hour window (--no-wait); the next run "
		"goes on",
		ec->operation, ec->session);
	runs_end(ec->idx, ec->run_id, "waiting-window",
		 "outside the hour window (--no-wait)");
	return SA_EXIT_WINDOW;
}

int lifecycle_end(const struct engine_config *ec,
		  const struct engine_result *res, bool more_failed)
{
	if (res->cancelled) {
		runs_end(ec->idx, ec->run_id, "cancelled", "cancelled");
		return SA_EXIT_FAILURE;
	}
	if (res->stopped_by != ENGINE_DONE) {
		runs_end(ec->idx, ec->run_id, "failed", res->stop_reason);
		return res->stopped_by == ENGINE_STORE_DOWN
			       ? SA_EXIT_STORE_FULL
			       : SA_EXIT_UNREACHABLE;
	}
	if (res->window_closed)
		return lifecycle_outside_window(ec);
	runs_end(ec->idx, ec->run_id, "finished", NULL);
	return res->failed || res->outages || more_failed ? SA_EXIT_PARTIAL
							  : SA_EXIT_OK;
}
