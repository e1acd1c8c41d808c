/*
 * Running programs with posix_spawn. The capture loop polls the output pipe
 * with the time left before the timeout, so a program that hangs without
 * writing is still killed on time; the kill goes to the whole process group
 * when the program has its own.
 */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"
#include "xalloc.h"

#define DEFAULT_CAP (1024 * 1024)
#define KILL_GRACE_S 5

static char *const empty_env[] = { NULL };

char *const child_default_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8", NULL
};

static int start(const struct child_opts *o, int out_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int rc;

	if (!o->argv || !o->argv[0] || o->argv[0][0] != '/')
		return EINVAL;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
					 O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
	if (o->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
	/* the child starts with default signal handling and no mask, whatever
	 * the caller (a FUSE daemon, a CLI catching SIGTERM) has set */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr,
				 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					 (o->own_group ? POSIX_SPAWN_SETPGROUP
						       : 0));
	posix_spawnattr_setpgroup(&attr, 0);
	rc = posix_spawn(pid, o->argv[0], &fa, &attr, o->argv,
			 o->envp ? o->envp : empty_env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

pid_t child_start(const struct child_opts *opts)
{
	pid_t pid;
	int rc;

	if (opts->out_fd < 0) {
		errno = EINVAL;
		return -1;
	}
	rc = start(opts, opts->out_fd, &pid);
	if (rc) {
		errno = rc;
		return -1;
	}
	return pid;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void kill_it(pid_t pid, bool group, int sig)
{
	if (group)
		kill(-pid, sig);
	kill(pid, sig);
}

/* Keeps the last cap bytes: the end of a program's output says why. */
static void keep_tail(struct strbuf *sb, const char *data, size_t n,
		      size_t cap, bool *truncated)
{
	if (n >= cap) {
		sb_reset(sb);
		sb_add(sb, data + n - cap, cap);
		*truncated = true;
		return;
	}
	if (sb->len + n > cap) {
		size_t drop = sb->len + n - cap;

		memmove(sb->buf, sb->buf + drop, sb->len - drop);
		sb->len -= drop;
		sb->buf[sb->len] = '\0';
		*truncated = true;
	}
	sb_add(sb, data, n);
}

int child_run(const struct child_opts *opts, struct child_result *res)
{
	size_t cap = opts->capture_cap ? opts->capture_cap : DEFAULT_CAP;
	double deadline = opts->timeout_s ? now_s() + opts->timeout_s : 0;
	double kill_at = 0;
	struct strbuf out;
	int pipefd[2] = { -1, -1 }, status, rc;
	bool open = true;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	sb_init(&out, 0);
	if (opts->out_fd < 0 && pipe2(pipefd, O_CLOEXEC) < 0)
		goto out_errno;
	rc = start(opts, opts->out_fd >= 0 ? opts->out_fd : pipefd[1], &pid);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (rc) {
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		errno = rc;
		goto out_errno;
	}
	open = pipefd[0] >= 0;
	if (opts->running_pid)
		atomic_store(opts->running_pid, pid);
	for (;;) {
		int wait_ms = -1;
		pid_t w;

		if (deadline) {
			double left = (kill_at ? kill_at : deadline) - now_s();

			if (left <= 0) {
				if (!kill_at) {
					res->timed_out = true;
					kill_it(pid, opts->own_group, SIGTERM);
					kill_at = now_s() + KILL_GRACE_S;
				} else {
					kill_it(pid, opts->own_group, SIGKILL);
					kill_at = now_s() + 3600;
				}
				continue;
			}
			wait_ms = (int)(left * 1000) + 1;
		}
		if (open) {
			struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
			int n = poll(&p, 1, wait_ms > 200 || wait_ms < 0 ? 200
								     : wait_ms);

			if (n > 0) {
				char buf[16384];
				ssize_t got = read(pipefd[0], buf, sizeof(buf));

				if (got > 0)
					keep_tail(&out, buf, (size_t)got, cap,
						  &res->truncated);
				else if (got == 0 || errno != EINTR)
					open = false;
				continue;
			}
		}
		w = waitpid(pid, &status, open ? WNOHANG : 0);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
		if (!open && deadline)
			usleep(50 * 1000);
		if (!open && !deadline) {
			/* no pipe, no timeout: a blocking wait is enough */
			if (waitpid(pid, &status, 0) == pid)
				break;
		}
	}
	if (pipefd[0] >= 0) {
		/* what the program wrote just before exiting */
		char buf[16384];
		ssize_t got;

		fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
		while ((got = read(pipefd[0], buf, sizeof(buf))) > 0)
			keep_tail(&out, buf, (size_t)got, cap, &res->truncated);
		close(pipefd[0]);
	}
	if (opts->running_pid)
		atomic_store(opts->running_pid, 0);
	if (WIFEXITED(status)) {
		res->exited = true;
		res->exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
	}
	/* a timed-out program may have left children in its group */
	if (res->timed_out && opts->own_group)
		kill(-pid, SIGKILL);
	res->output = sb_detach(&out, &res->output_len);
	return 0;

out_errno:
	rc = errno;
	res->output = sb_detach(&out, &res->output_len);
	errno = rc;
	return -1;
}

void child_result_release(struct child_result *res)
{
	free(res->output);
	res->output = NULL;
	res->output_len = 0;
}

bool child_ok(const struct child_result *res)
{
	return res->exited && res->exit_code == 0 && !res->timed_out;
}

const char *child_describe(const struct child_result *res, unsigned timeout_s,
			   char *buf, size_t len)
{
	if (res->timed_out)
		snprintf(buf, len, "timed out after %u s", timeout_s);
	else if (res->exited)
		snprintf(buf, len, "exit status %d", res->exit_code);
	else
		snprintf(buf, len, "killed by signal %d (%s)", res->signal,
			 strsignal(res->signal));
	return buf;
}

char *child_beside_self(const char *rel, int mode)
{
	char self[PATH_MAX], *slash, *path;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	if (!(slash = strrchr(self, '/')))
		return NULL;
	*slash = '\0';
	path = xasprintf("%s/%s", self, rel);
	if (access(path, mode) == 0)
		return path;
	free(path);
	return NULL;
}
