/*
 * Unit tests of common/child.c: capture, exit codes, signals, timeouts
 * (including a program that hangs without writing and the children it
 * started), the explicit environment and the output cap; programs that die
 * with us (kill -9 included), talking to a program over its stdin and fd 3,
 * finding and waiting for an orphan.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
	/*
	 * the sleep was in the group: nothing of it is left, once the kernel
	 * has delivered the SIGKILL (on a busy machine, not at once)
	 */
	assert_int_equal(system("for i in $(seq 20); do"
				" pgrep -f '^sleep 300$' >/dev/null || exit 0;"
				" sleep 0.1; done; exit 1"),
			 0);
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

/* Is that pid gone (or a zombie nobody reaps) within secs? */
static bool gone_within(pid_t pid, double secs)
{
	for (int i = 0; i < (int)(secs * 20); i++) {
		char path[64], state = '?';
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		f = fopen(path, "r");
		if (!f)
			return true;
		if (fscanf(f, "%*d %*s %c", &state) != 1)
			state = '?';
		fclose(f);
		if (state == 'Z')
			return true;
		usleep(50 * 1000);
	}
	return false;
}

/* The pid a program wrote into path, once it is there. */
static pid_t read_pid(const char *path)
{
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(path, "r");
		int pid = 0;

		if (f) {
			if (fscanf(f, "%d", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (pid > 0)
			return pid;
		usleep(25 * 1000);
	}
	return 0;
}

static void test_child_dies_with_us(void **state)
{
	char pidfile[] = "/tmp/sa-test-pdeath-XXXXXX";
	char *cmd;
	pid_t runner, sleeper;
	int fd = mkstemp(pidfile), status;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_true(asprintf(&cmd, "echo $$ > %s; exec sleep 30", pidfile) > 0);
	runner = fork();
	if (runner == 0) {
		char *argv[] = { "/bin/sh", "-c", cmd, NULL };
		struct child_opts o = { .argv = argv, .out_fd = -1,
					.own_group = true };
		struct child_result r;

		child_run(&o, &r);
		_exit(0);
	}
	sleeper = read_pid(pidfile);
	assert_true(sleeper > 0);
	assert_false(gone_within(sleeper, 0.3));
	kill(runner, SIGKILL);   /* as an administrator's kill -9 */
	waitpid(runner, &status, 0);
	assert_true(gone_within(sleeper, 3));
	unlink(pidfile);
	free(cmd);
}

static const char echo_worker[] =
	"while read l; do echo \"noise $l\"; "
	"[ \"$l\" = quiet ] || echo \"ans $l\" >&3; done; exit 4";

static void test_proc_talks(void **state)
{
	char *argv[] = { "/bin/sh", "-c", (char *)echo_worker, NULL };
	struct child_opts o = { .argv = argv, .own_group = true };
	struct child_proc *p = child_proc_start(&o);
	struct child_result r;
	char *line;

	(void)state;
	assert_non_null(p);
	assert_true(child_proc_pid(p) > 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(child_proc_write(p, "hello"), 0);
		assert_int_equal(child_proc_read(p, 5, &line), 0);
		assert_string_equal(line, "ans hello");
		free(line);
	}
	assert_non_null(strstr(child_proc_output(p), "noise hello"));
	assert_null(strstr(child_proc_output(p), "ans"));
	child_proc_clear_output(p);
	assert_string_equal(child_proc_output(p), "");
	/* no answer: the read times out, the program runs on */
	assert_int_equal(child_proc_write(p, "quiet"), 0);
	assert_int_equal(child_proc_read(p, 1, &line), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_null(line);
	/* end of input: it ends by itself, with its status */
	child_proc_end(p, 5, &r);
	assert_true(r.exited);
	assert_int_equal(r.exit_code, 4);
	assert_non_null(strstr(r.output, "noise quiet"));
	child_result_release(&r);
}

static void test_proc_death(void **state)
{
	char *argv[] = { "/bin/sh", "-c", (char *)echo_worker, NULL };
	struct child_opts o = { .argv = argv, .own_group = true };
	struct child_proc *p = child_proc_start(&o);
	struct child_result r;
	char *line;

	int rc = 0;

	(void)state;
	assert_non_null(p);
	assert_int_equal(child_proc_write(p, "up?"), 0);
	assert_int_equal(child_proc_read(p, 5, &line), 0);
	free(line);
	child_proc_kill(p, SIGKILL);
	assert_int_equal(child_proc_read(p, 5, &line), -1);
	assert_int_equal(errno, EPIPE);
	/* writing to it fails (once the kernel has closed all of its
	 * descriptors), and does not kill us with SIGPIPE */
	for (int i = 0; i < 100 && rc == 0; i++) {
		rc = child_proc_write(p, "x");
		if (rc == 0)
			usleep(10 * 1000);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(errno, EPIPE);
	child_proc_end(p, 1, &r);
	assert_false(r.exited);
	assert_int_equal(r.signal, SIGKILL);
	child_result_release(&r);
	/* a program that cannot start */
	argv[0] = "/nonexistent/program";
	assert_null(child_proc_start(&o));
	assert_int_equal(errno, ENOENT);
	child_proc_end(NULL, 0, NULL);
}

static void *start_and_leave(void *arg)
{
	struct child_opts *o = arg;

	return child_proc_start(o);
}

/* The thread that started it may end: the program lives until we die. */
static void test_proc_outlives_its_thread_not_us(void **state)
{
	char pidfile[] = "/tmp/sa-test-proc-XXXXXX";
	int fd = mkstemp(pidfile), status;
	pid_t runner, worker;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	runner = fork();
	if (runner == 0) {
		char *argv[] = { "/bin/sh", "-c", "exec sleep 30", NULL };
		struct child_opts o = { .argv = argv, .own_group = true };
		struct child_proc *p;
		pthread_t t;
		FILE *f;

		pthread_create(&t, NULL, start_and_leave, &o);
		pthread_join(t, (void **)&p);
		if (!p)
			_exit(1);
		f = fopen(pidfile, "w");
		fprintf(f, "%d\n", (int)child_proc_pid(p));
		fclose(f);
		pause();
		_exit(0);
	}
	worker = read_pid(pidfile);
	assert_true(worker > 0);
	assert_false(gone_within(worker, 0.5));
	kill(runner, SIGKILL);
	waitpid(runner, &status, 0);
	assert_true(gone_within(worker, 3));
	unlink(pidfile);
}

static void test_find_and_wait_orphans(void **state)
{
	char marker[64];
	char *argv[] = { "/bin/sh", "-c", "sleep 30; true", marker, NULL };
	const char *want[] = { "*/sh", marker, NULL };
	const char *other[] = { "*/sh", "sa-no-such-marker", NULL };
	struct child_opts o = { .argv = argv, .out_fd = 2, .own_group = true };
	pid_t pid;
	int status;

	(void)state;
	snprintf(marker, sizeof(marker), "sa-marker-%d", (int)getpid());
	assert_int_equal(child_find(want), 0);
	pid = child_start(&o);
	assert_true(pid > 0);
	for (int i = 0; i < 100 && child_find(want) != pid; i++)
		usleep(20 * 1000);
	assert_int_equal(child_find(want), pid);
	assert_int_equal(child_find(other), 0);
	/* still running at the timeout: its group is killed */
	assert_int_equal(child_wait_orphans(want, 1, "a test program"), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(child_wait_orphans(want, 1, "a test program"), 0);
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
		cmocka_unit_test(test_child_dies_with_us),
		cmocka_unit_test(test_proc_talks),
		cmocka_unit_test(test_proc_death),
		cmocka_unit_test(test_proc_outlives_its_thread_not_us),
		cmocka_unit_test(test_find_and_wait_orphans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
