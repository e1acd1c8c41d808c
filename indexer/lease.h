/*
 * lease: one session's operations that must run alone, across every host
 * sharing the store. The holder is named in STORE/<session>/.session/
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

#include <stdbool.h>
#include <stdint.h>

#define LEASE_FILE "lease.json"

struct lease;

struct lease_holder {
	char *host;
	int64_t pid;
	char *operation;
	int64_t started, heartbeat; /* time(NULL) of the holder's clock */
	char *token;                /* NULL when the file could not be read */
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

/* Stops the heartbeat and removes the lease if it is still ours. */
void lease_release(struct lease *l);

/*
 * Adds to each session object of a report_status() answer its "lease":
 * {"host", "pid", "operation", "started", "heartbeat"} as the store's
 * lease file says (storefd: the store's root), or null. What status shows
 * on every host sharing the store.
 */
struct json_t;
void lease_report(int storefd, struct json_t *status);

/* Reads the current holder: 0, 1 when there is none, -1 (logged). */
int lease_read(int metafd, struct lease_holder *out);
void lease_holder_release(struct lease_holder *h);

#endif
