/*
 * pool: the bridge workers of one run (see moodle.h). The worker command
 * line is built once, on the thread that owns the moodle handle, so that
 * job threads start workers without touching it.
 */
#include "moodle.h"

#include <pthread.h>
#include <stdlib.h>

#include "xalloc.h"

struct bridge_pool {
	struct bridge_pool_opts opts;
	char **argv;
	pthread_mutex_t lock;   /* guards idle and stats */
	struct bridge_worker **idle;
	size_t n_idle;
	struct bridge_pool_stats stats;
};

struct bridge_pool *bridge_pool_new(struct moodle *m,
				    const struct bridge_pool_opts *o)
{
	struct bridge_pool *p;
	char **argv = bridge_argv(m, &o->bo, "worker", NULL);

	if (!argv)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->opts = *o;
	p->argv = argv;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

static struct bridge_worker *take(struct bridge_pool *p, char *err,
				  size_t errlen)
{
	struct bridge_worker *w = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->n_idle)
		w = p->idle[--p->n_idle];
	pthread_mutex_unlock(&p->lock);
	if (w)
		return w;
	w = bridge_worker_spawn(p->argv, err, errlen);
	if (w) {
		pthread_mutex_lock(&p->lock);
		p->stats.started++;
		pthread_mutex_unlock(&p->lock);
	}
	return w;
}

static bool worn_out(const struct bridge_pool *p, const struct bridge_worker *w)
{
	return (p->opts.max_requests &&
		bridge_worker_requests(w) >= p->opts.max_requests) ||
	       (p->opts.max_memory &&
		bridge_worker_peak_memory(w) > p->opts.max_memory);
}

/* Back to the pool, or ended: dead, or due for recycling. */
static void give(struct bridge_pool *p, struct bridge_worker *w, bool dead)
{
	bool retire = dead || worn_out(p, w);

	pthread_mutex_lock(&p->lock);
	if (bridge_worker_peak_memory(w) > p->stats.peak_memory)
		p->stats.peak_memory = bridge_worker_peak_memory(w);
	if (dead)
		p->stats.lost++;
	else if (retire)
		p->stats.recycled++;
	if (!retire) {
		p->idle = xrealloc(p->idle, (p->n_idle + 1) * sizeof(*p->idle));
		p->idle[p->n_idle++] = w;
	}
	pthread_mutex_unlock(&p->lock);
	if (retire)
		bridge_worker_end(w);
}

json_t *bridge_pool_ask(struct bridge_pool *p, json_t *request,
			struct bridge_call *call, char *err, size_t errlen)
{
	struct bridge_worker *w = take(p, err, errlen);
	json_t *answer;
	bool dead;

	call->output = NULL;
	call->not_started = !w;
	if (!w) {
		json_decref(request);
		return NULL;
	}
	if (call->running_pid)
		atomic_store(call->running_pid, bridge_worker_pid(w));
	answer = bridge_worker_call(w, request, call->timeout_s, &dead, err,
				    errlen);
	if (call->running_pid)
		atomic_store(call->running_pid, 0);
	json_decref(request);
	if (call->want_output)
		call->output = xstrdup(bridge_worker_output(w));
	give(p, w, dead);
	return answer;
}

void bridge_pool_stats(struct bridge_pool *p, struct bridge_pool_stats *st)
{
	pthread_mutex_lock(&p->lock);
	*st = p->stats;
	pthread_mutex_unlock(&p->lock);
}

void bridge_pool_free(struct bridge_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_idle; i++)
		bridge_worker_end(p->idle[i]);
	free(p->idle);
	moodle_argv_free(p->argv);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
