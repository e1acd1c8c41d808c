/*
 * Unit tests of common/control.c: every form of every command the control
 * file accepts, with the fields it fills, every refusal with the exact
 * reason a person will read in status and the log, and each command
 * written back as the line the mount hands the command line.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "control.h"

/* Parses a NUL-terminated line; fails the test if it is refused. */
static void parse_ok(const char *line, struct control_cmd *cmd)
{
	char err[256] = "";
	int rc = control_parse(line, strlen(line), cmd, err, sizeof(err));

	if (rc != 0)
		fail_msg("'%s' refused: %s", line, err);
}

/*
 * A refused cmd is all zeros: nothing of an earlier command, nothing
 * half-parsed from this one (jobs=5 before a bad option).
 */
static void check_cleared(const struct control_cmd *cmd)
{
	static const struct control_cmd zero;

	assert_memory_equal(cmd, &zero, sizeof(zero));
}

/*
 * Parses len bytes that must be refused with exactly want. A valid
 * command is parsed into the same cmd first so that a refusal that returns
 * 0, or keeps the old command, cannot pass.
 */
static void refuse_n(const char *buf, size_t len, const char *want)
{
	struct control_cmd cmd;
	char err[256] = "";

	parse_ok("purge source confirm", &cmd);
	assert_int_equal(control_parse(buf, len, &cmd, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	check_cleared(&cmd);
}

static void refuse(const char *line, const char *want)
{
	refuse_n(line, strlen(line), want);
}

static void check_plain(const char *line, enum control_op op)
{
	struct control_cmd cmd;

	parse_ok(line, &cmd);
	assert_int_equal(cmd.op, op);
	assert_int_equal(cmd.jobs, 0);
	assert_string_equal(cmd.window, "");
	assert_string_equal(cmd.target, "");
	assert_false(cmd.deep);
	assert_null(cmd.side);
	assert_null(cmd.mode);
}

static void test_archive(void **state)
{
	struct control_cmd cmd;

	(void)state;
	check_plain("archive", CONTROL_ARCHIVE);
	parse_ok("archive jobs=4 window=20:00-06:00", &cmd);
	assert_int_equal(cmd.op, CONTROL_ARCHIVE);
	assert_int_equal(cmd.jobs, 4);
	assert_string_equal(cmd.window, "20:00-06:00");
	assert_string_equal(cmd.target, "");
	parse_ok("archive window=00:00-24:00 jobs=64", &cmd);
	assert_int_equal(cmd.jobs, 64);
	assert_string_equal(cmd.window, "00:00-24:00");
	parse_ok("archive jobs=1", &cmd);
	assert_int_equal(cmd.jobs, 1);
	assert_string_equal(cmd.window, "");
}

static void test_line_endings_and_blanks(void **state)
{
	struct control_cmd cmd;

	(void)state;
	/* what echo writes */
	check_plain("archive\n", CONTROL_ARCHIVE);
	check_plain("archive\r\n", CONTROL_ARCHIVE);
	check_plain("  archive  ", CONTROL_ARCHIVE);
	parse_ok("\tarchive \t  jobs=4\t\twindow=20:00-06:00 \r\n", &cmd);
	assert_int_equal(cmd.op, CONTROL_ARCHIVE);
	assert_int_equal(cmd.jobs, 4);
	assert_string_equal(cmd.window, "20:00-06:00");
	parse_ok("purge\t source  \tpreview\n", &cmd);
	assert_string_equal(cmd.side, "source");
	assert_string_equal(cmd.mode, "preview");
}

static void test_restore_targets(void **state)
{
	static const char *const lines[][2] = {
		{"restore target=12", "12"},
		{"restore target=id:12", "id:12"},
		{"restore target=idnumber:ARCH-2025", "idnumber:ARCH-2025"},
		{"restore target=path:/Archives/Old", "path:/Archives/Old"},
		{"restore target=path:/Archives/Année_2024/Économie\n",
		 "path:/Archives/Année_2024/Économie"},
	};
	struct control_cmd cmd;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		parse_ok(lines[i][0], &cmd);
		assert_int_equal(cmd.op, CONTROL_RESTORE);
		assert_string_equal(cmd.target, lines[i][1]);
		assert_int_equal(cmd.jobs, 0);
		assert_string_equal(cmd.window, "");
	}
	parse_ok("restore jobs=8 target=id:3", &cmd);
	assert_int_equal(cmd.jobs, 8);
	assert_string_equal(cmd.target, "id:3");
}

static void test_verify_and_simple_verbs(void **state)
{
	struct control_cmd cmd;

	(void)state;
	check_plain("verify", CONTROL_VERIFY);
	parse_ok("verify deep\n", &cmd);
	assert_int_equal(cmd.op, CONTROL_VERIFY);
	assert_true(cmd.deep);
	check_plain("pause", CONTROL_PAUSE);
	check_plain("resume\n", CONTROL_RESUME);
	check_plain("cancel", CONTROL_CANCEL);
	check_plain("index", CONTROL_INDEX);
}

static void test_purge(void **state)
{
	static const char *const lines[][3] = {
		{"purge source preview", "source", "preview"},
		{"purge archive dry-run", "archive", "dry-run"},
		{"purge source confirm\n", "source", "confirm"},
		{"purge archive confirm", "archive", "confirm"},
	};
	struct control_cmd cmd;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		parse_ok(lines[i][0], &cmd);
		assert_int_equal(cmd.op, CONTROL_PURGE);
		assert_string_equal(cmd.side, lines[i][1]);
		assert_string_equal(cmd.mode, lines[i][2]);
		assert_int_equal(cmd.jobs, 0);
	}
}

