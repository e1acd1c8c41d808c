/*
 * Unit tests of tools/engine.c's queue in a shared archive: a course
 * another host has (ENGINE_DEFERRED) comes back after the others, until it
 * ends; one another host ended (ENGINE_ELSEWHERE) is neither done nor
 * failed here; and a course deferred forever keeps the run going, not
 * spinning, until cancelled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

struct script {
	pthread_mutex_t lock;
	int64_t order[64]; /* ids, as they ended for good */
	int n_order;
	int tries[8];      /* run() calls per item */
	int deferrals;     /* item 2 is deferred this many times */
	int64_t elsewhere; /* this item is another host's */
	bool forever;      /* item 2 is deferred until cancelled */
};

static enum engine_outcome run(void *ctx, struct engine_item *it,
			       struct engine_job *job, char *err,
			       size_t errlen)
{
	struct script *s = ctx;
	enum engine_outcome out = ENGINE_DONE;

	(void)job;
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&s->lock);
	s->tries[it->id]++;
	if (it->id == 2 && (s->forever || s->tries[2] <= s->deferrals))
		out = ENGINE_DEFERRED;
	else if (it->id == s->elsewhere)
		out = ENGINE_ELSEWHERE;
	pthread_mutex_unlock(&s->lock);
	return out;
}

static enum engine_outcome done(void *ctx, struct engine_item *it,
				enum engine_outcome outcome, char *err,
				size_t errlen)
{
	struct script *s = ctx;

	(void)err;
	(void)errlen;
	if (outcome != ENGINE_DEFERRED)
		s->order[s->n_order++] = it->id;
	return outcome;
}

static void items_of(struct engine_item *items, char labels[][8], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(labels[i], 8, "C%zu", i);
		items[i] = (struct engine_item){ .id = (int64_t)i,
						 .label = labels[i],
						 .bytes = 10 };
	}
}

static void test_deferred_comes_back_after_the_others(void **state)
{
	struct script s = { .lock = PTHREAD_MUTEX_INITIALIZER,
			    .deferrals = 2, .elsewhere = 4 };
	struct engine_config cfg = { .operation = "archive",
				     .session = "S", .parallel = 1,
				     .quiet = true };
	struct engine_ops ops = { .run = run, .done = done };
	struct engine_item items[6];
	char labels[6][8];
	struct engine_result res;
	time_t start = time(NULL);

	(void)state;
	items_of(items, labels, 6);
	assert_int_equal(engine_run(&cfg, items, 6, &ops, &s, &res), 0);
	assert_int_equal(res.done, 5);
	assert_int_equal(res.elsewhere, 1);
	assert_int_equal(res.failed, 0);
	assert_int_equal(res.not_started, 0);
	assert_int_equal(s.tries[2], 3);
	/* every other course first, then 2 */
	assert_int_equal(s.n_order, 6);
	assert_int_equal(s.order[5], 2);
	/* the second look waits for the next second, not a busy loop */
	assert_true(time(NULL) - start >= 1);
}

static void *cancel_later(void *arg)
{
	(void)arg;
	sleep(2);
	kill(getpid(), SIGTERM);
	return NULL;
}

static void test_deferred_forever_until_cancelled(void **state)
{
	struct script s = { .lock = PTHREAD_MUTEX_INITIALIZER,
			    .forever = true, .elsewhere = -1 };
	struct engine_config cfg = { .operation = "archive",
				     .session = "S", .parallel = 2,
				     .quiet = true };
	struct engine_ops ops = { .run = run, .done = done };
	struct engine_item items[4];
	char labels[4][8];
	struct engine_result res;
	pthread_t t;

	(void)state;
	items_of(items, labels, 4);
	pthread_create(&t, NULL, cancel_later, NULL);
	assert_int_equal(engine_run(&cfg, items, 4, &ops, &s, &res), 0);
	pthread_join(t, NULL);
	assert_true(res.cancelled);
	assert_int_equal(res.done, 3);
	assert_int_equal(res.not_started, 1);
	/* about once a second, over two seconds */
	assert_in_range(s.tries[2], 2, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deferred_comes_back_after_the_others),
		cmocka_unit_test(test_deferred_forever_until_cancelled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
