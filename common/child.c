/*
 * Running programs. fork() then execve() rather than posix_spawn(): the
 * child must set its parent-death signal (prctl) before it runs the
 * program, and posix_spawn has no way to. Between the two the child calls
 * only async-signal-safe functions. The capture loop polls the output pipe
 * with the time left before the timeout, so a program that hangs without
 * writing is still killed on time; the kill goes to the whole process group
 * when the program has its own.
 *
 * PR_SET_PDEATHSIG fires when the THREAD that forked ends, not the process:
 * child_run() forks on the thread that waits for the child, and a talking
 * child (child_proc) is forked by a reaper thread of its own that lives
 * exactly as long as the program.
 */
#include "child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "strbuf.h"
#include "xalloc.h"

#define DEFAULT_CAP (1024 * 1024)
#define KILL_GRACE_S 5
#define ANSWER_CAP (64 * 1024 * 1024)

static char *const empty_env[] = { NULL };

char *const child_default_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8", NULL
};

/* The descriptors a child starts with: -1 for stdin is /dev/null. */
struct child_fds {
	int in, out, fd3;
};

/* In the child, between fork() and execve(): async-signal-safe calls only. */
static void exec_child(const struct child_opts *o, const struct child_fds *f,
		       pid_t parent, bool die_with_parent, int errfd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int from[4] = { f->in, f->out, f->out, f->fd3 }, high[4], err;
	sigset_t none;

	/* default signal handling, whatever the caller (a FUSE daemon, a
	 * CLI catching SIGTERM) has set */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	if (o->own_group && setpgid(0, 0) < 0)
		goto fail;
	if (die_with_parent) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			goto fail;
		/* the parent died before the line above: nobody waits */
		if (getppid() != parent)
			_exit(127);
	}
	/* out of the way first: a source may sit on a target number */
	for (int i = 0; i < 4; i++) {
		high[i] = from[i] >= 0 ? fcntl(from[i], F_DUPFD_CLOEXEC, 10) : -1;
		if (from[i] >= 0 && high[i] < 0)
			goto fail;
	}
	for (int i = 0; i < 4; i++)
		if (high[i] >= 0 && dup2(high[i], i) < 0)
			goto fail;
	if (o->cwd && chdir(o->cwd) < 0)
		goto fail;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(o->argv[0], o->argv, o->envp ? o->envp : empty_env);
fail:
	err = errno;
	if (write(errfd, &err, sizeof(err)) < 0)
		_exit(126);
	_exit(127);
}

/* 0 with *pid, or an errno value (the exec's own failure included). */
static int start(const struct child_opts *o, const struct child_fds *fds,
		 bool die_with_parent, pid_t *pid)
{
	struct child_fds f = *fds;
	int errpipe[2], devnull = -1, err = 0;
	pid_t parent = getpid();
	ssize_t n;

	if (!o->argv || !o->argv[0] || o->argv[0][0] != '/')
		return EINVAL;
	if (f.in < 0) {
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull < 0)
			return errno;
		f.in = devnull;
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		err = errno;
		goto out;
	}
	*pid = fork();
	if (*pid == 0)
		exec_child(o, &f, parent, die_with_parent, errpipe[1]);
	if (*pid < 0)
		err = errno;
	close(errpipe[1]);
	/* closed by a successful execve(), or the child's errno */
	while (*pid > 0 && (n = read(errpipe[0], &err, sizeof(err))) < 0 &&
	       errno == EINTR)
		;
	close(errpipe[0]);
	if (*pid > 0 && err)
		waitpid(*pid, NULL, 0);
out:
	if (devnull >= 0)
		close(devnull);
	return err;
}

