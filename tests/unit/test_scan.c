/*
 * Unit tests of indexer/scan.c: a store in a temporary folder with backups
 * written by libarchive, an index on :memory:. New, changed and vanished
 * files, manifest and journal lines, the states derived from them, a
 * manifest replaced by a shorter one, rebuilds, deep folders and an index
 * that belongs to another store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idx_sql.h"
#include "scan.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

#define ERRLEN 512
#define SESS "2025-2026"

struct fixture {
	char dir[64];
	char root[96];
	struct store *st;
	struct idx *idx;
};

static void add(struct archive *a, const char *name, const char *data)
{
	struct archive_entry *e = archive_entry_new();
	size_t len = strlen(data);

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, 1795676950, 0);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (len)
		assert_int_equal(archive_write_data(a, data, len),
				 (la_ssize_t)len);
	archive_entry_free(e);
}

/* A small Moodle backup of course cid at SESS/rel; blob varies content. */
static void write_mbz(struct fixture *f, const char *rel, int cid,
		      const char *blob)
{
	struct archive *a = archive_write_new();
	char *path = xasprintf("%s/%s/%s", f->root, SESS, rel), *xml, *slash;
	char *course;

	for (slash = strchr(path + strlen(f->root) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	xml = xasprintf(
		"<?xml version=\"1.0\"?>\n<moodle_backup><information>"
		"<name>b.mbz</name><moodle_version>2024100706</moodle_version>"
		"<backup_date>1795676950</backup_date>"
		"<original_course_id>%d</original_course_id>"
		"<original_course_shortname>C%d</original_course_shortname>"
		"<original_course_fullname>Course %d</original_course_fullname>"
		"<contents><sections><section/></sections></contents>"
		"</information></moodle_backup>\n",
		cid, cid, cid);
	course = xasprintf("<course id=\"%d\"><shortname>C%d</shortname>"
			   "</course>\n",
			   cid, cid);
	assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_format_ustar(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_bytes_in_last_block(a, 1),
			 ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	add(a, "course/course.xml", course);
	add(a, "files/aa/aa", blob ? blob : "some content");
	add(a, "moodle_backup.xml", xml);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	free(xml);
	free(course);
	free(path);
}

static void write_text(struct fixture *f, const char *rel, const char *text,
		       bool append)
{
	char *path = xasprintf("%s/%s/%s", f->root, SESS, rel);
	FILE *fp = fopen(path, append ? "a" : "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(path);
}

static void rm(struct fixture *f, const char *rel)
{
	char *path = xasprintf("%s/%s/%s", f->root, SESS, rel);

	assert_int_equal(unlink(path), 0);
	free(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[ERRLEN], *sess;
	int code;

	strcpy(f->dir, "/tmp/sa-test-scan-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->root, sizeof(f->root), "%s/store", f->dir);
	assert_int_equal(store_create(f->root, err, sizeof(err)), 0);
	sess = xasprintf("%s/" SESS, f->root);
	assert_int_equal(mkdir(sess, 0755), 0);
	free(sess);
	sess = xasprintf("%s/" SESS "/.session", f->root);
	assert_int_equal(mkdir(sess, 0755), 0);
	free(sess);
	f->st = store_open(f->root, &code, err, sizeof(err));
	assert_non_null(f->st);
	f->idx = idx_open(":memory:", 0, err, sizeof(err));
	assert_non_null(f->idx);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	idx_free(f->idx);
	store_free(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct scan_stats scan(struct fixture *f, bool rebuild)
{
	struct scan_options opt = { .rebuild = rebuild, .threads = 2,
				    .quiet = true };
	struct scan_stats stats;

	assert_int_equal(scan_store(f->idx, f->st, &opt, &stats), 0);
	return stats;
}

/* "file state error|..." for every course, ordered: the index as text. */
static char *dump(struct idx *idx)
{
	static const char sql[] =
		"SELECT file || ' ' || state || ' ' || coalesce(error, '-')"
		" || ' ' || coalesce(source_course_id, '-') || ' ' ||"
		" coalesce(shortname, '-') || ' ' || coalesce(sha256, '-')"
		" || ' ' || in_manifest || on_disk || ' ' ||"
		" coalesce(archive_course_id, '-') || ' ' ||"
		" coalesce(sections, '-')"
		" FROM courses ORDER BY file";
	struct strbuf sb;
	sqlite3_stmt *st;

	sb_init(&sb, 0);
	assert_int_equal(sqlite3_prepare_v2(idx_db(idx), sql, -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		sb_adds(&sb, (const char *)sqlite3_column_text(st, 0));
		sb_addch(&sb, '\n');
	}
	sqlite3_finalize(st);
	return sb_detach(&sb, NULL);
}

static char *course_field(struct fixture *f, const char *file,
			  const char *col)
{
	char *sql = xasprintf("SELECT coalesce(%s, '-') FROM courses "
			      "WHERE file = ?1",
			      col);
	sqlite3_stmt *st;
	char *out = NULL;

	assert_int_equal(sqlite3_prepare_v2(idx_db(f->idx), sql, -1, &st,
					    NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, file, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		out = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	free(sql);
	return out ? out : xstrdup("(none)");
}

static void assert_field(struct fixture *f, const char *file, const char *col,
			 const char *want)
{
	char *got = course_field(f, file, col);

	if (strcmp(got, want) != 0)
		fail_msg("%s %s: '%s', wanted '%s'", file, col, got, want);
	free(got);
}

static char *manifest_line(const char *file, int cid, const char *sha)
{
	return xasprintf("{\"v\":1,\"source_course_id\":%d,\"file\":\"%s\","
			 "\"sha256\":\"%s\",\"shortname\":\"C%d\"}\n",
			 cid, file, sha, cid);
}

static void manifest_add(struct fixture *f, const char *file, int cid,
			 const char *sha)
{
	char *line = manifest_line(file, cid, sha);

	write_text(f, ".session/manifest.jsonl", line, true);
	free(line);
}

static void test_new_changed_vanished(void **state)
{
	struct fixture *f = *state;
	struct scan_stats s;
	struct stat sb;
	char *path;

	write_mbz(f, "A/A1.mbz", 1, NULL);
	write_mbz(f, "B1.mbz", 2, NULL);
	s = scan(f, false);
	assert_int_equal(s.sessions, 1);
	assert_int_equal(s.files, 2);
	assert_int_equal(s.read, 2);
	assert_int_equal(s.failed, 0);
	assert_field(f, "A/A1.mbz", "state", "archived");
	assert_field(f, "A/A1.mbz", "source_course_id", "1");
	assert_field(f, "A/A1.mbz", "shortname", "C1");

	s = scan(f, false);
	assert_int_equal(s.read, 0);

	/* mtime only */
	path = xasprintf("%s/" SESS "/B1.mbz", f->root);
	assert_int_equal(stat(path, &sb), 0);
	{
		struct timespec ts[2] = { sb.st_atim, sb.st_mtim };

		ts[1].tv_sec += 10;
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
	s = scan(f, false);
	assert_int_equal(s.read, 1);
	free(path);

	/* content and size */
	write_mbz(f, "A/A1.mbz", 3, "a much longer content than before");
	s = scan(f, false);
	assert_int_equal(s.read, 1);
	assert_field(f, "A/A1.mbz", "source_course_id", "3");

	rm(f, "B1.mbz");
	s = scan(f, false);
	assert_int_equal(s.vanished, 1);
	assert_field(f, "B1.mbz", "state", "(none)");
}

static void test_states_from_manifest_and_journals(void **state)
{
	struct fixture *f = *state;
	char *sha;

	write_mbz(f, "A.mbz", 1, NULL);
	write_mbz(f, "B.mbz", 2, NULL);
	write_mbz(f, "C.mbz", 3, NULL);
	write_mbz(f, "D.mbz", 4, NULL);
	write_text(f, "Bad.mbz", "not a backup\n", false);
	scan(f, false);
	sha = course_field(f, "A.mbz", "sha256");
	assert_int_equal(strlen(sha), 64);
	manifest_add(f, "A.mbz", 1, sha);
	manifest_add(f, "B.mbz", 2, "0000");
	manifest_add(f, "Gone.mbz", 9, "1111");
	free(sha);
	write_text(f, ".session/journal-x.jsonl",
		   "{\"time\":1,\"event\":\"restore\",\"source_course_id\":1,"
		   "\"archive_course_id\":101}\n"
		   "{\"time\":2,\"event\":\"purge\",\"source_course_id\":3}\n"
		   "{\"time\":3,\"event\":\"purge\",\"source_course_id\":4,"
		   "\"dry_run\":true}\n",
		   false);
	write_text(f, ".session/journal-y.jsonl",
		   "{\"time\":4,\"event\":\"restore_failed\","
		   "\"source_course_id\":4,\"error\":\"no space\"}\n",
		   false);
	assert_int_equal(scan(f, false).lines, 7);
	assert_field(f, "A.mbz", "state", "restored");
	assert_field(f, "A.mbz", "archive_course_id", "101");
	assert_field(f, "B.mbz", "state", "failed");
	assert_field(f, "B.mbz", "error",
		     "checksum mismatch: the file differs from the manifest");
	assert_field(f, "C.mbz", "state", "purged");
	assert_field(f, "D.mbz", "state", "failed");
	assert_field(f, "D.mbz", "error", "no space");
	assert_field(f, "Gone.mbz", "state", "failed");
	assert_field(f, "Gone.mbz", "error",
		     "backup file missing from the store");
	/* in no manifest or journal line: not a course, but its error stays */
	assert_field(f, "Bad.mbz", "state", "unknown");
	assert_field(f, "Bad.mbz", "error",
		     "not a Moodle backup: Unrecognized archive format");

	/* a later restore: restored again */
	write_text(f, ".session/journal-y.jsonl",
		   "{\"time\":5,\"event\":\"restore\",\"source_course_id\":4,"
		   "\"archive_course_id\":104}\n",
		   true);
	scan(f, false);
	assert_field(f, "D.mbz", "state", "restored");
	assert_field(f, "D.mbz", "error", "-");
}

/*
 * A process killed after a feed's lines were committed but before the
 * states were derived: the next scan, with nothing new on disk, derives
 * them. A trigger aborting the derivation stands for the kill.
 */
static void test_states_derived_after_an_interrupted_scan(void **state)
{
	struct fixture *f = *state;

	write_mbz(f, "A.mbz", 1, NULL);
	scan(f, false);
	assert_field(f, "A.mbz", "state", "archived");
	write_text(f, ".session/journal-x.jsonl",
		   "{\"time\":1,\"event\":\"restore\",\"source_course_id\":1,"
		   "\"archive_course_id\":101}\n",
		   false);
	assert_int_equal(idx_exec(f->idx,
				  "CREATE TRIGGER killed BEFORE UPDATE OF state"
				  " ON courses BEGIN SELECT RAISE(ABORT,"
				  " 'killed'); END"),
			 0);
	assert_int_equal(scan_session_feeds(f->idx, f->st, SESS, 1), -1);
	assert_field(f, "A.mbz", "state", "archived");
	assert_int_equal(idx_exec(f->idx, "DROP TRIGGER killed"), 0);
	assert_int_equal(scan(f, false).lines, 0);
	assert_field(f, "A.mbz", "state", "restored");
	assert_field(f, "A.mbz", "archive_course_id", "101");

	/* derived: the next scan has nothing to do */
	assert_int_equal(idx_exec(f->idx, "UPDATE courses SET state = 'pending'"),
			 0);
	scan(f, false);
	assert_field(f, "A.mbz", "state", "pending");
}

/*
 * Backups dropped by hand into an archived session: one of a course the
 * manifest names (its file elsewhere), one of a course no line names.
 * Neither is a course of the session, and each goes when its file goes.
 */
static void test_foreign_backups_unknown(void **state)
{
	struct fixture *f = *state;
	char *sha;

	write_mbz(f, "A.mbz", 1, NULL);
	scan(f, false);
	sha = course_field(f, "A.mbz", "sha256");
	manifest_add(f, "A.mbz", 1, sha);
	free(sha);
	write_text(f, ".session/journal-x.jsonl",
		   "{\"time\":1,\"event\":\"restore\",\"source_course_id\":1,"
		   "\"archive_course_id\":101}\n",
		   false);
	write_mbz(f, "Copy of A.mbz", 1, "another backup of course 1");
	write_mbz(f, "Stranger.mbz", 77, NULL);
	scan(f, false);
	assert_field(f, "A.mbz", "state", "restored");
	assert_field(f, "Copy of A.mbz", "state", "unknown");
	assert_field(f, "Stranger.mbz", "state", "unknown");
	assert_field(f, "Stranger.mbz", "error",
		     "named by no manifest or journal line: not a course of "
		     "this session");
	rm(f, "Copy of A.mbz");
	rm(f, "Stranger.mbz");
	scan(f, false);
	assert_field(f, "Copy of A.mbz", "state", "(none)");
	assert_field(f, "Stranger.mbz", "state", "(none)");
	assert_field(f, "A.mbz", "state", "restored");
}

static void test_partial_and_replaced_manifest(void **state)
{
	struct fixture *f = *state;
	char *line;

	write_mbz(f, "A.mbz", 1, NULL);
	write_mbz(f, "B.mbz", 2, NULL);
	manifest_add(f, "A.mbz", 1, "aa");
	manifest_add(f, "Gone.mbz", 3, "cc");
	line = manifest_line("B.mbz", 2, "bb");
	line[strlen(line) - 1] = '\0'; /* not finished yet */
	write_text(f, ".session/manifest.jsonl", line, true);
	free(line);
	assert_int_equal(scan(f, false).lines, 2);
	assert_field(f, "B.mbz", "in_manifest", "0");
	write_text(f, ".session/manifest.jsonl", "\n", true);
	assert_int_equal(scan(f, false).lines, 1);
	assert_field(f, "B.mbz", "in_manifest", "1");
	assert_field(f, "Gone.mbz", "state", "failed");

	/* replaced by a shorter one: read again from the start */
	{
		char *tmp = xasprintf("%s/" SESS "/.session/.m.tmp", f->root);
		char *dst = xasprintf("%s/" SESS "/.session/manifest.jsonl",
				      f->root);
		FILE *fp = fopen(tmp, "w");

		line = manifest_line("B.mbz", 2, "bb");
		fputs(line, fp);
		fclose(fp);
		free(line);
		assert_int_equal(rename(tmp, dst), 0);
		free(tmp);
		free(dst);
	}
	scan(f, false);
	assert_field(f, "A.mbz", "in_manifest", "0");
	/* the manifest no longer names it: none of the session's courses */
	assert_field(f, "A.mbz", "state", "unknown");
	assert_field(f, "B.mbz", "in_manifest", "1");
	assert_field(f, "Gone.mbz", "state", "(none)");

	/* emptied in place: states follow even with no line to apply */
	write_text(f, ".session/manifest.jsonl", "", false);
	assert_int_equal(scan(f, false).lines, 0);
	assert_field(f, "B.mbz", "in_manifest", "0");
	assert_field(f, "B.mbz", "state", "archived");
}

/*
 * A shared archive's per-host manifests: all are read, the later line of a
 * course wins whatever order the files are read in (an incremental scan,
 * then a rebuild), and a replaced one forgets only its own entries.
 */
static void test_per_host_manifests(void **state)
{
	struct fixture *f = *state;
	char *line;

	write_mbz(f, "A.mbz", 1, "A");
	write_mbz(f, "B.mbz", 2, "B");
	write_text(f, ".session/manifest@hostB.jsonl",
		   "{\"v\":1,\"time\":200,\"source_course_id\":1,"
		   "\"file\":\"A.mbz\",\"sha256\":\"new\"}\n",
		   false);
	write_text(f, ".session/manifest.jsonl",
		   "{\"v\":1,\"time\":100,\"source_course_id\":1,"
		   "\"file\":\"A.mbz\",\"sha256\":\"old\"}\n",
		   false);
	line = manifest_line("B.mbz", 2, "bb");
	write_text(f, ".session/manifest@hostA.jsonl", line, false);
	free(line);
	for (int rebuild = 0; rebuild < 2; rebuild++) {
		scan(f, rebuild);
		assert_field(f, "A.mbz", "manifest_sha256", "new");
		assert_field(f, "A.mbz", "manifest_feed",
			     "manifest@hostB.jsonl");
		assert_field(f, "B.mbz", "in_manifest", "1");
		assert_field(f, "B.mbz", "manifest_feed",
			     "manifest@hostA.jsonl");
	}
	/* hostA's manifest replaced by an empty one: only B.mbz is forgotten */
	rm(f, ".session/manifest@hostA.jsonl");
	write_text(f, ".session/manifest@hostA.jsonl", "", false);
	scan(f, false);
	assert_field(f, "B.mbz", "in_manifest", "0");
	assert_field(f, "A.mbz", "in_manifest", "1");
	assert_field(f, "A.mbz", "manifest_sha256", "new");
}

static void test_rebuild_gives_the_same_index(void **state)
{
	struct fixture *f = *state;
	char err[ERRLEN], *before, *after;
	struct idx *fresh;

	write_mbz(f, "X/A.mbz", 1, NULL);
	write_mbz(f, "X/Y/B.mbz", 2, NULL);
	write_mbz(f, "C.mbz", 3, NULL);
	write_mbz(f, "X/D.mbz", 6, NULL);
	write_text(f, "Bad.mbz", "", false);
	manifest_add(f, "X/A.mbz", 1, "aa");
	manifest_add(f, "Gone.mbz", 4, "dd");
	write_text(f, ".session/journal-x.jsonl",
		   "{\"event\":\"restore\",\"source_course_id\":2,"
		   "\"archive_course_id\":7}\n",
		   false);
	scan(f, false);
	/* then history: a file rots, one goes */
	write_text(f, "C.mbz", "rotten", false);
	rm(f, "X/D.mbz");
	write_mbz(f, "X/Y/B2.mbz", 5, NULL);
	scan(f, false);
	before = dump(f->idx);

	scan(f, true);
	after = dump(f->idx);
	assert_string_equal(before, after);
	free(after);

	fresh = idx_open(":memory:", 0, err, sizeof(err));
	assert_non_null(fresh);
	{
		struct scan_options opt = { .quiet = true };
		struct scan_stats stats;

		assert_int_equal(scan_store(fresh, f->st, &opt, &stats), 0);
	}
	after = dump(fresh);
	assert_string_equal(before, after);
	free(after);
	free(before);
	idx_free(fresh);
}

static void test_deep_folders_skipped(void **state)
{
	struct fixture *f = *state;
	struct strbuf rel;
	struct scan_stats s;

	write_mbz(f, "A.mbz", 1, NULL);
	sb_init(&rel, 0);
	for (int i = 0; i < 40; i++)
		sb_printf(&rel, "d%d/", i);
	sb_adds(&rel, "Deep.mbz");
	write_mbz(f, rel.buf, 2, NULL);
	sb_release(&rel);
	s = scan(f, false);
	assert_int_equal(s.files, 1);
	assert_field(f, "A.mbz", "state", "archived");
}

static void test_index_of_another_store(void **state)
{
	struct fixture *f = *state;
	struct scan_options opt = { .quiet = true };
	struct scan_stats stats;
	char err[ERRLEN], *other = xasprintf("%s/other", f->dir);
	struct store *st2;
	int code;

	write_mbz(f, "A.mbz", 1, NULL);
	scan(f, false);
	assert_int_equal(store_create(other, err, sizeof(err)), 0);
	st2 = store_open(other, &code, err, sizeof(err));
	assert_non_null(st2);
	assert_int_equal(scan_store(f->idx, st2, &opt, &stats), -1);
	assert_field(f, "A.mbz", "state", "archived");
	/* a rebuild takes it over */
	opt.rebuild = true;
	assert_int_equal(scan_store(f->idx, st2, &opt, &stats), 0);
	assert_field(f, "A.mbz", "state", "(none)");
	store_free(st2);
	free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_changed_vanished,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_states_from_manifest_and_journals, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_partial_and_replaced_manifest, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_rebuild_gives_the_same_index, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_states_derived_after_an_interrupted_scan, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_foreign_backups_unknown,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_folders_skipped,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_of_another_store,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_host_manifests, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
