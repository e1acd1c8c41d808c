/*
 * journal: the session's line files in STORE/<session>/.session/.
 *
 * manifest.jsonl is written by the source platform, one JSON object per
 * archived course:
 *   {"v":1,"time":T,"source_course_id":N,"file":"Sciences/Maths/M101.mbz",
 *    "sha256":"..","size":N,"shortname":"..","fullname":"..",
 *    "category_path":"Sciences/Maths","site_hash":"..","tool_version":".."}
 * journal-<site>.jsonl is written by one platform only (site = the md5 of
 * its siteidentifier), one event per line:
 *   {"v":1,"time":T,"event":"restore","site":"..","source_course_id":N,
 *    "archive_course_id":M, ...}
 * Events: backup, backup_failed, restore, restore_failed, verify, purge.
 *
 * A shared archive (several hosts archiving one session at once) has one
 * manifest and one source journal per host, manifest@<host>.jsonl and
 * journal-<site>@<host>.jsonl: appends from two NFS clients to one file
 * are not atomic. The session's manifest is then all its manifest files,
 * the latest line of a course winning.
 *
 * Files only grow by whole lines (store_append_line), so a reader keeps a
 * byte offset and reads what was added since; a trailing line without its
 * newline is still being written and is left for next time.
 */
#ifndef SA_JOURNAL_H
#define SA_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SESSION_META_DIR ".session"
#define MANIFEST_FILE "manifest.jsonl"
#define JOURNAL_PREFIX "journal-"
#define JOURNAL_SUFFIX ".jsonl"
#define MANIFEST_HOST_PREFIX "manifest@"

/* Is name one of a session's manifest files? */
bool journal_is_manifest(const char *name);

/*
 * The manifest and the journal of site this host appends to: the shared
 * archive's per-host names when shared. Caller frees.
 */
char *journal_manifest_name(bool shared);
char *journal_name(const char *site_hash, bool shared);
/*
 * The journal the archive platform's operations (restore, verify, purge of
 * the archive side) append to: journal-<site>.jsonl, or, when the archive
 * platform is the source itself (same), journal-<site>-archive.jsonl, so
 * that the two roles of one site keep two journals. Caller frees.
 */
char *journal_archive_name(const char *site_hash, bool same);

/* Called for each well-formed line; obj is borrowed. Non-zero stops. */
typedef int (*journal_line_fn)(void *ctx, long line_no, json_t *obj);

/*
 * Reads the lines of dirfd/name added after *offset (line *lines was the
 * last one read) and calls fn on each JSON object. A line that is not a
 * JSON object, or longer than STORE_LINE_MAX, is skipped with a warning
 * naming display_name and the line number. On return *offset and *lines
 * are past the last complete line. A missing file is not an error: nothing
 * happens. Returns 0, -1 on an I/O error (logged), or fn's non-zero value.
 */
int journal_read(int dirfd, const char *name, const char *display_name,
		 off_t *offset, long *lines, journal_line_fn fn, void *ctx);

/*
 * Appends obj as one compact line to dirfd/name, adding "v" and "time"
 * when absent. 0 or -1 with errno.
 */
int journal_append(int dirfd, const char *name, json_t *obj);

/*
 * The session's .session folder in the store (storefd: the store's root),
 * read side: -1 with errno when it does not exist. Caller closes.
 */
int journal_open_meta(int storefd, const char *session);
/*
 * The same, the metadata folder made first when missing, and with
 * make_session the session's folder too. -1 with errno set.
 */
int journal_make_meta(int storefd, const char *session, bool make_session);

/*
 * This machine's name in the store (lease holders, logs): host, or the
 * system's host name when host is NULL or journal_set_host() was never
 * called. Set it once, before threads start.
 */
void journal_set_host(const char *host);
const char *journal_host(void);

/*
 * This host's operation log of a session, in its .session/ folder:
 * "log-<host>.txt" (one writer per host; the mount shows them all).
 * Caller frees.
 */
char *journal_log_name(void);

/* Typed access to a line's fields; absent or wrong type gives def/NULL. */
const char *journal_str(json_t *obj, const char *key);
int64_t journal_int(json_t *obj, const char *key, int64_t def);

#endif
