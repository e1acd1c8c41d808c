/*
 * ops: the FUSE operations of sessionarchiverfs.
 *
 * Metadata (getattr, readdir, xattrs) comes from the index, never from the
 * shared storage; course backups are read from the store by file
 * descriptor (splice-capable) with kernel caching, since a backup never
 * changes once in place; status, plan, report and log are generated at
 * open and read with direct_io, so they are never stale. libfuse calls
 * these on many threads; each thread uses its own index connection.
 */
#ifndef SA_OPS_H
#define SA_OPS_H

#include <fuse.h>

/* The operations table; private_data must be a struct fsd. */
extern const struct fuse_operations fs_ops;

#endif
