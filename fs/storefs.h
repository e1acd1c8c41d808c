/*
 * storefs: the FUSE operations of sessionarchiverfs over one store.
 *
 * The tree shows the store's sessions, category folders and course backups,
 * read-only; the store's own metadata (.sessionarchiver/, .session/) and
 * every temporary or partial file are never visible. Backups are immutable
 * once in place, so the kernel may cache their pages. The operations are
 * called by libfuse on many threads; they share only the read-only store
 * handle.
 */
#ifndef SA_STOREFS_H
#define SA_STOREFS_H

#include <fuse.h>

struct store;

struct storefs {
	struct store *store; /* borrowed; frozen before fuse_main() */
};

/* The operations table; private_data must be a struct storefs. */
extern const struct fuse_operations storefs_ops;

#endif
