/*
 * Unit tests of indexer/journal.c: reading line files incrementally by
 * byte offset, leaving a trailing partial line for later, skipping bad and
 * over-long lines with a warning that names the file and the line, and
 * appending lines that read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "store.h"
#include "strbuf.h"

#define NAME "journal-abc.jsonl"
#define DISPLAY "2025-2026/.session/" NAME

struct fixture {
	char dir[64];
	int dirfd;
	char log[96];
	int logfd;
};

struct seen {
	long line_no[16];
	int64_t n[16];
	int count;
	int stop_at; /* line number whose callback returns 7 */
};

static int collect(void *ctx, long line_no, json_t *obj)
{
	struct seen *s = ctx;

	assert_true(s->count < 16);
	s->line_no[s->count] = line_no;
	s->n[s->count] = journal_int(obj, "n", -1);
	s->count++;
	return line_no == s->stop_at ? 7 : 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/sa-test-journal-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->dirfd >= 0);
	snprintf(f->log, sizeof(f->log), "%s.log", f->dir);
	f->logfd = open(f->log, O_CREAT | O_RDWR | O_TRUNC, 0600);
	assert_true(f->logfd >= 0);
	log_set_file_fd(f->logfd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	log_set_file_fd(-1);
	close(f->logfd);
	close(f->dirfd);
	unlink(f->log);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void put(struct fixture *f, const char *text, bool truncate)
{
	int fd = openat(f->dirfd, NAME,
			O_CREAT | O_WRONLY | (truncate ? O_TRUNC : O_APPEND),
			0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static off_t size_of(struct fixture *f)
{
	struct stat sb;

	assert_int_equal(fstatat(f->dirfd, NAME, &sb, 0), 0);
	return sb.st_size;
}

/* The warnings logged since the last call. */
static char *logged(struct fixture *f)
{
	struct strbuf sb;
	char buf[4096];
	ssize_t n;

	sb_init(&sb, 0);
	assert_int_equal(lseek(f->logfd, 0, SEEK_SET), 0);
	while ((n = read(f->logfd, buf, sizeof(buf))) > 0)
		sb_add(&sb, buf, (size_t)n);
	assert_int_equal(ftruncate(f->logfd, 0), 0);
	assert_int_equal(lseek(f->logfd, 0, SEEK_SET), 0);
	return sb_detach(&sb, NULL);
}

static void test_incremental(void **state)
{
	struct fixture *f = *state;
	struct seen s = { .stop_at = -1 };
	off_t off = 0;
	long lines = 0;

	put(f, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", true);
	assert_int_equal(journal_read(f->dirfd, NAME, DISPLAY, &off, &lines,
				      collect, &s),
			 0);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.line_no[2], 3);
	assert_int_equal(s.n[2], 3);
	assert_int_equal(off, size_of(f));
	assert_int_equal(lines, 3);

	/* nothing new: nothing read */
	assert_int_equal(journal_read(f->dirfd, NAME, DISPLAY, &off, &lines,
				      collect, &s),
			 0);
	assert_int_equal(s.count, 3);

	put(f, "{\"n\":4}\n{\"n\":5}\n", false);
	assert_int_equal(journal_read(f->dirfd, NAME, DISPLAY, &off, &lines,
				      collect, &s),
			 0);
	assert_int_equal(s.count, 5);
	assert_int_equal(s.line_no[3], 4);
	assert_int_equal(s.n[4], 5);
	assert_int_equal(lines, 5);
	assert_int_equal(off, size_of(f));
	free(logged(f));
}

static void test_partial_line_waits(void **state)
{
	struct fixture *f = *state;
	struct seen s = { .stop_at = -1 };
	off_t off = 0, first;
	long lines = 0;
	char *log;

	put(f, "{\"n\":1}\n{\"n\":", true);
	first = (off_t)strlen("{\"n\":1}\n");
	assert_int_equal(journal_read(f->dirfd, NAME, DISPLAY, &off, &lines,
				      collect, &s),
			 0);
	assert_int_equal(s.count, 1);
	assert_int_equal(off, first);
	assert_int_equal(lines, 1);

	put(f, "2}", false); /* complete JSON, but no newline yet */
	assert_int_equal(journal_read(f->dirfd, NAME, DISPLAY, &off, &lines,
				      collect, &s),
			 0);
	assert_int_equal(s.count, 1);
	assert_int_equal(off, first);

	put(f, "\n", false);
	assert_int_equal(journal_read(f->dirfd, NAME, DISPLAY, &off, &lines,
				      collect, &s),
			 0);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.line_no[1], 2);
	assert_int_equal(s.n[1], 2);
	assert_int_equal(off, size_of(f));
	log = logged(f);
	assert_null(strstr(log, "skipped"));
	free(log);
}

static void test_bad_lines_skipped_with_warning(void **state)
{
	struct fixture *f = *state;
	struct seen s = { .stop_at = -1 };
	off_t off = 0;
	long lines = 0;
	char *log;

	put(f,
	    "{\"n\":1}\n"
	    "garbage\n"
	    "[1,2]\n"
	    "42\n"
	    "\n"
	    "{\"n\":1,\"n\":2}\n"
	    "{\"n\":7\n"
	    "\xff\xfe{}\n"
	    "{\"n\":9}\n",
	    true);
	assert_int_equal(journal_read(f->dirfd, NAME, DISPLAY, &off, &lines,
				      collect, &s),
			 0);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.line_no[0], 1);
	assert_int_equal(s.line_no[1], 9);
	assert_int_equal(s.n[1], 9);
	assert_int_equal(lines, 9);
	log = logged(f);
	assert_non_null(strstr(log, DISPLAY ":2: skipped, not a JSON object"));
	assert_non_null(strstr(log, DISPLAY ":3: skipped"));
	assert_non_null(strstr(log, DISPLAY ":4: skipped"));
	assert_null(strstr(log, DISPLAY ":5:")); /* an empty line is no fault */
	assert_non_null(strstr(log, DISPLAY ":6: skipped"));
	assert_non_null(strstr(log, DISPLAY ":7: skipped"));
	assert_non_null(strstr(log, DISPLAY ":8: skipped"));
	assert_null(strstr(log, DISPLAY ":1:"));
	assert_null(strstr(log, DISPLAY ":9:"));
	free(log);
}

static void test_long_line_skipped(void **state)
{
	struct fixture *f = *state;
	struct seen s = { .stop_at = -1 };
	size_t len = STORE_LINE_MAX + 100;
	char *big = malloc(len + 64), *log;
	off_t off = 0;
	long lines = 0;

	/* a valid object, only too long */
	strcpy(big, "{\"pad\":\"");
	memset(big + 8, 'x', len);
	strcpy(big + 8 + len, "\"}\n{\"n\":2}\n");
	put(f, big, true);
	free(big);
	assert_int_equal(journal_read(f->dirfd, NAME, DISPLAY, &off, &lines,
				      collect, &s),
			 0);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.line_no[0], 2);
	assert_int_equal(off, size_of(f));
	log = logged(f);
	assert_non_null(strstr(log, DISPLAY ":1: skipped, longer than"));
	free(log);
}

