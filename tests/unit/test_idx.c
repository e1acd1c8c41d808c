/*
 * Unit tests of indexer/idx.c: creating the schema, migrating old files
 * (empty, or holding unrelated tables), refusing newer and malformed
 * versions without touching the file, IDX_READONLY, a failed step rolled
 * back whole, the session, category and statement helpers, and what
 * idx_probe() tells doctor of each kind of file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idx_sql.h"
#include "strbuf.h"

#define ERRLEN 512

static char *tmp_path(const char *name)
{
	char tmpl[] = "/tmp/sa-test-idx-XXXXXX";
	char *dir = mkdtemp(tmpl), *path;

	assert_non_null(dir);
	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	return path;
}

static void rm_tmp(char *path)
{
	char *slash = strrchr(path, '/'), *p;

	for (const char *sfx = ""; sfx; sfx = !*sfx ? "-wal"
					   : !strcmp(sfx, "-wal") ? "-shm"
								  : NULL) {
		assert_true(asprintf(&p, "%s%s", path, sfx) > 0);
		unlink(p);
		free(p);
	}
	*slash = '\0';
	assert_int_equal(rmdir(path), 0);
	free(path);
}

/* Makes a plain SQLite file: sql, then PRAGMA user_version = version. */
static void make_db(const char *path, const char *sql, int version)
{
	char pragma[64];
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sql)
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL),
				 SQLITE_OK);
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version);
	assert_int_equal(sqlite3_exec(db, pragma, NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void slurp(const char *path, struct strbuf *out)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	sb_init(out, 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		assert_int_equal(sb_add(out, buf, (size_t)n), 0);
	close(fd);
}

static int64_t query_int(struct idx *idx, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(idx_db(idx), sql, -1, &st, NULL),
			 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static bool has_table(struct idx *idx, const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
		 "AND name = '%s'",
		 name);
	return query_int(idx, sql) == 1;
}

static void test_fresh_index(void **state)
{
	char err[ERRLEN];
	struct idx *idx = idx_open(":memory:", 0, err, sizeof(err));

	(void)state;
	assert_non_null(idx);
	assert_int_equal(idx_schema_found(idx), 0);
	assert_int_equal(query_int(idx, "PRAGMA user_version"),
			 IDX_SCHEMA_VERSION);
	for (const char *const *t =
		     (const char *const[]){ "meta", "sessions", "categories",
					    "courses", "runs", "events",
					    "feeds", NULL };
	     *t; t++)
		assert_true(has_table(idx, *t));
	assert_int_equal(query_int(idx, "PRAGMA foreign_keys"), 1);
	idx_free(idx);
	idx_free(NULL);
}

static void test_empty_file_migrates(void **state)
{
	char *path = tmp_path("index.db"), err[ERRLEN];
	struct idx *idx;
	int fd;

	(void)state;
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	idx = idx_open(path, 0, err, sizeof(err));
	assert_non_null(idx);
	assert_int_equal(idx_schema_found(idx), 0);
	assert_true(has_table(idx, "courses"));
	idx_free(idx);
	/* the second open finds it current and migrates nothing */
	idx = idx_open(path, 0, err, sizeof(err));
	assert_non_null(idx);
	assert_int_equal(idx_schema_found(idx), IDX_SCHEMA_VERSION);
	idx_free(idx);
	rm_tmp(path);
}

/* A version 1 index, as shipped, with a session in it: step 2 marks it. */
static void test_version_1_migrates_to_2(void **state)
{
	char *path = tmp_path("v1.db"), err[ERRLEN];
	struct idx *idx;

	(void)state;
	idx = idx_open(path, 0, err, sizeof(err));
	assert_non_null(idx);
	assert_true(idx_session_ensure(idx, "s1") > 0);
	assert_int_equal(idx_exec(idx, "UPDATE sessions SET states_stale = 0"),
			 0);
	idx_free(idx);
	make_db(path,
		"ALTER TABLE sessions DROP COLUMN states_stale;"
		"ALTER TABLE courses DROP COLUMN manifest_feed;"
		"ALTER TABLE courses DROP COLUMN manifest_time;"
		"INSERT INTO sessions(name) VALUES ('s2')",
		1);
	idx = idx_open(path, 0, err, sizeof(err));
	assert_non_null(idx);
	assert_int_equal(idx_schema_found(idx), 1);
	assert_int_equal(query_int(idx, "PRAGMA user_version"),
			 IDX_SCHEMA_VERSION);
	assert_int_equal(query_int(idx, "SELECT count(*) FROM sessions"
					" WHERE states_stale = 1"),
			 2);
	idx_free(idx);
	rm_tmp(path);
}

/*
 * A version 2 index: step 3 says which manifest each course's entry came
 * from (there was only manifest.jsonl then).
 */
static void test_version_2_migrates_to_3(void **state)
{
	char *path = tmp_path("v2.db"), err[ERRLEN];
	struct idx *idx;
	int64_t sid;

	(void)state;
	idx = idx_open(path, 0, err, sizeof(err));
	assert_non_null(idx);
	sid = idx_session_ensure(idx, "s1");
	assert_true(sid > 0);
	assert_int_equal(
		idx_exec(idx, "INSERT INTO courses(session_id, name, file,"
			      " in_manifest) VALUES (1, 'A.mbz', 'A.mbz', 1),"
			      " (1, 'B.mbz', 'B.mbz', 0)"),
		0);
	idx_free(idx);
	make_db(path,
		"ALTER TABLE courses DROP COLUMN manifest_feed;"
		"ALTER TABLE courses DROP COLUMN manifest_time;",
		2);
	idx = idx_open(path, 0, err, sizeof(err));
	assert_non_null(idx);
	assert_int_equal(idx_schema_found(idx), 2);
	assert_int_equal(query_int(idx, "PRAGMA user_version"),
			 IDX_SCHEMA_VERSION);
	assert_int_equal(query_int(idx, "SELECT count(*) FROM courses WHERE"
					" manifest_feed = 'manifest.jsonl'"),
			 1);
	assert_int_equal(query_int(idx, "SELECT count(*) FROM courses WHERE"
					" manifest_feed IS NULL AND NOT"
					" in_manifest"),
			 1);
	idx_free(idx);
	rm_tmp(path);
}

static void test_old_schema_with_other_table_migrates(void **state)
{
	char *path = tmp_path("old.db"), err[ERRLEN];
	struct idx *idx;

	(void)state;
	make_db(path,
		"CREATE TABLE notes(text); INSERT INTO notes VALUES ('a');",
		0);
	idx = idx_open(path, 0, err, sizeof(err));
	assert_non_null(idx);
	assert_int_equal(idx_schema_found(idx), 0);
	assert_int_equal(query_int(idx, "PRAGMA user_version"),
			 IDX_SCHEMA_VERSION);
	assert_true(has_table(idx, "courses"));
	assert_int_equal(query_int(idx, "SELECT count(*) FROM notes"), 1);
	idx_free(idx);
	rm_tmp(path);
}

static void test_newer_schema_refused_untouched(void **state)
{
	char *path = tmp_path("newer.db"), err[ERRLEN];
	struct strbuf before, after;
	struct stat sb;
	char *wal;

	(void)state;
	make_db(path, "CREATE TABLE future(x); INSERT INTO future VALUES (1);",
		99);
	slurp(path, &before);
	for (int flags = 0; flags <= IDX_READONLY; flags += IDX_READONLY) {
		err[0] = '\0';
		assert_null(idx_open(path, flags, err, sizeof(err)));
		assert_non_null(strstr(err, "schema version 99"));
		assert_non_null(strstr(err, "up to 3"));
		assert_non_null(strstr(err, path));
	}
	slurp(path, &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.buf, after.buf, before.len);
	assert_true(asprintf(&wal, "%s-wal", path) > 0);
	assert_int_equal(stat(wal, &sb), -1);
	free(wal);
	sb_release(&before);
	sb_release(&after);
	rm_tmp(path);
}

static void test_negative_schema_refused(void **state)
{
	char *path = tmp_path("neg.db"), err[ERRLEN];
	struct strbuf before, after;

	(void)state;
	make_db(path, "CREATE TABLE x(y);", -1);
	slurp(path, &before);
	err[0] = '\0';
	assert_null(idx_open(path, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version -1"));
	slurp(path, &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.buf, after.buf, before.len);
	sb_release(&before);
	sb_release(&after);
	rm_tmp(path);
}

static void test_failed_step_rolls_back(void **state)
{
	char *path = tmp_path("clash.db"), err[ERRLEN];
	struct idx *idx;

	(void)state;
	/* a table of the same name as ours: step 1 cannot create it */
	make_db(path, "CREATE TABLE sessions(x);", 0);
	err[0] = '\0';
	assert_null(idx_open(path, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "schema step 1 failed"));
	idx = idx_open(path, IDX_READONLY, err, sizeof(err));
	assert_null(idx); /* still version 0 */
	{
		sqlite3 *db;
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(
			sqlite3_prepare_v2(db,
					   "SELECT count(*) FROM sqlite_master"
					   " WHERE name = 'meta'",
					   -1, &st, NULL),
			SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 0);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	rm_tmp(path);
}

static void test_readonly(void **state)
{
	char *path = tmp_path("ro.db"), err[ERRLEN];
	struct strbuf before, after;
	struct stat sb;
	struct idx *idx;

	(void)state;
	/* missing: refused, not created */
	err[0] = '\0';
	assert_null(idx_open(path, IDX_READONLY, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open index"));
	assert_int_equal(stat(path, &sb), -1);

	/* old: refused, not migrated */
	make_db(path, "CREATE TABLE notes(text);", 0);
	slurp(path, &before);
	err[0] = '\0';
	assert_null(idx_open(path, IDX_READONLY, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 0, wanted 3"));
	slurp(path, &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.buf, after.buf, before.len);
	sb_release(&before);
	sb_release(&after);

	/* current: opens, reads, never writes */
	idx = idx_open(path, 0, err, sizeof(err));
	assert_non_null(idx);
	assert_true(idx_session_ensure(idx, "s1") > 0);
	idx_free(idx);
	idx = idx_open(path, IDX_READONLY, err, sizeof(err));
	assert_non_null(idx);
	assert_int_equal(idx_schema_found(idx), IDX_SCHEMA_VERSION);
	assert_true(idx_session_find(idx, "s1") > 0);
	assert_int_equal(idx_exec(idx, "INSERT INTO sessions(name) "
				       "VALUES ('s2')"),
			 -1);
	idx_free(idx);
	rm_tmp(path);
}

static void test_not_a_database(void **state)
{
	char *path = tmp_path("text.db"), err[ERRLEN];
	FILE *f = fopen(path, "w");

	(void)state;
	assert_non_null(f);
	for (int i = 0; i < 100; i++)
		fputs("this is not an SQLite database at all\n", f);
	fclose(f);
	err[0] = '\0';
	assert_null(idx_open(path, 0, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	rm_tmp(path);
}

static void test_sessions_and_categories(void **state)
{
	static const char sql[] = "SELECT count(*) FROM categories";
	char err[ERRLEN];
	struct idx *idx = idx_open(":memory:", 0, err, sizeof(err));
	int64_t s1, s2, c, parent;
	sqlite3_stmt *a, *b;

	(void)state;
	assert_non_null(idx);
	assert_int_equal(idx_session_find(idx, "2025-2026"), 0);
	s1 = idx_session_ensure(idx, "2025-2026");
	assert_true(s1 > 0);
	assert_int_equal(idx_session_ensure(idx, "2025-2026"), s1);
	assert_int_equal(idx_session_find(idx, "2025-2026"), s1);
	s2 = idx_session_ensure(idx, "2026-2027");
	assert_true(s2 > 0 && s2 != s1);

	assert_int_equal(idx_category_ensure(idx, s1, NULL), 0);
	assert_int_equal(idx_category_ensure(idx, s1, ""), 0);
	c = idx_category_ensure(idx, s1, "Sciences/Maths/Algèbre");
	assert_true(c > 0);
	assert_int_equal(idx_category_ensure(idx, s1, "Sciences/Maths/Algèbre"),
			 c);
	assert_int_equal(query_int(idx, sql), 3);
	parent = idx_category_ensure(idx, s1, "Sciences/Maths");
	assert_int_equal(query_int(idx, "SELECT parent_id FROM categories "
					"WHERE path = 'Sciences/Maths/Algèbre'"),
			 parent);
	assert_int_equal(query_int(idx, "SELECT parent_id IS NULL FROM "
					"categories WHERE path = 'Sciences' "
					"AND session_id = 1"),
			 1);
	/* the same path in another session is another category */
	assert_true(idx_category_ensure(idx, s2, "Sciences") !=
		    idx_category_ensure(idx, s1, "Sciences"));

	a = idx_stmt(idx, sql);
	b = idx_stmt(idx, sql);
	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_null(idx_stmt(idx, "SELECT nonsense FROM nowhere"));

	assert_int_equal(idx_begin(idx), 0);
	assert_int_equal(idx_exec(idx, "DELETE FROM sessions"), 0);
	idx_rollback(idx);
	assert_int_equal(idx_session_find(idx, "2025-2026"), s1);
	idx_rollback(idx); /* no transaction: nothing happens */
	idx_free(idx);
}

/* idx_probe() says what doctor shows, and changes no file it looks at. */
static void test_probe(void **state)
{
	char *path = tmp_path("probe.db"), err[ERRLEN], *other;
	struct idx_probe pr;
	struct idx *idx;

	(void)state;
	idx_probe("/nonexistent-sa-folder/index.db", NULL, &pr);
	assert_int_equal(pr.state, IDX_PROBE_NO_FOLDER);
	assert_string_equal(pr.folder, "/nonexistent-sa-folder");
	idx_probe_release(&pr);
	idx_probe(path, NULL, &pr);
	assert_int_equal(pr.state, IDX_PROBE_ABSENT);
	idx_probe_release(&pr);
	assert_int_equal(access(path, F_OK), -1);

	idx = idx_open(path, 0, err, sizeof(err));
	assert_non_null(idx);
	assert_int_equal(idx_exec(idx, "INSERT INTO meta(key, value) VALUES"
				       " ('store_id', 'abc')"),
			 0);
	idx_free(idx);
	idx_probe(path, "abc", &pr);
	assert_int_equal(pr.state, IDX_PROBE_OK);
	assert_int_equal(pr.schema, IDX_SCHEMA_VERSION);
	idx_probe_release(&pr);
	idx_probe(path, "def", &pr);
	assert_int_equal(pr.state, IDX_PROBE_OTHER_STORE);
	assert_string_equal(pr.owner, "abc");
	idx_probe_release(&pr);

	make_db(path, NULL, IDX_SCHEMA_VERSION - 1);
	idx_probe(path, "abc", &pr);
	assert_int_equal(pr.state, IDX_PROBE_OLDER);
	assert_int_equal(pr.schema, IDX_SCHEMA_VERSION - 1);
	idx_probe_release(&pr);
	/* looked at, not migrated */
	assert_int_equal(idx_file_schema_version(path), IDX_SCHEMA_VERSION - 1);

	make_db(path, NULL, IDX_SCHEMA_VERSION + 5);
	idx_probe(path, "abc", &pr);
	assert_int_equal(pr.state, IDX_PROBE_NEWER);
	assert_int_equal(pr.schema, IDX_SCHEMA_VERSION + 5);
	assert_true(pr.error[0] != '\0');
	idx_probe_release(&pr);
	rm_tmp(path);

	other = tmp_path("garbage.db");
	{
		FILE *f = fopen(other, "w");

		assert_non_null(f);
		fputs("not a database, not even close to one, at all\n", f);
		fclose(f);
	}
	idx_probe(other, NULL, &pr);
	assert_int_equal(pr.state, IDX_PROBE_UNREADABLE);
	assert_true(pr.error[0] != '\0');
	idx_probe_release(&pr);
	rm_tmp(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_index),
		cmocka_unit_test(test_empty_file_migrates),
		cmocka_unit_test(test_version_1_migrates_to_2),
		cmocka_unit_test(test_version_2_migrates_to_3),
		cmocka_unit_test(test_old_schema_with_other_table_migrates),
		cmocka_unit_test(test_newer_schema_refused_untouched),
		cmocka_unit_test(test_negative_schema_refused),
		cmocka_unit_test(test_failed_step_rolls_back),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_not_a_database),
		cmocka_unit_test(test_sessions_and_categories),
		cmocka_unit_test(test_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
