/*
 * bridge: running moodle/bridge/sessionarchiver-bridge.php, the Moodle
 * operations done through Moodle's PHP API (categories, course deletes,
 * the restore of a course whose name Moodle's restore_backup.php refuses).
 *
 * Once, for one command (its answer is the JSON line after the marker), or
 * as a worker: one PHP process, Moodle set up once, that answers request
 * after request (a batch of deletes costs one Moodle start-up, not one
 * each). Both run as Moodle's CLI does (moodle_cli_argv: its php, its
 * system user) and die with us.
 */
#ifndef SA_BRIDGE_H
#define SA_BRIDGE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

struct moodle;

struct bridge_opts {
	const char *moodle_dir;  /* the platform's code directory */
	bool no_recyclebin;      /* --recyclebin=no: course bins off */
	const char *session;     /* names the run in the process list */
};

/*
 * The command line that runs cmd (with args, NULL-terminated) on m, or NULL
 * with the reason in m's error. Free with moodle_argv_free().
 */
char **bridge_argv(struct moodle *m, const struct bridge_opts *bo,
		   const char *cmd, char *const args[]);

/*
 * Runs argv to its end: the answer, or NULL with the reason in err (the
 * bridge's error, or Moodle's last words when it gave none). running_pid
 * as in child_opts (may be NULL). Caller frees with json_decref().
 */
json_t *bridge_run(char **argv, unsigned timeout_s, _Atomic pid_t *running_pid,
		   char *err, size_t errlen);

struct bridge_worker;

/* Starts the worker on m; NULL with the reason in err. */
struct bridge_worker *bridge_worker_start(struct moodle *m,
					  const struct bridge_opts *bo,
					  char *err, size_t errlen);
pid_t bridge_worker_pid(const struct bridge_worker *w);
/*
 * One request ({"command":...}): the answer, or NULL with the reason in
 * err. *dead (when not NULL) says the worker is gone or past the timeout
 * (it was killed): end it and start another.
 */
json_t *bridge_worker_call(struct bridge_worker *w, json_t *request,
			   unsigned timeout_s, bool *dead, char *err,
			   size_t errlen);
/* Ends it (its stdin closed, then signals) and frees it. NULL: no-op. */
void bridge_worker_end(struct bridge_worker *w);

#endif
