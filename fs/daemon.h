/*
 * daemon: the state of a running sessionarchiverfs and what it does besides
 * answering the kernel: one index connection per thread (moved to a new
 * index file when the old one was deleted and made again), a background
 * scan of the store, control commands turned into child processes running
 * the sessionarchiver command line, and the per-session operation log.
 *
 * Everything in struct fsd is set before fuse_main() and read-only after,
 * except the members that name their own lock.
 */
#ifndef SA_DAEMON_H
#define SA_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct idx;
struct store;
struct fsd_refusals;

struct fsd {
	struct store *store;
	char *index_path;  /* absolute */
	char *config_path; /* absolute, or NULL */
	char *cli_path;    /* the sessionarchiver program children run */
	unsigned rescan_s; /* background scan period; 0: never */
	uid_t uid;         /* owner of every file of the mount */
	gid_t gid;
	pthread_key_t idx_key; /* this thread's struct idx */

	pthread_mutex_t lock;   /* guards stop and serialises control */
	pthread_cond_t wake;    /* the scanner sleeps on it */
	bool stop;              /* guarded by lock */
	pthread_t scanner;
	bool scanner_started;
	atomic_int children;    /* child processes not yet reaped */

	pthread_mutex_t index_lock; /* guards open_error, file_*, replacement_* */
	char open_error[512];   /* the last failure to open the index logged */
	bool file_known;        /* a thread has opened the index file ... */
	dev_t file_dev;         /* ... this one, the newest any thread reads */
	ino_t file_ino;
	dev_t replacement_dev;  /* the newest index file seen replaced */
	ino_t replacement_ino;
	time_t replacement_seen; /* when (CLOCK_MONOTONIC_COARSE s) */
	bool replacement_told;  /* the log said it is read */
	bool replacement_warned; /* the log said it cannot be */

	pthread_mutex_t refusals_lock; /* guards refusals */
	struct fsd_refusals *refusals; /* per session, what its log was told */
};

/* Fills d (store borrowed) and opens the index once to migrate it. */
int fsd_init(struct fsd *d, struct store *store, const char *index_path,
	     const char *config_path, unsigned rescan_s);
/* Starts the background scanner; called from the FUSE init callback. */
void fsd_start(struct fsd *d);
/* Stops the scanner, waits for it, releases d (not the store). */
void fsd_release(struct fsd *d);

/*
 * This thread's index connection, opened on first use, or NULL. When the
 * index file was deleted and a new one made at its path (looked at once a
 * second at most), the connection moves to the new file: the handle an
 * earlier call returned is then freed, and the ids it gave mean nothing
 * in the new file. So one operation calls it once and keeps the result,
 * and nothing keeps it longer.
 */
struct idx *fsd_idx(struct fsd *d);

/*
 * Handles one control write for session: 0 when the command was accepted
 * (an operation started or a running one was steered), else -EINVAL,
 * -EBUSY, -EPERM or -EIO; the reason goes to the session's status
 * (last_refused) and log. The log takes at most FSD_REFUSALS_LOGGED
 * refusals of a session in FSD_REFUSALS_WINDOW seconds; it is told how
 * many others there were with the session's next line, when the log is
 * read through the mount, or at unmount.
 */
#define FSD_REFUSALS_LOGGED 50
#define FSD_REFUSALS_WINDOW 60
int fsd_control(struct fsd *d, const char *session, const char *buf,
		size_t len);

/*
 * The session's operation log as text: every .session/log-*.txt of the
 * store (one per host), the last LOG_TAIL bytes of each, after this host's
 * log was told of the refusals it did not take. Caller frees.
 */
#define LOG_TAIL (8u * 1024 * 1024)
char *fsd_read_log(struct fsd *d, const char *session, size_t *len);
/* The length of fsd_read_log()'s text, from the files' sizes alone. */
size_t fsd_log_size(struct fsd *d, const char *session);

/*
 * A text file of the session's .session/ folder (plan.txt, report.txt), or
 * fallback when it does not exist. Caller frees.
 */
char *fsd_read_session_text(struct fsd *d, const char *session,
			    const char *name, const char *fallback,
			    size_t *len);

#endif
