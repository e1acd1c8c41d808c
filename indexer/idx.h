/*
 * idx: the local SQLite index of a store.
 *
 * A cache of the store, never the truth: `index --rebuild` recreates it from
 * the store alone. It lives on local disk (SQLite locking over NFS is
 * unsafe), in WAL mode so that readers (the mount's threads, `status`) never
 * wait for the writer. The schema is an array of steps; step N moves
 * PRAGMA user_version from N-1 to N in one transaction; a database newer
 * than the code is refused untouched.
 *
 * One handle = one SQLite connection: a thread uses its own handle.
 * Statements are prepared once per handle and kept (idx_stmt(), in
 * idx_sql.h: only indexer/ runs SQL; the others ask its typed functions).
 */
#ifndef SA_IDX_H
#define SA_IDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The schema version this code writes. */
#define IDX_SCHEMA_VERSION 3

struct idx;

enum idx_open_flags {
	IDX_READONLY = 1, /* no migration, no writes; the file must exist */
};

/*
 * Opens (creating when needed, unless IDX_READONLY) the index at path and
 * brings its schema up to date. Returns NULL with a reason in err when the
 * file cannot be opened, is not an index, or has a newer schema.
 * Caller frees with idx_free().
 */
struct idx *idx_open(const char *path, int flags, char *err, size_t errlen);
void idx_free(struct idx *idx);

/*
 * The per-user index of a store when none is configured:
 * $XDG_STATE_HOME/sessionarchiver/<store id>.db, else
 * ~/.local/state/sessionarchiver/<store id>.db; its folders are created.
 * Caller frees.
 */
char *idx_default_path(const char *store_id);
/*
 * The id of the store the index was made for: 1 with *out (caller
 * frees), 0 when none is recorded yet, -1 (logged) when it cannot be read.
 */
int idx_store_id(struct idx *idx, char **out);

const char *idx_path(const struct idx *idx);
/* PRAGMA user_version as found on disk before any migration. */
int idx_schema_found(const struct idx *idx);

/*
 * Closes the handle without the checkpoint SQLite makes when the last
 * connection to a file closes (it would delete the -wal and -shm of the
 * file now at the path, when that is another file: a replaced index's).
 */
void idx_free_no_checkpoint(struct idx *idx);
/* PRAGMA user_version of the database file at path, opened read-only and
 * never migrated; -1 when it cannot be read. */
int idx_file_schema_version(const char *path);

/* What idx_probe() found of an index file. */
enum idx_probe_state {
	IDX_PROBE_OK,          /* opens, with this schema, of this store */
	IDX_PROBE_NO_FOLDER,   /* its folder does not exist */
	IDX_PROBE_ABSENT,      /* not created yet */
	IDX_PROBE_OLDER,       /* an older schema: `index` migrates it */
	IDX_PROBE_NEWER,       /* written by a newer version */
	IDX_PROBE_UNREADABLE,  /* not an index this version can open */
	IDX_PROBE_OTHER_STORE, /* opens, but is another store's */
};

struct idx_probe {
	enum idx_probe_state state;
	int schema;    /* OK: found; OLDER, NEWER: the file's */
	char *folder;  /* NO_FOLDER: the folder */
	char *owner;   /* OTHER_STORE: the store it belongs to */
	char error[512]; /* NEWER, UNREADABLE: why it does not open */
};

/*
 * Looks at the index at path, read-only, creating and changing nothing:
 * does it open, with which schema, and is it the store store_id's (not
 * checked when NULL)? idx_probe_release() after.
 */
void idx_probe(const char *path, const char *store_id, struct idx_probe *out);
void idx_probe_release(struct idx_probe *p);
/* The SQLite library's version, for --version. */
const char *idx_sqlite_version(void);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. 0 or -1 (error logged). */
int idx_begin(struct idx *idx);
int idx_commit(struct idx *idx);
void idx_rollback(struct idx *idx);

/* Runs sql (no results expected); 0 or -1 with the error logged. */
int idx_exec(struct idx *idx, const char *sql);
/* Logs "index 'PATH': what: sqlite message" and returns -1. */
int idx_fail(struct idx *idx, const char *what);

/* Course states, in the order an archive goes through them. */
#define IDX_STATES "pending", "archived", "restored", "verified", "purged", \
		   "failed", "unknown"

/* Session id for name, created when missing. -1 on error. */
int64_t idx_session_ensure(struct idx *idx, const char *name);
/* Session id for name, 0 when unknown, -1 on error. */
int64_t idx_session_find(struct idx *idx, const char *name);

/*
 * Category id for path (relative to the session folder, "A/B"), created
 * with its parents when missing. NULL / "" path is the session root: 0.
 * -1 on error.
 */
int64_t idx_category_ensure(struct idx *idx, int64_t session_id,
			    const char *path);

#endif
