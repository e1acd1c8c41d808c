#include "runner.h"

#include "config.h"
#include "log.h"

int runner_pool(const struct config *cfg, struct moodle *m,
		const struct bridge_opts *bo, bool always,
		struct bridge_pool **pool)
{
	struct bridge_pool_opts o = {
		.bo = *bo,
		.max_requests = cfg->jobs.worker_courses,
		.max_memory = (uint64_t)cfg->jobs.worker_memory << 20,
	};

	*pool = NULL;
	if (!always && cfg->jobs.runner == CONFIG_RUNNER_CLI)
		return 0;
	if (!(*pool = bridge_pool_new(m, &o)))
		return log_err("cannot run the bridge: %s", moodle_error(m));
	return 0;
}

void runner_pool_end(struct bridge_pool *pool, const char *operation,
		     const char *session)
{
	struct bridge_pool_stats st;

	if (!pool)
		return;
	bridge_pool_stats(pool, &st);
	if (st.started)
		log_info("%s of %s: %u bridge worker(s) started, %u recycled, "
			 "%u lost (died or timed out); peak PHP memory %llu "
			 "MiB",
			 operation, session, st.started, st.recycled, st.lost,
			 (unsigned long long)(st.peak_memory >> 20));
	bridge_pool_free(pool);
}
