/*
 * scan: bringing the index up to date with the store.
 *
 * Incremental by default: only course files that are new or changed (size,
 * mtime, inode) are read, and only the manifest and journal lines added
 * since the last scan are applied. A rebuild forgets what the index knew of
 * the store (runs are kept: they are this machine's) and reads everything.
 * Reading, hashing and parsing run on several threads; the index is written
 * by the calling thread, in batches of one transaction each.
 */
#ifndef SA_SCAN_H
#define SA_SCAN_H

#include <stdbool.h>
#include <stdint.h>

struct idx;
struct store;

struct scan_options {
	bool rebuild;
	int threads;       /* readers; 0: one per online CPU */
	bool quiet;        /* no progress bar */
	const char *only;  /* a session name, or NULL for all */
};

struct scan_stats {
	long sessions;
	long files;        /* course files found in the store */
	long read;         /* of which read (new or changed) */
	long failed;       /* of which unreadable as a Moodle backup */
	long vanished;     /* files the index knew that are gone */
	long lines;        /* manifest and journal lines applied */
	int64_t bytes_read;
};

/*
 * Scans the store into the index. Per-file problems (a corrupted backup)
 * are recorded against the file and do not fail the scan. Returns 0, or -1
 * when the store or the index cannot be used (logged), e.g. an index that
 * belongs to another store.
 */
int scan_store(struct idx *idx, struct store *st,
	       const struct scan_options *opt, struct scan_stats *stats);

/*
 * What an operation that just wrote a backup tells the index, without a
 * walk of the store: the file as read (read_rc, info, err as
 * mbz_read_path() gave them), then the lines it appended to the session's
 * manifest and journals, then the state of that course (source id course,
 * or 0 for every course of the session). 0 or -1 (logged).
 */
struct stat;
struct mbz_info;
int scan_record_file(struct idx *idx, int64_t session_id, const char *file,
		     const struct stat *sb, int read_rc,
		     const struct mbz_info *info, const char *err);
int scan_session_feeds(struct idx *idx, struct store *store,
		       const char *session, int64_t course);

#endif
