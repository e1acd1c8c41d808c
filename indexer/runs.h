/*
 * runs: which operation runs on which session, in the index.
 *
 * A run row names the operation, its process and host, its counters and
 * its last error. A run is alive while its process is: the lock that keeps
 * a second run of a session away checks the pid on this host, never a flag
 * that a killed process would leave behind. Refused requests (a bad
 * control write) are recorded as runs in state "refused" so that `status`
 * shows why, apart from the operations. Each call is one transaction on
 * the caller's handle.
 */
#ifndef SA_RUNS_H
#define SA_RUNS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct idx;

/* Is pid a live process on this host (host as gethostname() says)? */
bool runs_alive_here(pid_t pid, const char *host);

struct run_info {
	int64_t id;
	char operation[32];
	char state[32];
	pid_t pid;
};

/*
 * The live run of the session, if any: returns 1 and fills *out, 0 when
 * none is alive, -1 on error. Rows of dead processes are closed on the way
 * (state "interrupted").
 */
int runs_active(struct idx *idx, int64_t session_id, struct run_info *out);

enum runs_steer { RUNS_PAUSE, RUNS_RESUME, RUNS_CANCEL };

/*
 * Pauses, resumes or cancels the live run of the session (SIGUSR1,
 * SIGUSR2, SIGTERM), for the CLI and the mount alike. 0 with *run filled;
 * -EINVAL when none runs or it cannot be paused (index, verify); -EIO
 * when the index cannot be read or the signal sent. why says which.
 */
int runs_steer(struct idx *idx, int64_t session_id, const char *session,
	       enum runs_steer how, struct run_info *run, char *why,
	       size_t whylen);

/*
 * Starts a run unless one is alive on the session (then returns 0 and
 * fills *busy): the check and the insert are one transaction. A live run
 * of the same pid (the mount recorded the process it started) is adopted.
 * Returns the run id (> 0), or -1 on error. busy must not be NULL.
 */
int64_t runs_begin(struct idx *idx, int64_t session_id, const char *operation,
		   pid_t pid, const char *window, struct run_info *busy);

/*
 * Ends a run with a final state ("finished", "failed", "cancelled"...).
 * A run is ended once: later calls change nothing.
 */
int runs_end(struct idx *idx, int64_t run_id, const char *state,
	     const char *last_error);

/* The counters of a live run, as `status` shows them. */
struct run_counters {
	int64_t done, failed, total;
	int64_t bytes_done, bytes_total;
	const char *current; /* courses in progress, or NULL */
	const char *last_error; /* NULL: keep the previous one */
};
int runs_update(struct idx *idx, int64_t run_id,
		const struct run_counters *c);

/* Sets the state of a live run ("running", "paused", "waiting-window"). */
int runs_set_state(struct idx *idx, int64_t run_id, const char *state);

/* Refused rows kept per session: the latest, older ones are deleted. */
#define RUNS_REFUSED_KEPT 10

/*
 * Records a refused request: a closed run in state "refused" holding the
 * reason. It never started: its started is 0 and its time is ended, so
 * that the latest run by start (what report_status() shows) is the last
 * real operation. Refused rows of the session beyond RUNS_REFUSED_KEPT
 * are deleted in the same transaction: a flood of bad control writes
 * cannot grow the table.
 */
int runs_refused(struct idx *idx, int64_t session_id, const char *operation,
		 const char *reason);

/*
 * Brings refused rows recorded before runs_refused() worked as above
 * (started set, every one kept) to its form, in every session. One
 * transaction; 0, or -1 (logged).
 */
int runs_tidy_refused(struct idx *idx);

/*
 * Sets the refusals apart in report_status()'s result, changed in place,
 * in each session object: "last_error" becomes the latest error of a run
 * that is not a refusal, a session whose runs are all refusals reads
 * idle, and "last_refused" is {"time", "operation", "reason"} of its
 * latest refusal, or null. 0, or -1 (logged).
 */
int runs_report_refusals(struct idx *idx, json_t *status);

/*
 * report_status_text() and, for one session in detail, a line
 * "last_refused: TIME REASON" ("-" when none). Caller frees.
 */
char *runs_status_text(json_t *status, bool detailed);

#endif
