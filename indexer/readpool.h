/*
 * readpool: reading many backups at once.
 *
 * Reading a .mbz is one sequential pass that both hashes and inflates: CPU
 * bound, so N files are read on N threads. Results are handed back to the
 * calling thread in the order given, so that the caller (which owns the
 * SQLite connection) writes them without locks.
 */
#ifndef SA_READPOOL_H
#define SA_READPOOL_H

#include <stddef.h>

#include "mbz.h"

/*
 * Called on the calling thread for each path, in order. rc and err are
 * mbz_read_path()'s; info is released after the call returns. Non-zero
 * stops handing out results (reading already started still finishes).
 */
typedef int (*readpool_fn)(void *ctx, size_t i, int rc,
			   const struct mbz_info *info, const char *err);

/*
 * Reads paths[0..n) in mode with `threads` threads (0: one per CPU).
 * Returns 0, or the first non-zero value fn returned.
 */
int readpool_run(char *const *paths, size_t n, enum mbz_mode mode,
		 int threads, readpool_fn fn, void *ctx);

#endif
