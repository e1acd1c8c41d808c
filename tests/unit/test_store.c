/*
 * Unit tests of indexer/store.c: creating and recognising a store, refusing
 * newer formats and damaged store.ini files, the atomic writer, the journal
 * line appender and the names a listing must never show.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/sa-test-store-XXXXXX";
	char *dir = mkdtemp(tmpl);

	assert_non_null(dir);
	return strdup(dir);
}

static void rm_rf(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int count_entries(const char *dir)
{
	char cmd[512];
	int n = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static void test_create_then_open(void **state)
{
	char *dir = make_tmpdir(), err[512], sub[600];
	struct store *st;
	int code;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/store", dir);
	assert_int_equal(store_create(sub, err, sizeof(err)), STORE_OK);
	st = store_open(sub, &code, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(code, STORE_OK);
	assert_int_equal(store_format(st), STORE_FORMAT_CREATED);
	assert_int_equal(strlen(store_id(st)), 32);
	assert_true(store_dirfd(st) >= 0);
	assert_string_equal(store_path(st), sub);
	store_free(st);

	assert_int_equal(store_create(sub, err, sizeof(err)),
			 STORE_ERR_EXISTS);
	assert_non_null(strstr(err, "is a store already"));
	rm_rf(dir);
	free(dir);
}

static void test_ids_differ(void **state)
{
	char *dir = make_tmpdir(), err[512], a[600], b[600];
	struct store *sa, *sb;
	int code;

	(void)state;
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	assert_int_equal(store_create(a, err, sizeof(err)), 0);
	assert_int_equal(store_create(b, err, sizeof(err)), 0);
	sa = store_open(a, &code, err, sizeof(err));
	sb = store_open(b, &code, err, sizeof(err));
	assert_non_null(sa);
	assert_non_null(sb);
	assert_string_not_equal(store_id(sa), store_id(sb));
	store_free(sa);
	store_free(sb);
	rm_rf(dir);
	free(dir);
}

/* A shared archive moves a format 1 store to 2, id and all else kept. */
static void test_require_format(void **state)
{
	char *dir = make_tmpdir(), err[512], sub[600], id[40], ini[4096];
	char path[700];
	struct store *st;
	FILE *f;
	size_t n;
	int code;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/store", dir);
	assert_int_equal(store_create(sub, err, sizeof(err)), STORE_OK);
	st = store_open(sub, &code, err, sizeof(err));
	assert_non_null(st);
	snprintf(id, sizeof(id), "%s", store_id(st));
	assert_int_equal(store_require_format(st, 1), 0);
	assert_int_equal(store_format(st), 1);
	assert_int_equal(store_require_format(st, STORE_FORMAT_SHARED), 0);
	assert_int_equal(store_format(st), STORE_FORMAT_SHARED);
	store_free(st);
	st = store_open(sub, &code, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(store_format(st), STORE_FORMAT_SHARED);
	assert_string_equal(store_id(st), id);
	store_free(st);
	snprintf(path, sizeof(path), "%s/%s", sub, STORE_INI);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(ini, 1, sizeof(ini) - 1, f);
	fclose(f);
	ini[n] = '\0';
	assert_non_null(strstr(ini, "# sessionarchiver store"));
	assert_non_null(strstr(ini, "\nformat = 2\ncreated = "));
	rm_rf(dir);
	free(dir);
}

static void test_refusals(void **state)
{
	char *dir = make_tmpdir(), err[512], path[600];
	struct store *st;
	int code;

	(void)state;
	/* a plain directory */
	st = store_open(dir, &code, err, sizeof(err));
	assert_null(st);
	assert_int_equal(code, STORE_ERR_NOT_STORE);
	assert_non_null(strstr(err, "is not a sessionarchiver store"));

	/* a missing directory */
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_null(store_open(path, &code, err, sizeof(err)));
	assert_int_equal(code, STORE_ERR_NOT_STORE);

	/* a newer format: refused untouched, both versions named */
	snprintf(path, sizeof(path), "%s/.sessionarchiver", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	write_file(dir, STORE_INI, "[store]\nid = x\nformat = 99\n");
	assert_null(store_open(dir, &code, err, sizeof(err)));
	assert_int_equal(code, STORE_ERR_FORMAT);
	assert_non_null(strstr(err, "format version 99"));
	assert_non_null(strstr(err, "reads up to 2"));

	/* damaged files */
	write_file(dir, STORE_INI, "[store]\nid = x\n");
	assert_null(store_open(dir, &code, err, sizeof(err)));
	assert_int_equal(code, STORE_ERR_FORMAT);
	assert_non_null(strstr(err, "no format version"));
	write_file(dir, STORE_INI, "[store]\nid = x\nformat = 1x\n");
	assert_null(store_open(dir, &code, err, sizeof(err)));
	assert_int_equal(code, STORE_ERR_FORMAT);
	assert_non_null(strstr(err, "bad format version '1x'"));
	write_file(dir, STORE_INI, "garbage without section\n[[[\n");
	assert_null(store_open(dir, &code, err, sizeof(err)));
	assert_int_equal(code, STORE_ERR_FORMAT);
	rm_rf(dir);
	free(dir);
}

static void test_atomic_write(void **state)
{
	char *dir = make_tmpdir(), buf[64];
	int dirfd, fd;
	ssize_t n;

	(void)state;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	assert_int_equal(store_write_atomic(dirfd, "f", "one", 3, 0644), 0);
	assert_int_equal(store_write_atomic(dirfd, "f", "second", 6, 0600), 0);
	fd = openat(dirfd, "f", O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "second", 6);
	/* nothing but the file itself is left */
	assert_int_equal(count_entries(dir), 1);

	/* failure (target is a non-empty directory): nothing left behind */
	assert_int_equal(mkdirat(dirfd, "d", 0755), 0);
	assert_int_equal(mkdirat(dirfd, "d/x", 0755), 0);
	assert_int_equal(store_write_atomic(dirfd, "d", "x", 1, 0644), -1);
	assert_true(errno == EISDIR || errno == ENOTEMPTY);
	assert_int_equal(count_entries(dir), 2);
	close(dirfd);
	rm_rf(dir);
	free(dir);
}

static void test_append_line(void **state)
{
	char *dir = make_tmpdir(), buf[128], *big;
	int dirfd, fd;
	ssize_t n;

	(void)state;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(store_append_line(dirfd, "j.jsonl", "{\"a\":1}"), 0);
	assert_int_equal(store_append_line(dirfd, "j.jsonl", "{\"b\":2}"), 0);
	fd = openat(dirfd, "j.jsonl", O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 16);
	assert_memory_equal(buf, "{\"a\":1}\n{\"b\":2}\n", 16);

	/* a line must be one line, and bounded */
	assert_int_equal(store_append_line(dirfd, "j.jsonl", "a\nb"), -1);
	assert_int_equal(errno, EINVAL);
	big = malloc(STORE_LINE_MAX + 1);
	memset(big, 'x', STORE_LINE_MAX);
	big[STORE_LINE_MAX] = '\0';
	assert_int_equal(store_append_line(dirfd, "j.jsonl", big), -1);
	free(big);
	close(dirfd);
	rm_rf(dir);
	free(dir);
}

static void test_hidden_names(void **state)
{
	(void)state;
	assert_true(store_name_is_hidden(".sessionarchiver"));
	assert_true(store_name_is_hidden(".session"));
	assert_true(store_name_is_hidden(".MATH101.mbz.tmp-12-0"));
	assert_true(store_name_is_hidden("x.tmp"));
	assert_true(store_name_is_hidden("x.part"));
	assert_false(store_name_is_hidden("MATH101.mbz"));
	assert_false(store_name_is_hidden("Sciences"));
	assert_false(store_name_is_hidden("tmp"));
	assert_false(store_name_is_hidden("part"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_then_open),
		cmocka_unit_test(test_ids_differ),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_require_format),
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_append_line),
		cmocka_unit_test(test_hidden_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
