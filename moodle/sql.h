/*
 * sql: prepared statements on Moodle's database, whatever its server. The
 * reads (db.c) are written once against this; a driver (mysql.c, on
 * libmysqlclient) connects and runs them.
 *
 * SQL text holds "{table}" placeholders; the driver replaces them with the
 * quoted, prefixed table name (the prefix was checked against [a-z0-9_]+:
 * names cannot be bound). Each result column is typed by one letter, 'i'
 * an integer (0 when NULL), 's' text ("" when NULL, at most VALUE_MAX
 * bytes).
 */
#ifndef SA_MOODLE_SQL_H
#define SA_MOODLE_SQL_H

#include <stdbool.h>

struct moodle;
struct moodle_settings;
struct sql_stmt;

#define SQL_MAX_COLS 8
#define SQL_MAX_PARAMS 4

struct sql_param {
	bool is_text;
	long long i;
	const char *s;
	unsigned long len;
};

static inline struct sql_param sql_int(long long i)
{
	return (struct sql_param){ .i = i };
}

struct sql_param sql_text(const char *s);

struct sql_column {
	long long i;   /* 'i' columns */
	const char *s; /* 's' columns: valid until the next row */
};

struct sql_query {
	struct moodle *m;
	const char *table; /* the main table, for messages */
	const char *types; /* one letter per column */
	unsigned ncols;
	struct sql_column col[SQL_MAX_COLS];
	struct sql_stmt *stmt; /* the driver's */
};

/*
 * Connects m (m->dbname set) with s, read-only. 0, or -1 with
 * moodle_error() set. sql_close() ends the connection (NULL: no-op).
 */
int sql_connect(struct moodle *m, const struct moodle_settings *s);
void sql_close(struct moodle *m);
/* Whether the connection still holds: 0, or -1 with moodle_error() set. */
int sql_ping(struct moodle *m);

/*
 * Prepares sql, binds params and the result columns described by types,
 * executes. 0, or -1 with moodle_error() set (a missing table named as
 * such) and q ended.
 */
int sql_start(struct sql_query *q, struct moodle *m, const char *table,
	      const char *sql, const char *types, const struct sql_param *p,
	      unsigned np);
/* The next row into q->col: 1, 0 at the end, -1 with moodle_error() set. */
int sql_next(struct sql_query *q);
void sql_end(struct sql_query *q);

#endif
