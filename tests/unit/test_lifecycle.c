/*
 * Unit tests of tools/lifecycle.c on a real index: a run begins unless
 * another holds the session, and each way it ends leaves its row in the
 * state `status` shows, with the exit code cron sees; a run is closed
 * once. A --no-wait run outside the window (purge's as much as archive's)
 * is waiting-window, never finished.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "exitcode.h"
#include "idx_sql.h"
#include "lifecycle.h"
#include "runs.h"

struct world {
	struct idx *idx;
	int64_t session_id;
	struct engine_config ec;
};

static int setup(void **state)
{
	static struct world w;
	char err[512];

	memset(&w, 0, sizeof(w));
	w.idx = idx_open(":memory:", 0, err, sizeof(err));
	if (!w.idx)
		return -1;
	w.session_id = idx_session_ensure(w.idx, "2025-2026");
	w.ec = (struct engine_config){ .operation = "purge",
				       .session = "2025-2026",
				       .parallel = 1,
				       .quiet = true,
				       .idx = w.idx };
	*state = &w;
	return w.session_id > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct world *w = *state;

	idx_free(w->idx);
	return 0;
}

/* The run's row: its state and last error, "" for NULL. */
static void row_of(struct world *w, int64_t run_id, char *state,
		   char *last_error)
{
	sqlite3_stmt *st = idx_stmt(w->idx, "SELECT state, last_error FROM "
					     "runs WHERE id = ?1");

	assert_non_null(st);
	sqlite3_bind_int64(st, 1, run_id);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	strcpy(state, (const char *)sqlite3_column_text(st, 0));
	strcpy(last_error, sqlite3_column_text(st, 1)
				   ? (const char *)sqlite3_column_text(st, 1)
				   : "");
	sqlite3_reset(st);
}

static void begin(struct world *w)
{
	char state[64], last_error[1024];

	assert_int_equal(lifecycle_begin(&w->ec, w->session_id, "purge"),
			 SA_EXIT_OK);
	assert_true(w->ec.run_id > 0);
	row_of(w, w->ec.run_id, state, last_error);
	assert_string_equal(state, "running");
}

static void assert_row(struct world *w, const char *state,
		       const char *last_error)
{
	char s[64], e[1024];

	row_of(w, w->ec.run_id, s, e);
	assert_string_equal(s, state);
	assert_string_equal(e, last_error);
}

static void test_busy_session_refuses_a_second_run(void **state)
{
	struct world *w = *state;
	struct run_info busy;
	/* a live process on this host that is not us: our parent */
	int64_t other = runs_begin(w->idx, w->session_id, "archive",
				   getppid(), NULL, &busy);

	assert_true(other > 0);
	assert_int_equal(lifecycle_begin(&w->ec, w->session_id, "purge"),
			 SA_EXIT_BUSY);
	assert_int_equal(w->ec.run_id, 0);
	runs_end(w->idx, other, "finished", NULL);
	begin(w);
	assert_int_equal(lifecycle_idle(&w->ec, false), SA_EXIT_OK);
}

static void test_fail(void **state)
{
	struct world *w = *state;

	begin(w);
	assert_int_equal(lifecycle_fail(&w->ec, "cannot make the category "
						"tree"),
			 SA_EXIT_FAILURE);
	assert_row(w, "failed", "cannot make the category tree");
}

static void test_idle(void **state)
{
	struct world *w = *state;

	begin(w);
	assert_int_equal(lifecycle_idle(&w->ec, false), SA_EXIT_OK);
	assert_row(w, "finished", "");
	begin(w);
	assert_int_equal(lifecycle_idle(&w->ec, true), SA_EXIT_PARTIAL);
	assert_row(w, "finished", "");
}

static void test_outside_window(void **state)
{
	struct world *w = *state;

	begin(w);
	assert_int_equal(lifecycle_outside_window(&w->ec), SA_EXIT_WINDOW);
	assert_row(w, "waiting-window", "outside the hour window (--no-wait)");
}

static void test_end_states(void **state)
{
	struct world *w = *state;
	static const struct {
		struct engine_result res;
		bool more_failed;
		const char *state, *last_error;
		int code;
	} cases[] = {
		{ { .done = 3 }, false, "finished", "", SA_EXIT_OK },
		{ { .done = 2, .failed = 1 }, false, "finished", "",
		  SA_EXIT_PARTIAL },
		{ { .done = 2, .outages = 1 }, false, "finished", "",
		  SA_EXIT_PARTIAL },
		{ { .done = 3 }, true, "finished", "", SA_EXIT_PARTIAL },
		{ { .done = 1, .cancelled = true }, false, "cancelled",
		  "cancelled", SA_EXIT_FAILURE },
		{ { .stopped_by = ENGINE_PLATFORM_DOWN,
		    .stop_reason = "source platform down" },
		  false, "failed", "source platform down",
		  SA_EXIT_UNREACHABLE },
		{ { .stopped_by = ENGINE_STORE_DOWN,
		    .stop_reason = "store full" },
		  false, "failed", "store full", SA_EXIT_STORE_FULL },
		{ { .done = 1, .window_closed = true }, false,
		  "waiting-window", "outside the hour window (--no-wait)",
		  SA_EXIT_WINDOW },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		begin(w);
		assert_int_equal(lifecycle_end(&w->ec, &cases[i].res,
					       cases[i].more_failed),
				 cases[i].code);
		assert_row(w, cases[i].state, cases[i].last_error);
	}
}

static void test_closed_once(void **state)
{
	struct world *w = *state;
	struct engine_result res = { .cancelled = true };

	begin(w);
	assert_int_equal(lifecycle_end(&w->ec, &res, false), SA_EXIT_FAILURE);
	lifecycle_fail(&w->ec, "too late");
	assert_row(w, "cancelled", "cancelled");
}

static enum engine_outcome never_run(void *ctx, struct engine_item *it,
				     struct engine_job *job, char *err,
				     size_t errlen)
{
	(void)ctx, (void)it, (void)job, (void)err, (void)errlen;
	fail_msg("a course ran outside the window");
	return ENGINE_FAILED;
}

/* What purge --no-wait does when the window is shut: waiting-window. */
static void test_no_wait_run_outside_the_window(void **state)
{
	struct world *w = *state;
	struct config_window shut = { .start_min = 0, .end_min = 60,
				      .days_mask = 0 };
	struct engine_ops ops = { .run = never_run };
	struct engine_item items[2] = { { .id = 1, .label = "c1" },
					{ .id = 2, .label = "c2" } };
	struct engine_result res;

	w->ec.window = &shut;
	w->ec.no_wait = true;
	begin(w);
	assert_int_equal(engine_run(&w->ec, items, 2, &ops, NULL, &res), 0);
	assert_true(res.window_closed);
	assert_int_equal(res.not_started, 2);
	assert_int_equal(lifecycle_end(&w->ec, &res, false), SA_EXIT_WINDOW);
	assert_row(w, "waiting-window", "outside the hour window (--no-wait)");
	w->ec.window = NULL;
	w->ec.no_wait = false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_session_refuses_a_second_run),
		cmocka_unit_test(test_fail),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_outside_window),
		cmocka_unit_test(test_end_states),
		cmocka_unit_test(test_closed_once),
		cmocka_unit_test(test_no_wait_run_outside_the_window),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
