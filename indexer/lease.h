/*
 * lease: who does what, across every host sharing the store, in files of
 * the session's .session folder. The session lease, for the operations
 * that must run alone, names its holder in STORE/<session>/.session/
 * lease.json:
 *   {"v":1,"host":"..","pid":N,"operation":"restore","started":T,
 *    "heartbeat":T,"token":".."}
 * It is made with open(O_CREAT|O_EXCL), refreshed (heartbeat) by writing a
 * new file and renaming it over, and taken over the same way by the one
 * contender that made .lease-takeover with O_EXCL: the only operations a
 * shared filesystem (NFS, CephFS, GlusterFS) does atomically. No lock
 * over the network, and clocks need only agree within the grace.
 */
#ifndef SA_LEASE_H
#define SA_LEASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEASE_FILE "lease.json"
/*
 * A shared archive (archive --share): its members are leases in
 * .session/members/ (<host>-<pid>.json, with their counts), its courses
 * claims in .session/claims/ (<course id>.json). A member joins holding
 * the session lease for a moment, as LEASE_JOIN_OPERATION; the operations
 * that must run alone refuse while a member is live.
 */
#define LEASE_MEMBERS_DIR "members"
#define LEASE_CLAIMS_DIR "claims"
#define LEASE_JOIN_OPERATION "archive --share"

struct lease;

struct lease_holder {
	char *host;
	int64_t pid;
	char *operation;
	int64_t started, heartbeat; /* time(NULL) of the holder's clock */
	char *token;                /* NULL when the file could not be read */
	char *state;                /* a finished claim's outcome, or NULL */
	json_t *fields;             /* the whole file, NULL when unreadable */
};

enum lease_result {
	LEASE_TAKEN,      /* it was free */
	LEASE_TAKEN_OVER, /* from a holder silent for longer than grace, or
			     a dead process of this host: see *other */
	LEASE_BUSY,       /* a live holder: see *other */
	LEASE_ERROR,      /* logged */
};

/*
 * Takes the lease of the session whose .session folder is metafd, for
 * operation, as host (this machine's name in the store). A holder whose
 * heartbeat is older than grace seconds is taken over. On success a
 * thread refreshes the heartbeat every grace/6 seconds; if it finds the
 * lease no longer ours (another host took it over while this one was
 * stalled), it logs it and sends this process SIGTERM, which a run treats
 * as cancel. *other is filled for LEASE_TAKEN_OVER and LEASE_BUSY (release
 * it with lease_holder_release()). Returns the lease, NULL unless taken.
 */
struct lease *lease_take(int metafd, const char *host, const char *operation,
			 unsigned grace, enum lease_result *res,
			 struct lease_holder *other);

/*
 * The same mechanism on any file name of dirfd: a course claim, a member
 * of a shared archive. detail (stolen, may be NULL) adds fields to the
 * file. A lost claim signals the process (SIGTERM) only when
 * signal_on_loss; lease_held() says so anyway.
 * A claim finished with lease_finish() stays as the course's outcome and
 * is never taken over: *res is then LEASE_BUSY with other->state set.
 */
struct lease *lease_claim(int dirfd, const char *name, const char *host,
			  const char *operation, unsigned grace,
			  json_t *detail, bool signal_on_loss,
			  enum lease_result *res, struct lease_holder *other);

/* Is the file still ours? Reads it now; once lost, always false. */
bool lease_held(struct lease *l);

/* Replaces the extra fields (stolen) and writes the file now. 0 or -1. */
int lease_set_detail(struct lease *l, json_t *detail);

/*
 * Stops the heartbeat and, if the file is still ours, leaves it with
 * "state": state, the outcome others read. Frees l. 0, or -1 when lost.
 */
int lease_finish(struct lease *l, const char *state);

/* Stops the heartbeat and removes the lease if it is still ours. */
void lease_release(struct lease *l);

/*
 * The live holders of the *.json leases of dirfd: neither finished nor
 * silent for longer than grace (nor a dead process of host, this host).
 * 0 or -1 (logged); release each, then free(*out).
 */
int lease_list(int dirfd, const char *host, unsigned grace,
	       struct lease_holder **out, size_t *n);

/*
 * Adds to each session object of a report_status() answer its "lease":
 * {"host", "pid", "operation", "started", "heartbeat"} as the store's
 * lease file says (storefd: the store's root), or null, and its
 * "members": the live hosts of a shared archive, [{"host", "pid",
 * "heartbeat", "done", "failed", "elsewhere", "left"}]. What status shows
 * on every host sharing the store.
 */
void lease_report(int storefd, json_t *status);

/* Reads the current holder: 0, 1 when there is none, -1 (logged). */
int lease_read(int metafd, struct lease_holder *out);
void lease_holder_release(struct lease_holder *h);

#endif
