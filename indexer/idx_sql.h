/*
 * idx_sql: the index's SQLite connection and statements, for the modules
 * of indexer/ only (the rest of the program asks their typed functions).
 */
#ifndef SA_IDX_SQL_H
#define SA_IDX_SQL_H

#include <sqlite3.h>

#include "idx.h"

/* The connection, for indexer modules that run their own statements. */
sqlite3 *idx_db(struct idx *idx);

/*
 * The statement for sql, prepared on first use and cached for the life of
 * the handle (sql must be a string literal: it is the cache key). Returned
 * reset and with bindings cleared. NULL (error logged) on a bad statement,
 * which is a bug.
 */
sqlite3_stmt *idx_stmt(struct idx *idx, const char *sql);

/* Column col of st's row when it is text, else NULL (valid until the next
 * step or reset). */
static inline const char *idx_column_text(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_TEXT
		       ? (const char *)sqlite3_column_text(st, col)
		       : NULL;
}

#endif
