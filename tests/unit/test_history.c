/*
 * Unit tests of indexer/history.c: events written into an index on
 * :memory: as the scan writes them (one row per journal line, the source
 * naming its file), folded into each course's story: every order of a
 * course's events, both journals of one site, duplicated lines, events of
 * no course or of a course no manifest names, lookups by source and by
 * archive id over 10,000 courses, the purge gate's verify rule (ties of
 * one second read the safe way), and one course's events alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "gate.h"
#include "history.h"
#include "idx_sql.h"

#define SITE "0123456789abcdef0123456789abcdef"

struct fixture {
	struct idx *idx;
	int64_t session;
	long line;
	int64_t time;
};

static int setup(void **state)
{
	static struct fixture f;
	char err[256];

	memset(&f, 0, sizeof(f));
	f.idx = idx_open(":memory:", 0, err, sizeof(err));
	if (!f.idx)
		return -1;
	f.session = idx_session_ensure(f.idx, "2025-2026");
	f.time = 1700000000;
	*state = &f;
	return f.session > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	idx_free(f->idx);
	return 0;
}

/*
 * Line line_no of source (its file), at time; json is the rest of the
 * object after "event".
 */
static void line_at(struct fixture *f, const char *source, long line_no,
		    int64_t time, const char *event, int64_t course,
		    const char *json)
{
	sqlite3_stmt *st = idx_stmt(
		f->idx, "INSERT INTO events(session_id, source, line, time,"
			" event, site, source_course_id, data)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	char data[512];

	assert_non_null(st);
	snprintf(data, sizeof(data), "{\"event\": \"%s\"%s%s}", event,
		 json[0] ? ", " : "", json);
	sqlite3_bind_int64(st, 1, f->session);
	sqlite3_bind_text(st, 2, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, line_no);
	sqlite3_bind_int64(st, 4, time);
	sqlite3_bind_text(st, 5, event, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, SITE, -1, SQLITE_STATIC);
	if (course)
		sqlite3_bind_int64(st, 7, course);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_text(st, 8, data, -1, SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* The next line of source, a second later than the last. */
static void line(struct fixture *f, const char *source, const char *event,
		 int64_t course, const char *json)
{
	line_at(f, source, ++f->line, ++f->time, event, course, json);
}

#define SRC "journal-" SITE ".jsonl"
#define ARC "journal-" SITE "-archive.jsonl"

static void test_restore_orders(void **state)
{
	struct fixture *f = *state;
	const struct course_history *c;
	struct history h;

	/* failed, then restored */
	line(f, ARC, "restore_started", 1, "\"after_course_id\": 40");
	line(f, ARC, "restore_failed", 1, "\"error\": \"no space\"");
	line(f, ARC, "restore_started", 1, "\"after_course_id\": 41");
	line(f, ARC, "restore", 1,
	     "\"archive_course_id\": 50, \"category_id\": 7,"
	     " \"cleaned_fullname\": \"A\", \"original_fullname\": \"<b>A\"");
	/* restored, then a failed --retry of it, then started and killed */
	line(f, ARC, "restore", 2, "\"archive_course_id\": 51,"
	     " \"category_id\": 8, \"hook_error\": \"exit 1\"");
	line(f, ARC, "restore_failed", 2, "");
	line(f, ARC, "restore_started", 3, "\"after_course_id\": 52");
	/* a hook rerun that worked */
	line(f, ARC, "restore", 4, "\"archive_course_id\": 53,"
	     " \"hook_error\": \"timeout\"");
	line(f, ARC, "hook_rerun", 4, "");
	assert_int_equal(history_load(f->idx, f->session, &h), 0);
	assert_int_equal(h.n, 4);

	c = history_find(&h, 1);
	assert_true(c->restored && !c->restore_failed && !c->restore_started);
	assert_int_equal(c->archive_id, 50);
	assert_int_equal(c->category_id, 7);
	assert_null(c->error);
	assert_string_equal(c->cleaned_fullname, "A");
	assert_string_equal(c->original_fullname, "<b>A");
	assert_null(c->cleaned_shortname);
	assert_string_equal(c->restore_site, SITE);

	c = history_find(&h, 2);
	assert_true(c->restored && c->restore_failed && c->hook_failed);
	assert_int_equal(c->archive_id, 51);
	assert_string_equal(c->error, "restore_failed");

	c = history_find(&h, 3);
	assert_true(c->restore_started && !c->restored);
	assert_int_equal(c->after_id, 52);

	c = history_find(&h, 4);
	assert_true(c->restored && !c->hook_failed);
	assert_int_equal(h.latest_category, 8);
	assert_null(history_find(&h, 5));
	history_release(&h);
}

static void test_backup_orders_and_verify(void **state)
{
	struct fixture *f = *state;
	const struct course_history *c;
	struct history h;

	line(f, SRC, "backup_failed", 1, "\"error\": \"backup.php exit 1\"");
	line(f, SRC, "backup", 1, "");
	line(f, SRC, "backup", 2, "");
	line(f, SRC, "backup_failed", 2, "");
	line(f, "manifest.jsonl", "archive_complete", 0, "");
	line(f, ARC, "verify", 1, "\"result\": \"mismatch\"");
	line(f, ARC, "verify", 1, "\"result\": \"ok\"");
	line(f, ARC, "verify", 2, "\"result\": \"ok\"");
	line(f, ARC, "verify", 2, "\"result\": \"missing\"");
	assert_int_equal(history_load(f->idx, f->session, &h), 0);
	assert_true(h.archive_complete);
	c = history_find(&h, 1);
	assert_true(c->backed_up && !c->backup_failed);
	assert_null(c->error);
	assert_string_equal(c->verify_result, "ok");
	c = history_find(&h, 2);
	assert_true(c->backed_up && c->backup_failed);
	assert_string_equal(c->error, "backup_failed");
	assert_string_equal(c->verify_result, "missing");
	history_release(&h);
}

/* Both journals of one site: each side's purge counts on its side only. */
static void test_both_journals_and_purges(void **state)
{
	struct fixture *f = *state;
	const struct course_history *c;
	struct history h;

	line(f, SRC, "backup", 1, "");
	line(f, ARC, "restore", 1, "\"archive_course_id\": 60");
	line(f, SRC, "purge", 1, "\"side\": \"source\", \"dry_run\": true");
	line(f, SRC, "backup", 2, "");
	line(f, ARC, "restore", 2, "\"archive_course_id\": 61");
	line(f, SRC, "purge", 2, "\"side\": \"source\", \"dry_run\": false");
	line(f, ARC, "purge", 1, "\"side\": \"archive\"");
	assert_int_equal(history_load(f->idx, f->session, &h), 0);
	c = history_find(&h, 1);
	assert_false(c->purged_source);
	assert_true(c->purged_archive);
	c = history_find(&h, 2);
	assert_true(c->purged_source);
	assert_false(c->purged_archive);
	assert_int_equal(history_find_copy(&h, 61)->source_id, 2);
	history_release(&h);
}

/* The same line in two host journals; a course restored again. */
static void test_duplicates_and_restored_again(void **state)
{
	struct fixture *f = *state;
	struct history h;

	line(f, "journal-" SITE "@a.jsonl", "backup", 1, "");
	line(f, "journal-" SITE "@b.jsonl", "backup", 1, "");
	line(f, ARC, "restore", 1, "\"archive_course_id\": 70");
	line(f, ARC, "restore", 1, "\"archive_course_id\": 70");
	line(f, ARC, "restore", 2, "\"archive_course_id\": 71");
	line(f, ARC, "restore", 2, "\"archive_course_id\": 72");
	/* a course of no manifest: the story is kept, the caller judges */
	line(f, ARC, "restore", 999, "\"archive_course_id\": 73");
	assert_int_equal(history_load(f->idx, f->session, &h), 0);
	assert_int_equal(h.n, 3);
	assert_int_equal(history_find(&h, 1)->archive_id, 70);
	assert_int_equal(history_find_copy(&h, 70)->source_id, 1);
	/* only the latest copy is the course's */
	assert_null(history_find_copy(&h, 71));
	assert_int_equal(history_find_copy(&h, 72)->source_id, 2);
	assert_int_equal(history_find_copy(&h, 73)->source_id, 999);
	assert_null(history_find_copy(&h, 0));
	history_release(&h);
}

static void test_empty(void **state)
{
	struct fixture *f = *state;
	struct history h;

	assert_int_equal(history_load(f->idx, f->session, &h), 0);
	assert_int_equal(h.n, 0);
	assert_false(h.archive_complete);
	assert_null(history_find(&h, 1));
	assert_null(history_find_copy(&h, 1));
	history_release(&h);
}

static void test_ten_thousand(void **state)
{
	struct fixture *f = *state;
	struct history h;
	char json[64];

	assert_int_equal(idx_begin(f->idx), 0);
	for (int64_t id = 1; id <= 10000; id++) {
		line(f, SRC, "backup", id * 7, "");
		snprintf(json, sizeof(json), "\"archive_course_id\": %lld",
			 (long long)(100000 + id * 3));
		line(f, ARC, "restore", id * 7, json);
	}
	assert_int_equal(idx_commit(f->idx), 0);
	assert_int_equal(history_load(f->idx, f->session, &h), 0);
	assert_int_equal(h.n, 10000);
	for (int64_t id = 1; id <= 10000; id++) {
		const struct course_history *c = history_find(&h, id * 7);

		assert_non_null(c);
		assert_int_equal(c->archive_id, 100000 + id * 3);
		assert_ptr_equal(history_find_copy(&h, 100000 + id * 3), c);
		assert_null(history_find(&h, id * 7 + 1));
	}
	history_release(&h);
}

/* What the purge gate sees: gate_purge_folded over h, "" when allowed. */
static const char *gate_says(struct fixture *f, char *why, size_t len)
{
	struct history h;
	int rc;

	assert_int_equal(history_load(f->idx, f->session, &h), 0);
	why[0] = '\0';
	rc = gate_purge_folded(&h, "source", "confirm", why, len);
	assert_int_equal(rc, why[0] ? 1 : 0);
	/* previews, dry runs and the archive side are never gated */
	assert_int_equal(gate_purge_folded(&h, "source", "dry-run", why, 0),
			 0);
	assert_int_equal(gate_purge_folded(&h, "archive", "confirm", why, 0),
			 0);
	history_release(&h);
	return why;
}

static void test_gate_verify_then_restore(void **state)
{
	struct fixture *f = *state;
	char why[256];

	assert_non_null(strstr(gate_says(f, why, sizeof(why)),
			       "never verified"));
	line(f, ARC, "restore", 1, "\"archive_course_id\": 50");
	line(f, ARC, "verify_report", 0, "\"passed\": false");
	assert_non_null(strstr(gate_says(f, why, sizeof(why)),
			       "latest verify of the session failed"));
	line(f, ARC, "verify_report", 0, "\"passed\": true");
	assert_string_equal(gate_says(f, why, sizeof(why)), "");
	/* a --partial restore of more courses after it */
	line(f, ARC, "restore", 2, "\"archive_course_id\": 51");
	assert_non_null(strstr(gate_says(f, why, sizeof(why)),
			       "restored after the latest verify"));
	line(f, SRC, "verify_report", 0, "\"passed\": true");
	assert_string_equal(gate_says(f, why, sizeof(why)), "");
}

/* Journal times are seconds: ties are read the safe way. */
static void test_gate_same_second(void **state)
{
	struct fixture *f = *state;
	char why[256];

	line_at(f, ARC, 1, 100, "restore", 1, "");
	line_at(f, ARC, 2, 100, "verify_report", 0, "\"passed\": true");
	/* the same journal has the restore first */
	assert_string_equal(gate_says(f, why, sizeof(why)), "");
	/* another journal, the same second: it may be newer */
	line_at(f, SRC, 1, 100, "restore", 2, "");
	assert_non_null(strstr(gate_says(f, why, sizeof(why)),
			       "restored after"));
	/* a later report in that second, then one on a later line */
	line_at(f, SRC, 2, 100, "verify_report", 0, "\"passed\": true");
	assert_non_null(strstr(gate_says(f, why, sizeof(why)),
			       "restored after"));
	line_at(f, ARC, 3, 101, "verify_report", 0, "\"passed\": false");
	line_at(f, ARC, 4, 101, "verify_report", 0, "\"passed\": true");
	assert_string_equal(gate_says(f, why, sizeof(why)), "");
	/* the report on the later line of a second is the latest */
	line_at(f, ARC, 6, 102, "verify_report", 0, "\"passed\": false");
	line_at(f, ARC, 5, 102, "verify_report", 0, "\"passed\": true");
	assert_non_null(strstr(gate_says(f, why, sizeof(why)),
			       "latest verify of the session failed"));
	/* the same journal, a restore on a later line than the report */
	line_at(f, ARC, 7, 103, "verify_report", 0, "\"passed\": true");
	assert_string_equal(gate_says(f, why, sizeof(why)), "");
	line_at(f, ARC, 8, 103, "restore", 3, "");
	assert_non_null(strstr(gate_says(f, why, sizeof(why)),
			       "restored after"));
}

/* One course's events alone, as the scan derives it after each course. */
static void test_one_course(void **state)
{
	struct fixture *f = *state;
	const struct course_history *c;
	struct history h;

	line(f, SRC, "backup", 1, "");
	line(f, SRC, "backup", 2, "");
	line(f, ARC, "restore", 2, "\"archive_course_id\": 60,"
	     " \"hook_error\": \"exit 3\"");
	line(f, ARC, "verify_report", 0, "\"passed\": true");
	assert_int_equal(history_load_course(f->idx, f->session, 2, &h), 0);
	assert_int_equal(h.n, 1);
	assert_null(history_find(&h, 1));
	c = history_find(&h, 2);
	assert_non_null(c);
	assert_true(c->backed_up && c->restored && c->hook_failed);
	assert_string_equal(c->hook_error, "exit 3");
	assert_ptr_equal(history_find_copy(&h, 60), c);
	assert_false(h.verify.seen);
	history_release(&h);
	assert_int_equal(history_load_course(f->idx, f->session, 9, &h), 0);
	assert_int_equal(h.n, 0);
	history_release(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restore_orders, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_backup_orders_and_verify,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_both_journals_and_purges,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_duplicates_and_restored_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ten_thousand, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gate_verify_then_restore,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_gate_same_second, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_course, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