pid_t child_start(const struct child_opts *opts)
{
	pid_t pid;
	int rc;

	if (opts->out_fd < 0) {
		errno = EINVAL;
		return -1;
	}
	rc = start(opts, &(struct child_fds){ -1, opts->out_fd, -1 }, false,
		   &pid);
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
	rc = start(opts,
		   &(struct child_fds){ -1,
					opts->out_fd >= 0 ? opts->out_fd
							  : pipefd[1],
					-1 },
		   true, &pid);
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

/* ---- a program we talk to ---------------------------------------------- */

struct child_proc {
	pid_t pid;
	int in_fd;       /* its stdin */
	int answer_fd;   /* its fd 3 */
	int out_fd;      /* its stdout and stderr */
	size_t cap;
	bool group;      /* it leads its own process group */
	struct strbuf out;     /* the tail of what it printed */
	bool truncated;
	struct strbuf partial; /* an answer line not ended yet */
	pthread_t reaper;
	pthread_mutex_t lock;  /* guards started, start_err, exited, status */
	pthread_cond_t cond;
	bool started, exited;
	int start_err, status;
	const struct child_opts *opts; /* during the start only */
	struct child_fds fds;          /* likewise */
};

/* Forks the program, then waits for it: the parent of its PDEATHSIG. */
static void *reaper_main(void *arg)
{
	struct child_proc *p = arg;
	pid_t pid = 0;
	int err, status = 0;

	err = start(p->opts, &p->fds, true, &pid);
	pthread_mutex_lock(&p->lock);
	p->pid = err ? 0 : pid;
	p->start_err = err;
	p->started = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (err)
		return NULL;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&p->lock);
	p->status = status;
	p->exited = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

struct child_proc *child_proc_start(const struct child_opts *opts)
{
	struct child_proc *p = xcalloc(1, sizeof(*p));
	int in[2] = { -1, -1 }, ans[2] = { -1, -1 }, out[2] = { -1, -1 };
	sigset_t all, old;
	int err = 0;

	p->in_fd = p->answer_fd = p->out_fd = -1;
	p->cap = opts->capture_cap ? opts->capture_cap : DEFAULT_CAP;
	p->group = opts->own_group;
	sb_init(&p->out, 0);
	sb_init(&p->partial, ANSWER_CAP);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(ans, O_CLOEXEC) < 0 ||
	    pipe2(out, O_CLOEXEC) < 0) {
		err = errno;
		goto fail;
	}
	p->opts = opts;
	p->fds = (struct child_fds){ in[0], out[1], ans[1] };
	/* the reaper never takes the signals meant for the program's users */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&p->reaper, NULL, reaper_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto fail;
	pthread_mutex_lock(&p->lock);
	while (!p->started)
		pthread_cond_wait(&p->cond, &p->lock);
	err = p->start_err;
	pthread_mutex_unlock(&p->lock);
	p->opts = NULL;
	close(in[0]);
	close(out[1]);
	close(ans[1]);
	p->in_fd = in[1];
	p->answer_fd = ans[0];
	p->out_fd = out[0];
	if (err) {
		pthread_join(p->reaper, NULL);
		goto fail_fds;
	}
	return p;

fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&ans[i]);
		close_fd(&out[i]);
	}
fail_fds:
	close_fd(&p->in_fd);
	close_fd(&p->answer_fd);
	close_fd(&p->out_fd);
	sb_release(&p->out);
	sb_release(&p->partial);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
	errno = err;
	return NULL;
}

pid_t child_proc_pid(const struct child_proc *p)
{
	return p->pid;
}

int child_proc_write(struct child_proc *p, const char *line)
{
	size_t len = strlen(line), done = 0;
	sigset_t pipe_set, old;
	struct timespec zero = { 0, 0 };
	int err = 0;

	if (p->in_fd < 0) {
		errno = EPIPE;
		return -1;
	}
	/* a program that died must not take us with its SIGPIPE */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	while (done <= len && !err) {
		const char *buf = done < len ? line + done : "\n";
		size_t n = done < len ? len - done : 1;
		ssize_t w = write(p->in_fd, buf, n);

		if (w < 0 && errno != EINTR)
			err = errno;
		else if (w > 0)
			done += (size_t)w;
	}
	if (err == EPIPE)
		while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return err ? -1 : 0;
}

/* Moves a whole line out of p->partial into *line, if there is one. */
static bool take_line(struct child_proc *p, char **line)
{
	char *nl = p->partial.len ? memchr(p->partial.buf, '\n',
					   p->partial.len)
				  : NULL;
	size_t n;

	if (!nl)
		return false;
	n = (size_t)(nl - p->partial.buf);
	*line = xstrndup(p->partial.buf, n);
	memmove(p->partial.buf, nl + 1, p->partial.len - n - 1);
	p->partial.len -= n + 1;
	p->partial.buf[p->partial.len] = '\0';
	return true;
}

int child_proc_read(struct child_proc *p, unsigned timeout_s, char **line)
{
	double deadline = timeout_s ? now_s() + timeout_s : 0;

	*line = NULL;
	for (;;) {
		struct pollfd fds[2] = { { .fd = p->answer_fd, .events = POLLIN },
					 { .fd = p->out_fd, .events = POLLIN } };
		char buf[16384];
		int wait_ms = 200, n;
		ssize_t got;

		if (take_line(p, line))
			return 0;
		if (p->answer_fd < 0) {
			errno = EPIPE;
			return -1;
		}
		if (deadline) {
			double left = deadline - now_s();

			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (left * 1000 < wait_ms)
				wait_ms = (int)(left * 1000) + 1;
		}
		n = poll(fds, p->out_fd >= 0 ? 2 : 1, wait_ms);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n <= 0)
			continue;
		if (fds[1].revents) {
			got = read(p->out_fd, buf, sizeof(buf));
			if (got > 0)
				keep_tail(&p->out, buf, (size_t)got, p->cap,
					  &p->truncated);
			else if (got == 0 || errno != EINTR)
				close_fd(&p->out_fd);
		}
		if (fds[0].revents) {
			got = read(p->answer_fd, buf, sizeof(buf));
			if (got > 0 && sb_add(&p->partial, buf, (size_t)got) < 0) {
				errno = EMSGSIZE;
				return -1;
			}
			if (got == 0 || (got < 0 && errno != EINTR))
				close_fd(&p->answer_fd);
		}
	}
}

