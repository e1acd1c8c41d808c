/*
 * Unit tests of indexer/lease.c: taking a free lease, a live holder
 * refused, a silent one taken over by exactly one of many contenders at
 * once, the heartbeat, and a release that leaves another's lease alone.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lease.h"

#define CONTENDERS 8

struct fixture {
	char dir[64];
	int dirfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/sa-test-lease-XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	*state = f;
	return f->dirfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	close(f->dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void write_lease(struct fixture *f, const char *host, long pid,
			long heartbeat)
{
	char text[256];
	int fd, n;

	n = snprintf(text, sizeof(text),
		     "{\"v\":1,\"host\":\"%s\",\"pid\":%ld,\"operation\":"
		     "\"restore\",\"started\":%ld,\"heartbeat\":%ld,"
		     "\"token\":\"t-%s-%ld\"}",
		     host, pid, heartbeat, heartbeat, host, heartbeat);
	fd = openat(f->dirfd, LEASE_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, (size_t)n), n);
	close(fd);
}

static void test_free_then_busy_then_released(void **state)
{
	struct fixture *f = *state;
	struct lease_holder other, now;
	enum lease_result res;
	struct lease *a, *b;

	a = lease_take(f->dirfd, "hostA", "archive", 60, &res, &other);
	assert_non_null(a);
	assert_int_equal(res, LEASE_TAKEN);
	assert_int_equal(lease_read(f->dirfd, &now), 0);
	assert_string_equal(now.host, "hostA");
	assert_string_equal(now.operation, "archive");
	assert_int_equal(now.pid, getpid());
	lease_holder_release(&now);

	b = lease_take(f->dirfd, "hostB", "verify", 60, &res, &other);
	assert_null(b);
	assert_int_equal(res, LEASE_BUSY);
	assert_string_equal(other.host, "hostA");
	lease_holder_release(&other);

	lease_release(a);
	assert_int_equal(lease_read(f->dirfd, &now), 1);
	b = lease_take(f->dirfd, "hostB", "verify", 60, &res, &other);
	assert_non_null(b);
	lease_release(b);
}

static void test_heartbeat_refreshes(void **state)
{
	struct fixture *f = *state;
	struct lease_holder other, h;
	enum lease_result res;
	struct lease *l;
	int64_t first;

	l = lease_take(f->dirfd, "hostA", "archive", 10, &res, &other);
	assert_non_null(l);
	assert_int_equal(lease_read(f->dirfd, &h), 0);
	first = h.heartbeat;
	lease_holder_release(&h);
	sleep(3); /* grace 10: a heartbeat every 1 s */
	assert_int_equal(lease_read(f->dirfd, &h), 0);
	assert_true(h.heartbeat > first);
	lease_holder_release(&h);
	lease_release(l);
}

/* Another host's lease, taken over meanwhile: release leaves it. */
static void test_release_leaves_another_lease(void **state)
{
	struct fixture *f = *state;
	struct lease_holder other, h;
	enum lease_result res;
	struct lease *l;

	l = lease_take(f->dirfd, "hostA", "archive", 600, &res, &other);
	assert_non_null(l);
	write_lease(f, "hostB", 42, (long)time(NULL));
	lease_release(l);
	assert_int_equal(lease_read(f->dirfd, &h), 0);
	assert_string_equal(h.host, "hostB");
	lease_holder_release(&h);
}

static void test_one_of_many_takes_a_silent_lease_over(void **state)
{
	struct fixture *f = *state;
	pid_t pids[CONTENDERS];
	int taken = 0, busy = 0;

	write_lease(f, "deadhost", 1, (long)time(NULL) - 3600);
	for (int i = 0; i < CONTENDERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct lease_holder other;
			enum lease_result res;
			char host[16];
			struct lease *l;

			snprintf(host, sizeof(host), "host%d", i);
			l = lease_take(f->dirfd, host, "archive", 600, &res,
				       &other);
			/* hold it long enough for the others to see it */
			sleep(1);
			_exit(res == LEASE_TAKEN_OVER ? 10
			      : res == LEASE_BUSY    ? 11
						     : (l ? 12 : 13));
		}
	}
	for (int i = 0; i < CONTENDERS; i++) {
		int st;

		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		taken += WEXITSTATUS(st) == 10;
		busy += WEXITSTATUS(st) == 11;
	}
	assert_int_equal(taken, 1);
	assert_int_equal(busy, CONTENDERS - 1);
}

static void test_dead_pid_of_this_host(void **state)
{
	struct fixture *f = *state;
	struct lease_holder other;
	enum lease_result res;
	struct lease *l;
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	/* fresh heartbeat, but its process is gone */
	write_lease(f, "hostA", (long)child, (long)time(NULL));
	l = lease_take(f->dirfd, "hostA", "archive", 600, &res, &other);
	assert_non_null(l);
	assert_int_equal(res, LEASE_TAKEN_OVER);
	assert_int_equal(other.pid, child);
	lease_holder_release(&other);
	lease_release(l);

	/* the same on another host is trusted until the grace */
	write_lease(f, "hostB", (long)child, (long)time(NULL));
	l = lease_take(f->dirfd, "hostA", "archive", 600, &res, &other);
	assert_null(l);
	assert_int_equal(res, LEASE_BUSY);
	lease_holder_release(&other);
}