static void test_op_names_and_help(void **state)
{
	(void)state;
	assert_string_equal(control_op_name(CONTROL_ARCHIVE), "archive");
	assert_string_equal(control_op_name(CONTROL_PURGE), "purge");
	assert_string_equal(control_op_name(CONTROL_INDEX), "index");
	assert_string_equal(control_op_name((enum control_op)99), "?");
	assert_non_null(strstr(control_help, "purge source|archive"));
}

#define UNKNOWN_TAIL "' (archive, restore, verify, purge, pause, resume, " \
		     "cancel, index)"
#define JOBS_ERR "jobs must be a number from 1 to 64, not '"
#define WINDOW_ERR "window must be HH:MM-HH:MM (e.g. 20:00-06:00), not '"
#define TARGET_ERR "target must be a category id, id:N, idnumber:X or " \
		   "path:/A/B, not '"
#define PURGE_ERR "purge needs a side and a mode: purge source|archive " \
		  "preview|dry-run|confirm"

static void test_refused_shape(void **state)
{
	char big[CONTROL_MAX + 1];

	(void)state;
	refuse_n("", 0, "empty command");
	refuse("\n", "empty command");
	refuse("\r\n", "empty command");
	refuse(" \t \n", "empty command");
	refuse("archive\nverify", "one command per write: found a second line");
	refuse("archive\n\n", "one command per write: found a second line");
	refuse_n("archive\0jobs=4", 14, "control character 0x00 in command");
	refuse("archive\x1b[0m", "control character 0x1b in command");
	refuse("archive\x7f", "control character 0x7f in command");
	refuse("arch\rive", "control character 0x0d in command");
	refuse("a b c d e f g h i", "too many words in command");
	memset(big, ' ', sizeof(big));
	memcpy(big, "archive", 7);
	refuse_n(big, CONTROL_MAX + 1, "command longer than 1024 bytes");
	big[CONTROL_MAX - 1] = '\n';
	{
		struct control_cmd cmd;
		char err[256];

		/* exactly CONTROL_MAX bytes is still accepted */
		assert_int_equal(control_parse(big, CONTROL_MAX, &cmd, err,
					       sizeof(err)),
				 0);
		assert_int_equal(cmd.op, CONTROL_ARCHIVE);
	}
}

static void test_refused_verbs(void **state)
{
	(void)state;
	refuse("frobnicate", "unknown command 'frobnicate" UNKNOWN_TAIL);
	refuse("archve", "unknown command 'archve" UNKNOWN_TAIL);
	refuse("ARCHIVE", "unknown command 'ARCHIVE" UNKNOWN_TAIL);
	refuse("Archive\n", "unknown command 'Archive" UNKNOWN_TAIL);
	refuse("jobs=4 archive", "unknown command 'jobs=4" UNKNOWN_TAIL);
}

