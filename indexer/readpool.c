/*
 * A fixed set of reader threads taking paths from a shared counter, each
 * result published with its own flag; the caller consumes in order and
 * sleeps on one condition variable while the next result is not ready.
 */
#include "readpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "xalloc.h"

#define MAX_THREADS 64

struct slot {
	struct mbz_info info;
	char err[256];
	int rc;
	atomic_bool done;
};

struct pool {
	char *const *paths;
	enum mbz_mode mode;
	struct slot *slots;
	size_t n;
	atomic_size_t next;
	atomic_bool stop;
	pthread_mutex_t lock; /* pairs with cond; guards no data */
	pthread_cond_t cond;  /* a slot became done */
};

static void *reader_main(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while (!atomic_load(&p->stop) &&
	       (i = atomic_fetch_add(&p->next, 1)) < p->n) {
		struct slot *s = &p->slots[i];

		s->rc = mbz_read_path(p->paths[i], p->mode, &s->info, s->err,
				      sizeof(s->err));
		pthread_mutex_lock(&p->lock);
		atomic_store(&s->done, true);
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

int readpool_run(char *const *paths, size_t n, enum mbz_mode mode,
		 int threads, readpool_fn fn, void *ctx)
{
	struct pool p = { .paths = paths, .mode = mode, .n = n };
	pthread_t tids[MAX_THREADS];
	int started = 0, rc = 0;

	if (n == 0)
		return 0;
	if (threads <= 0)
		threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	p.slots = xcalloc(n, sizeof(*p.slots));
	for (size_t i = 0; i < n; i++)
		mbz_info_init(&p.slots[i].info);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	for (int t = 0; t < threads && (size_t)t < n; t++) {
		if (pthread_create(&tids[t], NULL, reader_main, &p) != 0)
			break;
		started++;
	}
	if (started == 0)
		reader_main(&p); /* no thread could start: read here */
	for (size_t i = 0; i < n; i++) {
		struct slot *s = &p.slots[i];

		if (rc == 0) {
			pthread_mutex_lock(&p.lock);
			while (!atomic_load(&s->done))
				pthread_cond_wait(&p.cond, &p.lock);
			pthread_mutex_unlock(&p.lock);
			rc = fn(ctx, i, s->rc, &s->info, s->err);
			/* the slot is ours now: free its strings early */
			mbz_info_release(&s->info);
			if (rc)
				atomic_store(&p.stop, true);
		}
	}
	for (int t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	/* mbz_info_release() leaves a released info empty: safe twice */
	for (size_t i = 0; i < n; i++)
		mbz_info_release(&p.slots[i].info);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	free(p.slots);
	return rc;
}