/* A claim file as another member wrote it, optionally finished. */
static void write_claim(struct fixture *f, const char *name, const char *host,
			long heartbeat, const char *state)
{
	char text[512];
	int fd, n;

	n = snprintf(text, sizeof(text),
		     "{\"v\":1,\"host\":\"%s\",\"pid\":7,\"operation\":"
		     "\"archive\",\"started\":%ld,\"heartbeat\":%ld,"
		     "\"token\":\"t-%s\",\"file\":\"X.mbz\"%s%s%s}",
		     host, heartbeat, heartbeat, name, state ? ",\"state\":\"" : "",
		     state ? state : "", state ? "\"" : "");
	fd = openat(f->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, (size_t)n), n);
	close(fd);
}

/*
 * A finished claim is an outcome: never taken over, however old; a silent
 * unfinished one is. The outcome and the claimer's fields are readable.
 */
static void test_claims_finished_and_silent(void **state)
{
	struct fixture *f = *state;
	struct lease_holder other;
	enum lease_result res;
	struct lease *l;
	long old = (long)time(NULL) - 3600;

	write_claim(f, "5.json", "hostB", old, "done");
	l = lease_claim(f->dirfd, "5.json", "hostA", "archive", 10, NULL,
			false, &res, &other);
	assert_null(l);
	assert_int_equal(res, LEASE_BUSY);
	assert_string_equal(other.state, "done");
	assert_string_equal(json_string_value(json_object_get(other.fields,
							      "file")),
			    "X.mbz");
	lease_holder_release(&other);

	write_claim(f, "6.json", "hostB", old, NULL);
	l = lease_claim(f->dirfd, "6.json", "hostA", "archive", 10,
			json_pack("{s:s}", "file", "Y.mbz"), false, &res,
			&other);
	assert_non_null(l);
	assert_int_equal(res, LEASE_TAKEN_OVER);
	assert_string_equal(other.host, "hostB");
	assert_null(other.state);
	lease_holder_release(&other);
	assert_true(lease_held(l));
	assert_int_equal(lease_finish(l, "failed"), 0);
	l = lease_claim(f->dirfd, "6.json", "hostC", "archive", 10, NULL,
			false, &res, &other);
	assert_null(l);
	assert_string_equal(other.state, "failed");
	assert_string_equal(other.host, "hostA");
	assert_string_equal(json_string_value(json_object_get(other.fields,
							      "file")),
			    "Y.mbz");
	lease_holder_release(&other);
}

/* A claim taken over while its holder stalled: seen, and left alone. */
static void test_claim_lost(void **state)
{
	struct fixture *f = *state;
	struct lease_holder other, h;
	enum lease_result res;
	struct lease *l;

	l = lease_claim(f->dirfd, "9.json", "hostA", "archive", 600, NULL,
			false, &res, &other);
	assert_non_null(l);
	assert_int_equal(res, LEASE_TAKEN);
	assert_true(lease_held(l));
	write_claim(f, "9.json", "hostB", (long)time(NULL), NULL);
	assert_false(lease_held(l));
	assert_int_equal(lease_set_detail(l, json_pack("{s:i}", "done", 1)),
			 -1);
	assert_int_equal(lease_finish(l, "done"), -1);
	/* hostB's claim is still there, unfinished */
	l = lease_claim(f->dirfd, "9.json", "hostC", "archive", 600, NULL,
			false, &res, &h);
	assert_null(l);
	assert_int_equal(res, LEASE_BUSY);
	assert_string_equal(h.host, "hostB");
	assert_null(h.state);
	lease_holder_release(&h);
}

/* lease_list: the live members only, with their fields. */
static void test_list_live_members(void **state)
{
	struct fixture *f = *state;
	struct lease_holder other, *live;
	enum lease_result res;
	struct lease *l;
	size_t n;

	write_claim(f, "hostB-7.json", "hostB", (long)time(NULL) - 3600, NULL);
	write_claim(f, "hostC-7.json", "hostC", (long)time(NULL), "done");
	write_claim(f, "hostD-7.json", "hostD", (long)time(NULL), NULL);
	write_claim(f, "notes.txt", "hostE", (long)time(NULL), NULL);
	l = lease_claim(f->dirfd, "hostA-1.json", "hostA", "archive --share",
			60, json_pack("{s:i}", "done", 0), false, &res,
			&other);
	assert_non_null(l);
	assert_int_equal(lease_set_detail(l, json_pack("{s:i}", "done", 4)),
			 0);
	assert_int_equal(lease_list(f->dirfd, "hostA", 60, &live, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_true(strcmp(live[i].host, "hostA") == 0 ||
			    strcmp(live[i].host, "hostD") == 0);
		if (strcmp(live[i].host, "hostA") == 0)
			assert_int_equal(json_integer_value(json_object_get(
						 live[i].fields, "done")),
					 4);
		lease_holder_release(&live[i]);
	}
	free(live);
	lease_release(l);
	assert_int_equal(lease_list(f->dirfd, "hostA", 60, &live, &n), 0);
	assert_int_equal(n, 1);
	lease_holder_release(&live[0]);
	free(live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_free_then_busy_then_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_refreshes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_release_leaves_another_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_one_of_many_takes_a_silent_lease_over, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_dead_pid_of_this_host,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims_finished_and_silent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_lost, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_list_live_members, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
