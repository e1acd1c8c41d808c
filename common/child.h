/*
 * child: the one way sessionarchiver runs another program.
 *
 * fork() and execve() with an argv array and an absolute program path,
 * never a shell; an explicit environment; stdin from /dev/null; stdout and
 * stderr either captured through a pipe (with a size cap) or sent to a file
 * descriptor (the operation log); optionally in its own process group so
 * that a timeout or a cancel kills everything the program started. Our own
 * descriptors are all O_CLOEXEC, so the child inherits none of them.
 * A program we wait for (child_run, child_proc) dies with us: it gets
 * SIGKILL from the kernel (PR_SET_PDEATHSIG) the moment we die, even of a
 * kill -9, so that no Moodle CLI script goes on alone behind a killed run.
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
 * with errno set. opts->out_fd must be >= 0: nothing is captured. The
 * program outlives us if we die (the daemon's operations do).
 */
pid_t child_start(const struct child_opts *opts);

/*
 * rel ("sessionarchiverfs", "../moodle/bridge/x.php") resolved against the
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

/*
 * A program we talk to: requests are lines written to its stdin, answers
 * lines it writes to its file descriptor 3; what it prints on stdout and
 * stderr is captured (the tail, capped at opts->capture_cap) apart from the
 * answers, so that Moodle code printing on stdout never mixes with them.
 * opts->out_fd and opts->timeout_s are not used (each read has its own
 * timeout). The program is forked by a thread that waits for it, so it
 * dies with us, not with the thread that started it. One thread at a time
 * may use a child_proc.
 */
struct child_proc;

/* Starts it; NULL with errno when it cannot be started. */
struct child_proc *child_proc_start(const struct child_opts *opts);
pid_t child_proc_pid(const struct child_proc *p);
/* Writes line and a newline to its stdin; -1 with errno (EPIPE: gone). */
int child_proc_write(struct child_proc *p, const char *line);
/*
 * The next answer line (without its newline) into *line, caller frees;
 * waits at most timeout_s (0: for ever) while capturing its output. -1
 * with errno: ETIMEDOUT (it still runs), EPIPE (fd 3 closed: it ended or
 * died), EMSGSIZE (an answer longer than 64 MiB).
 */
int child_proc_read(struct child_proc *p, unsigned timeout_s, char **line);
/* What it printed so far (since the last clear), NUL-terminated. */
const char *child_proc_output(const struct child_proc *p);
void child_proc_clear_output(struct child_proc *p);
/* Signals it (its process group when it has one). */
void child_proc_kill(struct child_proc *p, int sig);
/*
 * Closes its stdin, gives it grace_s to end, then SIGTERM and SIGKILL;
 * reaps it and frees p. res (may be NULL) gets how it ended and the rest
 * of its output: release it with child_result_release(). NULL p: no-op.
 */
void child_proc_end(struct child_proc *p, unsigned grace_s,
		    struct child_result *res);

/*
 * A running process, not us, whose command line holds every one of args
 * (NULL-terminated) as a whole argument; an arg starting with '*' matches
 * the end of an argument ("*restore_backup.php"). Its pid, or 0.
 */
pid_t child_find(const char *const args[]);
/*
 * Waits while such a process runs (a Moodle script left by a run killed
 * before this program could die with it), logging it as what; at
 * timeout_s kills its process group. Returns how many were seen.
 */
int child_wait_orphans(const char *const args[], unsigned timeout_s,
		       const char *what);

/* true when res says the program exited with status 0 */
bool child_ok(const struct child_result *res);

/*
 * A one-line description of how it ended: "exit status 3", "killed by
 * signal 9", "timed out after 30 s". Writes into buf and returns it.
 */
const char *child_describe(const struct child_result *res, unsigned timeout_s,
			   char *buf, size_t len);

#endif
