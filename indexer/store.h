/*
 * store: the shared directory both Moodle platforms mount.
 *
 * A store is a directory holding .sessionarchiver/store.ini (store id,
 * format version). Everything else in it is sessions, laid out as
 * STORE/<session>/<category path>/<course>.mbz with STORE/<session>/.session/
 * for manifests and journals. Nothing in the store is ever written in place:
 * files appear by atomic rename, journals grow by whole appended lines.
 * A store handle is read-only after store_open() and may be shared by
 * threads.
 */
#ifndef SA_STORE_H
#define SA_STORE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The newest store format this code reads and writes. A new store is
 * format 1, which every version reads; the first shared archive moves it
 * to 2 (per-host manifests, which older versions would not see), so that
 * those versions refuse it instead of missing courses.
 */
#define STORE_FORMAT 2
#define STORE_FORMAT_CREATED 1
#define STORE_FORMAT_SHARED 2
#define STORE_META_DIR ".sessionarchiver"
#define STORE_INI STORE_META_DIR "/store.ini"

struct store;

enum store_error {
	STORE_OK = 0,
	STORE_ERR_IO = -1,        /* cannot read or write; errno-style cause */
	STORE_ERR_NOT_STORE = -2, /* no store.ini or not a directory */
	STORE_ERR_FORMAT = -3,    /* unreadable or newer format version */
	STORE_ERR_EXISTS = -4,    /* store_create on an existing store */
};

/*
 * Makes dir a store: creates dir if needed (its parent must exist), then
 * writes store.ini atomically with a fresh random id. Refuses a directory
 * that is already a store. Returns 0 or an enum store_error with a
 * reason in err.
 */
int store_create(const char *dir, char *err, size_t errlen);

/*
 * Opens an existing store. Returns NULL with a reason in err and the
 * enum store_error in *code when dir is not a store or its format is newer
 * than STORE_FORMAT. Caller frees with store_free().
 */
struct store *store_open(const char *dir, int *code, char *err, size_t errlen);
void store_free(struct store *st);

const char *store_path(const struct store *st); /* absolute */
const char *store_id(const struct store *st);
int store_format(const struct store *st);

/*
 * Moves the store to format (store.ini rewritten atomically, its id kept)
 * when it is older. 0, or -1 with errno.
 */
int store_require_format(struct store *st, int format);

/* Removes a tree below dirfd/name; what cannot go stays (logged). */
void store_remove_tree(int dirfd, const char *name);
/* A directory fd of the store root, for *at() calls; the store owns it. */
int store_dirfd(const struct store *st);

/*
 * Writes len bytes to dirfd/name atomically: a temporary name in the same
 * directory (".name.tmp-PID-N", hidden from listings), fsync, rename over
 * name, fsync of the directory. A reader sees the old file or the new one,
 * never a part. Returns 0, or -1 with errno set and nothing left behind.
 */
int store_write_atomic(int dirfd, const char *name, const void *data,
		       size_t len, int mode);

/*
 * Appends one line (a trailing newline is added) to dirfd/name with
 * O_APPEND in a single write(), then fdatasync. Lines are whole or absent:
 * a line longer than STORE_LINE_MAX is refused. 0, or -1 with errno.
 */
#define STORE_LINE_MAX 65536
int store_append_line(int dirfd, const char *name, const char *line);

/* True for names the store uses for itself or for work in progress. */
bool store_name_is_hidden(const char *name);

#endif
