/*
 * child: the one way sessionarchiver runs another program.
 *
 * posix_spawn() with an argv array and an absolute program path, never a
 * shell; an explicit environment; stdin from /dev/null; stdout and stderr
 * either captured through a pipe (with a size cap) or sent to a file
 * descriptor (the operation log); optionally in its own process group so
 * that a timeout or a cancel kills everything the program started. Our own
 * descriptors are all O_CLOEXEC, so the child inherits none of them.
 * Functions here may be called from any thread.
 */
#ifndef SA_CHILD_H
#define SA_CHILD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct child_opts {
	char *const *argv;   /* argv[0]: absolute path of the program */
	char *const *envp;   /* the whole environment; NULL: empty */
	const char *cwd;     /* working directory, or NULL */
	int out_fd;          /* >= 0: stdout and stderr go there; -1: captured */
	size_t capture_cap;  /* cap on captured output (0: 1 MiB) */
	unsigned timeout_s;  /* 0: none; then SIGTERM, 5 s later SIGKILL */
	bool own_group;      /* put the child in a new process group */
	/* child_run() stores the pid here once started (0 before and after),
	 * so that another thread can signal the program while it runs */
	_Atomic pid_t *running_pid;
};

struct child_result {
	bool exited;         /* exited normally, with exit_code */
	int exit_code;
	int signal;          /* the signal that ended it, when !exited */
	bool timed_out;      /* we killed it at the timeout */
	char *output;        /* captured stdout+stderr, NUL-terminated */
	size_t output_len;
	bool truncated;      /* output went past the cap; the end was kept */
};

/*
 * Starts the program and returns its pid (the caller waits for it), or -1
 * with errno set. opts->out_fd must be >= 0: nothing is captured.
 */
pid_t child_start(const struct child_opts *opts);

/*
 * rel ("sessionarchiverfs", "../tools/bridge/x.php") resolved against the
 * folder of the running program, when that file passes access(mode);
 * else NULL. How a build tree finds its sibling programs before they are
 * installed. Caller frees.
 */
char *child_beside_self(const char *rel, int mode);

/* The environment Moodle's CLI and the hooks get: PATH and LANG only. */
extern char *const child_default_env[];

/*
 * Runs the program to its end: drains its output, enforces the timeout,
 * reaps it. Returns 0 when it ran (whatever its exit status: see res), -1
 * with errno when it could not be started. res is filled either way and
 * must be released with child_result_release().
 */
int child_run(const struct child_opts *opts, struct child_result *res);
void child_result_release(struct child_result *res);

/* true when res says the program exited with status 0 */
bool child_ok(const struct child_result *res);

/*
 * A one-line description of how it ended: "exit status 3", "killed by
 * signal 9", "timed out after 30 s". Writes into buf and returns it.
 */
const char *child_describe(const struct child_result *res, unsigned timeout_s,
			   char *buf, size_t len);

#endif