static void test_refused_jobs(void **state)
{
	(void)state;
	refuse("archive jobs=0", JOBS_ERR "0'");
	refuse("archive jobs=65", JOBS_ERR "65'");
	refuse("archive jobs=abc", JOBS_ERR "abc'");
	refuse("archive jobs=+3", JOBS_ERR "+3'");
	refuse("archive jobs=-3", JOBS_ERR "-3'");
	refuse("archive jobs=", JOBS_ERR "'");
	refuse("archive jobs=4x", JOBS_ERR "4x'");
	refuse("archive jobs=99999999999999999999999",
	       JOBS_ERR "99999999999999999999999'");
	refuse("archive jobs=4 jobs=4", "option 'jobs' given twice");
	refuse("restore target=1 jobs=0", JOBS_ERR "0'");
}

static void test_refused_window(void **state)
{
	(void)state;
	refuse("archive window=25:00-06:00", WINDOW_ERR "25:00-06:00'");
	refuse("archive window=20:00-20:00", WINDOW_ERR "20:00-20:00'");
	refuse("archive window=2000-0600", WINDOW_ERR "2000-0600'");
	refuse("archive window=20:00", WINDOW_ERR "20:00'");
	refuse("archive window=20:00_06:00", WINDOW_ERR "20:00_06:00'");
	refuse("archive window=20:60-06:00", WINDOW_ERR "20:60-06:00'");
	refuse("archive window=24:00-06:00", WINDOW_ERR "24:00-06:00'");
	refuse("archive window=20:00-24:30", WINDOW_ERR "20:00-24:30'");
	refuse("archive window=", WINDOW_ERR "'");
	refuse("archive window=20:00-06:00 window=20:00-06:00",
	       "option 'window' given twice");
}

static void test_refused_restore(void **state)
{
	(void)state;
	refuse("restore", "restore needs target=<category>, e.g. "
			  "restore target=path:/Archives");
	refuse("restore jobs=4", "restore needs target=<category>, e.g. "
				 "restore target=path:/Archives");
	refuse("restore target=", TARGET_ERR "'");
	refuse("restore target=id:abc", TARGET_ERR "id:abc'");
	refuse("restore target=id:", TARGET_ERR "id:'");
	refuse("restore target=path:relative", TARGET_ERR "path:relative'");
	refuse("restore target=path:/", TARGET_ERR "path:/'");
	refuse("restore target=idnumber:", TARGET_ERR "idnumber:'");
	refuse("restore target=12a", TARGET_ERR "12a'");
	refuse("restore target=1 target=2", "option 'target' given twice");
	refuse("restore target=1 window=20:00-06:00",
	       "restore takes no option 'window'");
	refuse("restore 12", "unexpected '12' after restore (options are "
			     "key=value)");
}

/* Before the fix only the last character after "id:" was checked. */
static void test_refused_id_with_letters(void **state)
{
	(void)state;
	refuse("restore target=id:a1", TARGET_ERR "id:a1'");
	refuse("restore target=id:1a2", TARGET_ERR "id:1a2'");
}

static void test_refused_arguments(void **state)
{
	(void)state;
	refuse("archive foo=1", "archive takes no option 'foo'");
	refuse("archive target=12", "archive takes no option 'target'");
	refuse("archive =4", "archive takes no option ''");
	refuse("archive now", "unexpected 'now' after archive (options are "
			      "key=value)");
	refuse("verify shallow", "verify takes only 'deep'");
	refuse("verify deep deep", "verify takes only 'deep'");
	refuse("purge", PURGE_ERR);
	refuse("purge source", PURGE_ERR);
	refuse("purge sideways preview", PURGE_ERR);
	refuse("purge source now", PURGE_ERR);
	refuse("purge source preview now", PURGE_ERR);
	refuse("purge preview source", PURGE_ERR);
	refuse("pause now", "pause takes no argument");
	refuse("resume 1", "resume takes no argument");
	refuse("cancel all", "cancel takes no argument");
	refuse("index x", "index takes no argument");
	refuse("archive jobs=1 a b c d e f g", "too many words in command");
}

