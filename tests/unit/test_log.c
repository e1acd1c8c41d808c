/*
 * Unit tests of common/log.c: a message that carries a course name with an
 * ESC or a newline reaches stderr and the operation log as one escaped
 * line; a program's output is logged one line per message; a long message
 * is cut and still ends its line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* stderr and the operation log, each into a file of its own */
struct sink {
	FILE *err, *file;
	int saved_stderr;
};

static int setup(void **state)
{
	struct sink *s = calloc(1, sizeof(*s));

	s->err = tmpfile();
	s->file = tmpfile();
	fflush(stderr);
	s->saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(s->err), STDERR_FILENO);
	log_set_ident("test");
	log_set_level(LOG_INFO);
	log_set_file_fd(fileno(s->file));
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct sink *s = *state;

	log_set_file_fd(-1);
	dup2(s->saved_stderr, STDERR_FILENO);
	close(s->saved_stderr);
	fclose(s->err);
	fclose(s->file);
	free(s);
	return 0;
}

/* What f holds, from its start; caller frees. */
static char *slurp(FILE *f)
{
	long n = ftell(f);
	char *buf = calloc(1, (size_t)n + 1);

	rewind(f);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_message_escaped(void **state)
{
	struct sink *s = *state;
	char *err, *file;

	log_err("course %d '%s' failed: %s", 2, "ctrl\x1b[31mred",
		"two\nlines\tand \xc2\x9b Géo");
	err = slurp(s->err);
	file = slurp(s->file);
	assert_string_equal(err, "test: error: course 2 'ctrl\\x1b[31mred' "
				 "failed: two\\x0alines\\x09and \\xc2\\x9b "
				 "Géo\n");
	assert_int_equal(count_lines(file), 1);
	assert_non_null(strstr(file, " error course 2 'ctrl\\x1b[31mred' "
				     "failed: two\\x0alines\\x09and "
				     "\\xc2\\x9b Géo\n"));
	assert_null(strchr(file, '\x1b'));
	free(err);
	free(file);
}

static void test_lines_one_message_each(void **state)
{
	struct sink *s = *state;
	char *err;

	log_lines(LOG_INFO, "backup.php for course 7",
		  "== Performing backup...\r\n\nfirst \x1b[2J\nlast");
	err = slurp(s->err);
	assert_string_equal(err, "test: backup.php for course 7: == "
				 "Performing backup...\n"
				 "test: backup.php for course 7: first "
				 "\\x1b[2J\n"
				 "test: backup.php for course 7: last\n");
	free(err);
}

static void test_long_message_cut(void **state)
{
	struct sink *s = *state;
	char big[6000], *err, *file;

	/* every byte escaped: four times the room of the message */
	memset(big, '\x1b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_warn("%s", big);
	err = slurp(s->err);
	file = slurp(s->file);
	assert_int_equal(count_lines(err), 1);
	assert_int_equal(count_lines(file), 1);
	assert_int_equal(err[strlen(err) - 1], '\n');
	assert_non_null(strstr(err, "\\x1b...\n"));
	assert_null(strchr(err, '\x1b'));
	free(err);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_message_escaped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lines_one_message_each,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_message_cut, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
