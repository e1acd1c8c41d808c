/*
 * pgsql: the SQL driver for PostgreSQL, on libpq (see sql.h; its dialect
 * is the last table here). Statements go through the extended protocol
 * (parameters bound, never spliced into the text) and rows come one at a
 * time (single-row mode), as libmysqlclient's do. The session is
 * read-only, UTF-8, with a statement timeout.
 */
#include "sql.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "xalloc.h"

/* SQLSTATE undefined_table, undefined_column */
#define PG_UNDEFINED_TABLE "42P01"
#define PG_UNDEFINED_COLUMN "42703"

struct sql_conn {
	PGconn *pg;
};

struct sql_stmt {
	PGresult *row;  /* the current row's result */
	bool pending;   /* row is one pg_next() has not handed out yet */
	bool done;      /* every result read */
};

static const char *pg_message(PGconn *pg)
{
	const char *msg = PQerrorMessage(pg);
	static __thread char buf[512];
	size_t len;

	/* libpq ends its messages with a newline */
	snprintf(buf, sizeof(buf), "%s", msg && *msg ? msg : "unknown error");
	len = strlen(buf);
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	return buf;
}

static int result_fail(struct sql_query *q, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	q->m->schema_missing =
		state && (strcmp(state, PG_UNDEFINED_TABLE) == 0 ||
			  strcmp(state, PG_UNDEFINED_COLUMN) == 0);
	if (state && strcmp(state, PG_UNDEFINED_TABLE) == 0)
		return moodle_fail(q->m, "table '%s%s' missing in database '%s'",
				   q->m->prefix, q->table, q->m->dbname);
	return moodle_fail(q->m, "cannot read table '%s%s' in database '%s': %s",
			   q->m->prefix, q->table, q->m->dbname,
			   msg ? msg : pg_message(q->m->db->pg));
}

/* Reads what is left of the statement's results: the connection is free. */
static void drain(PGconn *pg)
{
	PGresult *res;

	while ((res = PQgetResult(pg)))
		PQclear(res);
}

static void pg_end(struct sql_query *q)
{
	if (!q->stmt)
		return;
	PQclear(q->stmt->row);
	if (!q->stmt->done && q->m->db)
		drain(q->m->db->pg);
	free(q->stmt);
	q->stmt = NULL;
}

static int pg_start(struct sql_query *q, const char *text,
		    const struct sql_param *p, unsigned np)
{
	PGconn *pg = q->m->db->pg;
	const char *values[SQL_MAX_PARAMS];
	int lengths[SQL_MAX_PARAMS], formats[SQL_MAX_PARAMS];
	char ints[SQL_MAX_PARAMS][24];

	for (unsigned i = 0; i < np; i++) {
		if (p[i].is_text) {
			values[i] = p[i].s;
			lengths[i] = (int)p[i].len;
		} else {
			snprintf(ints[i], sizeof(ints[i]), "%lld", p[i].i);
			values[i] = ints[i];
			lengths[i] = (int)strlen(ints[i]);
		}
		formats[i] = 0;
	}
	q->stmt = xcalloc(1, sizeof(*q->stmt));
	if (!PQsendQueryParams(pg, text, (int)np, NULL, values, lengths,
			       formats, 0)) {
		q->stmt->done = true;
		moodle_fail(q->m, "cannot query database '%s': %s",
			    q->m->dbname, pg_message(pg));
		sql_end(q);
		return -1;
	}
	PQsetSingleRowMode(pg);
	/* the first result says whether the statement ran */
	q->stmt->row = PQgetResult(pg);
	switch (PQresultStatus(q->stmt->row)) {
	case PGRES_SINGLE_TUPLE:
		q->stmt->pending = true;
		break;
	case PGRES_TUPLES_OK: /* no row */
	case PGRES_COMMAND_OK:
		break;
	default:
		result_fail(q, q->stmt->row);
		sql_end(q);
		return -1;
	}
	if (q->ncols && PQnfields(q->stmt->row) != (int)q->ncols) {
		moodle_fail(q->m, "cannot read table '%s%s' in database '%s': "
			    "%d columns, %u expected", q->m->prefix, q->table,
			    q->m->dbname, PQnfields(q->stmt->row), q->ncols);
		sql_end(q);
		return -1;
	}
	if (!q->stmt->pending) {
		PQclear(q->stmt->row);
		q->stmt->row = NULL;
		drain(pg);
		q->stmt->done = true;
	}
	return 0;
}

