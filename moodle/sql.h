/*
 * sql: prepared statements on Moodle's database, whatever its server. The
 * reads (db.c) are written once against this; a driver (mysql.c on
 * libmysqlclient, pgsql.c on libpq) connects and runs them.
 *
 * SQL text is written once, in the SQL both servers speak, with these
 * marks for where their dialects differ (each driver's struct
 * sql_dialect, the table of differences, says how sql.c spells them):
 *   {table}                  the quoted, prefixed table name (the prefix
 *                            was checked against [a-z0-9_]+: names cannot
 *                            be bound)
 *   ?                        a parameter ($1, $2, ... on PostgreSQL)
 *   [BIGINT]                 the type of CAST(x AS [BIGINT])
 *   [IN_ORDER]               after SELECT: join in the order written
 *   [PATH_PREFIX p, n]       the first n parts of path p split at '/'
 * Each result column is typed by one letter, 'i' an integer (0 when NULL),
 * 's' text ("" when NULL, at most SQL_VALUE_MAX bytes).
 */
#ifndef SA_MOODLE_SQL_H
#define SA_MOODLE_SQL_H

#include <stdbool.h>

struct moodle;
struct moodle_settings;
struct sql_stmt;

#define SQL_MAX_COLS 8
#define SQL_MAX_PARAMS 4
/* cap on one text value read from Moodle's tables */
#define SQL_VALUE_MAX (64 * 1024)
#define SQL_CONNECT_TIMEOUT_S 10u
#define SQL_READ_TIMEOUT_S 60u

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
 * A server's dialect: how sql.c spells the marks above. One row per
 * server; a driver names its own.
 */
struct sql_dialect {
	char quote;            /* around identifiers */
	bool numbered_params;  /* $1, $2, ... instead of ? */
	const char *bigint;    /* [BIGINT] */
	const char *in_order;  /* [IN_ORDER] */
	const char *path_prefix; /* [PATH_PREFIX p, n]: @1 is p, @2 is n */
};

/*
 * A driver: one client library. connect/close/ping/start/next/end do what
 * sql_connect() ... sql_end() promise below; start gets the SQL already
 * spelled in its dialect.
 */
struct sql_driver {
	const char *name;      /* "MySQL/MariaDB", "PostgreSQL" */
	const struct sql_dialect *dialect;
	int (*connect)(struct moodle *m, const struct moodle_settings *s);
	void (*close)(struct moodle *m);
	int (*ping)(struct moodle *m);
	int (*start)(struct sql_query *q, const char *sql,
		     const struct sql_param *p, unsigned np);
	int (*next)(struct sql_query *q);
	void (*end)(struct sql_query *q);
};

extern const struct sql_driver sql_mysql_driver;
extern const struct sql_driver sql_pgsql_driver;

/* The driver of a Moodle dbtype (mysqli, mariadb, auroramysql, pgsql). */
const struct sql_driver *sql_driver_of(const char *dbtype);

/*
 * Connects m (m->dbname set) with s, read-only, through the driver of
 * s->type. 0, or -1 with
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
