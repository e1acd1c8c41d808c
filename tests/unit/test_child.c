/*
 * Unit tests of common/child.c: capture, exit codes, signals, timeouts
 * (including a program that hangs without writing and the children it
 * started), the explicit environment and the output cap.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "child.h"

static void test_capture_and_exit_code(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3",
			 NULL };
	struct child_opts o = { .argv = argv, .out_fd = -1 };
	struct child_result r;
	char why[64];

	(void)state;
	assert_int_equal(child_run(&o, &r), 0);
	assert_true(r.exited);
	assert_int_equal(r.exit_code, 3);
	assert_false(child_ok(&r));
	assert_string_equal(r.output, "out\nerr\n");
	assert_string_equal(child_describe(&r, 0, why, sizeof(why)),
			    "exit status 3");
	child_result_release(&r);
}

static void test_explicit_environment(void **state)
{
	char *argv[] = { "/usr/bin/env", NULL };
	char *envp[] = { "SA_ONLY=1", NULL };
	struct child_opts o = { .argv = argv, .envp = envp, .out_fd = -1 };
	struct child_result r;

	(void)state;
	setenv("SA_LEAK", "secret", 1);
	assert_int_equal(child_run(&o, &r), 0);
	assert_true(child_ok(&r));
	assert_string_equal(r.output, "SA_ONLY=1\n");
	child_result_release(&r);
}

static void test_stdin_is_dev_null(void **state)
{
	char *argv[] = { "/bin/cat", NULL };
	struct child_opts o = { .argv = argv, .out_fd = -1, .timeout_s = 5 };
	struct child_result r;

	(void)state;
	assert_int_equal(child_run(&o, &r), 0);
	assert_true(child_ok(&r));
	assert_int_equal(r.output_len, 0);
	child_result_release(&r);
}

static void test_signal(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	struct child_opts o = { .argv = argv, .out_fd = -1 };
	struct child_result r;
	char why[64];

	(void)state;
	assert_int_equal(child_run(&o, &r), 0);
	assert_false(r.exited);
	assert_int_equal(r.signal, SIGKILL);
	assert_non_null(strstr(child_describe(&r, 0, why, sizeof(why)),
			       "signal 9"));
	child_result_release(&r);
}

static void test_timeout_kills_group(void **state)
{
	/* a silent hang, with a grandchild that would outlive a plain kill */
	char *argv[] = { "/bin/sh", "-c",
			 "sleep 300 & echo started; wait", NULL };
	struct child_opts o = { .argv = argv, .out_fd = -1, .timeout_s = 1,
				.own_group = true };
	struct child_result r;
	time_t t0 = time(NULL);
	char why[64];

	(void)state;
	assert_int_equal(child_run(&o, &r), 0);
	assert_true(time(NULL) - t0 < 5);
	assert_true(r.timed_out);
	assert_false(child_ok(&r));
	assert_string_equal(r.output, "started\n");
	assert_string_equal(child_describe(&r, 1, why, sizeof(why)),
			    "timed out after 1 s");
	/* the sleep was in the group: nothing of it is left */
	assert_int_equal(system("! pgrep -f '^sleep 300$' >/dev/null"), 0);
	child_result_release(&r);
}

static void test_output_cap_keeps_tail(void **state)
{
	char *argv[] = { "/bin/sh", "-c",
			 "i=0; while [ $i -lt 2000 ]; do echo line$i;"
			 " i=$((i+1)); done",
			 NULL };
	struct child_opts o = { .argv = argv, .out_fd = -1,
				.capture_cap = 100 };
	struct child_result r;

	(void)state;
	assert_int_equal(child_run(&o, &r), 0);
	assert_true(r.truncated);
	assert_true(r.output_len <= 100);
	assert_non_null(strstr(r.output, "line1999\n"));
	child_result_release(&r);
}

static void test_refusals(void **state)
{
	char *relative[] = { "sh", "-c", "true", NULL };
	char *missing[] = { "/nonexistent/program", NULL };
	struct child_opts o = { .argv = relative, .out_fd = -1 };
	struct child_result r;

	(void)state;
	assert_int_equal(child_run(&o, &r), -1);
	assert_int_equal(errno, EINVAL);
	child_result_release(&r);
	o.argv = missing;
	assert_int_equal(child_run(&o, &r), -1);
	assert_int_equal(errno, ENOENT);
	child_result_release(&r);
	o.out_fd = -1;
	assert_int_equal(child_start(&o), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_start_to_fd(void **state)
{
	char *argv[] = { "/bin/echo", "to the log", NULL };
	char path[] = "/tmp/sa-test-child-XXXXXX", buf[64] = "";
	int fd = mkstemp(path), status;
	struct child_opts o = { .argv = argv, .out_fd = fd };
	pid_t pid;

	(void)state;
	pid = child_start(&o);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(pread(fd, buf, sizeof(buf) - 1, 0), 11);
	assert_string_equal(buf, "to the log\n");
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_and_exit_code),
		cmocka_unit_test(test_explicit_environment),
		cmocka_unit_test(test_stdin_is_dev_null),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_timeout_kills_group),
		cmocka_unit_test(test_output_cap_keeps_tail),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_start_to_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