static void test_missing_file_and_stop(void **state)
{
	struct fixture *f = *state;
	struct seen s = { .stop_at = -1 };
	off_t off = 0;
	long lines = 0;

	assert_int_equal(journal_read(f->dirfd, "journal-none.jsonl", "x",
				      &off, &lines, collect, &s),
			 0);
	assert_int_equal(s.count, 0);
	assert_int_equal(off, 0);

	put(f, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", true);
	s.stop_at = 2;
	assert_int_equal(journal_read(f->dirfd, NAME, DISPLAY, &off, &lines,
				      collect, &s),
			 7);
	assert_int_equal(s.count, 2);
}

static void test_append_reads_back(void **state)
{
	struct fixture *f = *state;
	json_t *obj = json_pack("{s:s, s:I}", "event", "restore",
				"source_course_id", (json_int_t)42);
	json_t *mine = json_pack("{s:i, s:I, s:s}", "v", 3, "time",
				 (json_int_t)17, "event", "purge");
	struct seen s = { .stop_at = -1 };
	off_t off = 0;
	long lines = 0;
	char *log;

	assert_int_equal(journal_append(f->dirfd, NAME, obj), 0);
	assert_int_equal(journal_append(f->dirfd, NAME, mine), 0);
	assert_int_equal(journal_int(obj, "v", -1), 1);
	assert_true(journal_int(obj, "time", -1) > 1700000000);
	assert_string_equal(journal_str(obj, "event"), "restore");
	/* fields given are kept */
	assert_int_equal(journal_int(mine, "v", -1), 3);
	assert_int_equal(journal_int(mine, "time", -1), 17);
	/* wrong types give the default */
	assert_null(journal_str(obj, "source_course_id"));
	assert_null(journal_str(obj, "nope"));
	assert_int_equal(journal_int(obj, "event", -5), -5);
	json_decref(obj);
	json_decref(mine);

	assert_int_equal(journal_read(f->dirfd, NAME, DISPLAY, &off, &lines,
				      collect, &s),
			 0);
	assert_int_equal(s.count, 2);
	assert_int_equal(lines, 2);
	assert_int_equal(off, size_of(f));
	log = logged(f);
	assert_null(strstr(log, "skipped"));
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_incremental, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_partial_line_waits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_bad_lines_skipped_with_warning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_skipped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_file_and_stop,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_reads_back, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