static int column(struct sql_query *q, const PGresult *res, unsigned i)
{
	struct sql_column *col = &q->col[i];
	const char *v;
	char *end;

	if (PQgetisnull(res, 0, (int)i)) {
		col->i = 0;
		col->s = "";
		return 0;
	}
	v = PQgetvalue(res, 0, (int)i);
	if (q->types[i] == 's') {
		if (PQgetlength(res, 0, (int)i) > SQL_VALUE_MAX)
			return moodle_fail(q->m, "value longer than %d bytes "
					   "in table '%s%s' of database '%s'",
					   SQL_VALUE_MAX, q->m->prefix,
					   q->table, q->m->dbname);
		col->s = v;
		return 0;
	}
	errno = 0;
	col->i = strtoll(v, &end, 10);
	if (errno || end == v || *end)
		return moodle_fail(q->m, "number out of range in table "
				   "'%s%s' of database '%s'",
				   q->m->prefix, q->table, q->m->dbname);
	return 0;
}

static int pg_next(struct sql_query *q)
{
	struct sql_stmt *s = q->stmt;
	PGconn *pg = q->m->db->pg;

	if (s->done)
		return 0;
	if (!s->pending) {
		ExecStatusType st;

		PQclear(s->row);
		s->row = PQgetResult(pg);
		st = s->row ? PQresultStatus(s->row) : PGRES_TUPLES_OK;
		if (st != PGRES_SINGLE_TUPLE) {
			int rc = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK
					 ? 0
					 : result_fail(q, s->row);

			PQclear(s->row);
			s->row = NULL;
			drain(pg);
			s->done = true;
			return rc;
		}
	}
	s->pending = false;
	for (unsigned i = 0; i < q->ncols; i++)
		if (column(q, s->row, i) < 0)
			return -1;
	return 1;
}

static int pg_connect(struct moodle *m, const struct moodle_settings *s)
{
	char port[16], timeout[16];
	const char *keys[10], *values[10];
	const char *host;
	char where[512];
	PGresult *res;
	int n = 0;

	/* Moodle's pgsql driver: a socket directory serves localhost */
	host = s->socket && (!s->host || !strcmp(s->host, "localhost") ||
			     !strcmp(s->host, "127.0.0.1"))
		       ? s->socket
		       : s->host ? s->host : "localhost";
	if (s->port)
		snprintf(where, sizeof(where), "'%s' (port %u)", host, s->port);
	else
		snprintf(where, sizeof(where), "'%s'", host);
	snprintf(port, sizeof(port), "%u", s->port ? s->port : 5432);
	snprintf(timeout, sizeof(timeout), "%u", SQL_CONNECT_TIMEOUT_S);
	keys[n] = "host", values[n++] = host;
	keys[n] = "port", values[n++] = port;
	keys[n] = "dbname", values[n++] = s->name;
	keys[n] = "user", values[n++] = s->user;
	if (s->pass)
		keys[n] = "password", values[n++] = s->pass;
	keys[n] = "connect_timeout", values[n++] = timeout;
	keys[n] = "client_encoding", values[n++] = "UTF8";
	keys[n] = "application_name", values[n++] = "sessionarchiver";
	keys[n] = NULL, values[n] = NULL;
	m->db = xcalloc(1, sizeof(*m->db));
	m->db->pg = PQconnectdbParams(keys, values, 0);
	if (!m->db->pg)
		return moodle_fail(m, "cannot connect to database '%s' on %s: "
				   "out of memory", s->name, where);
	if (PQstatus(m->db->pg) != CONNECTION_OK)
		return moodle_fail(m, "cannot connect to database '%s' on %s: "
				   "%s", s->name, where, pg_message(m->db->pg));
	/* the reads never write: let the server enforce it */
	res = PQexec(m->db->pg,
		     "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;"
		     " SET statement_timeout = '60s'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		PQclear(res);
		return moodle_fail(m, "cannot use database '%s' on %s: %s",
				   s->name, where, pg_message(m->db->pg));
	}
	PQclear(res);
	return 0;
}

static int pg_ping(struct moodle *m)
{
	PGresult *res = PQexec(m->db->pg, "SELECT 1");
	int ok = PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	if (!ok)
		return moodle_fail(m, "lost the connection to database '%s': "
				   "%s", m->dbname, pg_message(m->db->pg));
	return 0;
}

static void pg_close(struct moodle *m)
{
	if (!m->db)
		return;
	PQfinish(m->db->pg);
	free(m->db);
	m->db = NULL;
}

static const struct sql_dialect pgsql_dialect = {
	.quote = '"',
	.numbered_params = true,
	.bigint = "BIGINT",
	.in_order = "",
	.path_prefix = "array_to_string((string_to_array(@1, '/'))[1:@2], '/')",
};

const struct sql_driver sql_pgsql_driver = {
	.name = "PostgreSQL",
	.dialect = &pgsql_dialect,
	.connect = pg_connect,
	.close = pg_close,
	.ping = pg_ping,
	.start = pg_start,
	.next = pg_next,
	.end = pg_end,
};