static void test_refusal_after_valid(void **state)
{
	struct control_cmd cmd;
	char err[256];

	(void)state;
	parse_ok("archive jobs=4 window=20:00-06:00", &cmd);
	assert_int_equal(control_parse("archive jobs=5 foo=1", 20, &cmd, err,
				       sizeof(err)),
			 -1);
	/* nothing of either command survives a refusal */
	check_cleared(&cmd);
	parse_ok("purge source confirm", &cmd);
	assert_int_equal(control_parse("purge source now", 16, &cmd, err,
				       sizeof(err)),
			 -1);
	check_cleared(&cmd);
	parse_ok("restore target=id:12", &cmd);
	assert_int_equal(control_parse("restore jobs=2", 14, &cmd, err,
				       sizeof(err)),
			 -1);
	check_cleared(&cmd);
	/* a tiny err buffer is cut, never overrun */
	{
		char small[6];

		assert_int_equal(control_parse("x", 1, &cmd, small,
					       sizeof(small)),
				 -1);
		assert_string_equal(small, "unkno");
	}
}

/* libfuse calls write on many threads; the parser must keep no state. */
struct racer {
	const char *line;
	unsigned jobs;
	int bad;
};

/* control_format() gives the canonical line, which parses to the same. */
static void test_format_round_trip(void **state)
{
	static const struct {
		const char *written, *canonical;
	} lines[] = {
		{ "archive", "archive" },
		{ "archive  window=20:00-06:00 jobs=4\n",
		  "archive jobs=4 window=20:00-06:00" },
		{ "restore jobs=2 target=12", "restore target=12 jobs=2" },
		{ "restore target=path:/Archives/2025", "restore "
		  "target=path:/Archives/2025" },
		{ "restore target=idnumber:ARCH", "restore target=idnumber:ARCH" },
		{ "verify", "verify" },
		{ "verify deep", "verify deep" },
		{ "purge source confirm", "purge source confirm" },
		{ "purge archive dry-run", "purge archive dry-run" },
		{ "pause", "pause" },
		{ "index\r\n", "index" },
	};
	struct control_cmd cmd, again;
	char line[CONTROL_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		parse_ok(lines[i].written, &cmd);
		assert_int_equal(control_format(&cmd, line, sizeof(line)), 0);
		assert_string_equal(line, lines[i].canonical);
		parse_ok(line, &again);
		assert_int_equal(again.op, cmd.op);
		assert_int_equal(again.jobs, cmd.jobs);
		assert_string_equal(again.window, cmd.window);
		assert_string_equal(again.target, cmd.target);
		assert_int_equal(again.deep, cmd.deep);
		assert_ptr_equal(again.side, cmd.side);
		assert_ptr_equal(again.mode, cmd.mode);
	}
	parse_ok("archive jobs=4", &cmd);
	assert_int_equal(control_format(&cmd, line, 8), -1);
}

static void *race(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < 20000 && !r->bad; i++) {
		struct control_cmd cmd;
		char err[256];

		if (control_parse(r->line, strlen(r->line), &cmd, err,
				  sizeof(err)) != 0 ||
		    cmd.jobs != r->jobs)
			r->bad = 1;
	}
	return NULL;
}

static void test_threads_share_nothing(void **state)
{
	struct racer r[4] = {
		{"archive jobs=1 window=20:00-06:00", 1, 0},
		{"restore  target=id:7\tjobs=2", 2, 0},
		{"archive window=01:00-02:00 jobs=3", 3, 0},
		{"restore jobs=4 target=path:/A/B", 4, 0},
	};
	pthread_t t[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].bad, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_archive),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_line_endings_and_blanks),
		cmocka_unit_test(test_restore_targets),
		cmocka_unit_test(test_verify_and_simple_verbs),
		cmocka_unit_test(test_purge),
		cmocka_unit_test(test_op_names_and_help),
		cmocka_unit_test(test_refused_shape),
		cmocka_unit_test(test_refused_verbs),
		cmocka_unit_test(test_refused_jobs),
		cmocka_unit_test(test_refused_window),
		cmocka_unit_test(test_refused_restore),
		cmocka_unit_test(test_refused_id_with_letters),
		cmocka_unit_test(test_refused_arguments),
		cmocka_unit_test(test_refusal_after_valid),
		cmocka_unit_test(test_threads_share_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