const char *child_proc_output(const struct child_proc *p)
{
	return p->out.buf ? p->out.buf : "";
}

void child_proc_clear_output(struct child_proc *p)
{
	sb_reset(&p->out);
	p->truncated = false;
}

void child_proc_kill(struct child_proc *p, int sig)
{
	pthread_mutex_lock(&p->lock);
	if (p->pid > 0 && !p->exited)
		kill_it(p->pid, p->group, sig);
	pthread_mutex_unlock(&p->lock);
}

/* Waits until the reaper saw the end, at most until deadline (0: ever). */
static bool wait_exit(struct child_proc *p, double deadline)
{
	bool exited;

	pthread_mutex_lock(&p->lock);
	while (!p->exited) {
		struct timespec ts;
		double left = deadline - now_s();

		if (deadline && left <= 0)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
	}
	exited = p->exited;
	pthread_mutex_unlock(&p->lock);
	return exited;
}

void child_proc_end(struct child_proc *p, unsigned grace_s,
		    struct child_result *res)
{
	char buf[16384];
	ssize_t got;
	int status;

	if (!p) {
		if (res)
			memset(res, 0, sizeof(*res));
		return;
	}
	/* end of input: a worker that reads its requests ends by itself */
	close_fd(&p->in_fd);
	if (!wait_exit(p, now_s() + grace_s)) {
		child_proc_kill(p, SIGTERM);
		if (!wait_exit(p, now_s() + KILL_GRACE_S)) {
			child_proc_kill(p, SIGKILL);
			wait_exit(p, 0);
		}
	}
	pthread_join(p->reaper, NULL);
	/* its group may hold what it started */
	if (p->group)
		kill(-p->pid, SIGKILL);
	if (p->out_fd >= 0) {
		fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
		while ((got = read(p->out_fd, buf, sizeof(buf))) > 0)
			keep_tail(&p->out, buf, (size_t)got, p->cap,
				  &p->truncated);
	}
	close_fd(&p->out_fd);
	close_fd(&p->answer_fd);
	status = p->status;
	if (res) {
		memset(res, 0, sizeof(*res));
		if (WIFEXITED(status)) {
			res->exited = true;
			res->exit_code = WEXITSTATUS(status);
		} else if (WIFSIGNALED(status)) {
			res->signal = WTERMSIG(status);
		}
		res->truncated = p->truncated;
		res->output = sb_detach(&p->out, &res->output_len);
	}
	sb_release(&p->out);
	sb_release(&p->partial);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

/* ---- programs left by a run that was killed ------------------------------ */

/* Does the NUL-separated cmdline hold every arg (see child_find())? */
static bool cmdline_matches(const char *buf, size_t n,
			    const char *const args[])
{
	for (size_t k = 0; args[k]; k++) {
		const char *want = args[k];
		bool suffix = want[0] == '*', found = false;
		size_t wlen = strlen(want + suffix);

		for (const char *a = buf; a < buf + n && !found;
		     a += strlen(a) + 1) {
			size_t len = strlen(a);

			found = suffix ? len >= wlen &&
						 strcmp(a + len - wlen,
							want + 1) == 0
				       : strcmp(a, want) == 0;
		}
		if (!found)
			return false;
	}
	return true;
}

pid_t child_find(const char *const args[])
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		char path[64], buf[16384], *end;
		long pid = strtol(de->d_name, &end, 10);
		ssize_t n;
		int fd;

		if (*end || pid <= 0 || pid == (long)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (cmdline_matches(buf, (size_t)n, args))
			found = (pid_t)pid;
	}
	closedir(d);
	return found;
}

int child_wait_orphans(const char *const args[], unsigned timeout_s,
		       const char *what)
{
	double deadline = now_s() + timeout_s, kill_deadline = 0;
	pid_t pid, said = 0;
	int seen = 0;

	while ((pid = child_find(args))) {
		if (pid != said) {
			log_msg(LOG_NOTICE,
				"waiting for %s (pid %d) left by an "
				"interrupted run",
				what, (int)pid);
			said = pid;
			seen++;
		}
		if (!kill_deadline && now_s() >= deadline) {
			log_warn("killing %s (pid %d) at the job timeout", what,
				 (int)pid);
			kill_it(pid, true, SIGKILL);
			kill_deadline = now_s() + KILL_GRACE_S;
		}
		if (kill_deadline && now_s() >= kill_deadline) {
			log_warn("%s (pid %d) does not die: going on", what,
				 (int)pid);
			break;
		}
		usleep(100 * 1000);
	}
	return seen;
}
