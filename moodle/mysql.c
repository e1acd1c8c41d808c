/*
 * mysql: the SQL driver for MySQL and MariaDB, on libmysqlclient (see
 * sql.h; its dialect is the last table here). Text columns are read into small buffers and fetched again, up
 * to SQL_VALUE_MAX, when longer. The session is read-only: the server enforces
 * that the reads never write.
 */
#include "sql.h"

#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "strbuf.h"
#include "xalloc.h"


struct sql_conn {
	MYSQL *mysql;
};

struct column_buf {
	char small[256];
	char *big;
	unsigned long len;
	my_bool null;
	my_bool error;
};

struct sql_stmt {
	MYSQL_STMT *st;
	MYSQL_BIND bind[SQL_MAX_COLS];
	struct column_buf buf[SQL_MAX_COLS];
};

static int stmt_fail(struct sql_query *q, const char *doing)
{
	return moodle_fail(q->m, "cannot %s table '%s%s' in database '%s': %s",
			   doing, q->m->prefix, q->table, q->m->dbname,
			   mysql_stmt_error(q->stmt->st));
}

static void my_end(struct sql_query *q)
{
	if (q->stmt) {
		if (q->stmt->st)
			mysql_stmt_close(q->stmt->st);
		for (unsigned i = 0; i < SQL_MAX_COLS; i++)
			free(q->stmt->buf[i].big);
		free(q->stmt);
		q->stmt = NULL;
	}
}

static int my_start(struct sql_query *q, const char *text,
		    const struct sql_param *p, unsigned np)
{
	struct moodle *m = q->m;
	const char *table = q->table, *types = q->types;
	MYSQL_BIND pb[SQL_MAX_PARAMS];
	struct sql_stmt *s;
	int rc;

	q->stmt = s = xcalloc(1, sizeof(*s));
	s->st = mysql_stmt_init(m->db->mysql);
	if (!s->st) {
		moodle_fail(m, "cannot query database '%s': %s", m->dbname,
			    mysql_error(m->db->mysql));
		goto out_end;
	}
	rc = mysql_stmt_prepare(s->st, text, strlen(text));
	if (rc) {
		unsigned no = mysql_stmt_errno(s->st);

		m->schema_missing = no == ER_NO_SUCH_TABLE ||
				    no == ER_BAD_FIELD_ERROR;
		if (no == ER_NO_SUCH_TABLE)
			moodle_fail(m, "table '%s%s' missing in database '%s'",
				    m->prefix, table, m->dbname);
		else
			stmt_fail(q, "read");
		goto out_end;
	}
	memset(pb, 0, sizeof(pb));
	for (unsigned i = 0; i < np; i++) {
		if (p[i].is_text) {
			pb[i].buffer_type = MYSQL_TYPE_STRING;
			pb[i].buffer = (void *)p[i].s;
			pb[i].buffer_length = p[i].len;
			pb[i].length = (unsigned long *)&p[i].len;
		} else {
			pb[i].buffer_type = MYSQL_TYPE_LONGLONG;
			pb[i].buffer = (void *)&p[i].i;
		}
	}
	if (np && mysql_stmt_bind_param(s->st, pb)) {
		stmt_fail(q, "read");
		goto out_end;
	}
	for (unsigned i = 0; i < q->ncols; i++) {
		MYSQL_BIND *b = &s->bind[i];
		struct column_buf *c = &s->buf[i];

		if (types[i] == 'i') {
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = &q->col[i].i;
		} else {
			b->buffer_type = MYSQL_TYPE_STRING;
			b->buffer = c->small;
			b->buffer_length = sizeof(c->small);
		}
		b->length = &c->len;
		b->is_null = &c->null;
		b->error = &c->error;
	}
	if (q->ncols && mysql_stmt_field_count(s->st) != q->ncols) {
		moodle_fail(m, "cannot read table '%s%s' in database '%s': %u "
			    "columns, %u expected", m->prefix, table, m->dbname,
			    mysql_stmt_field_count(s->st), q->ncols);
		goto out_end;
	}
	if ((q->ncols && mysql_stmt_bind_result(s->st, s->bind)) ||
	    mysql_stmt_execute(s->st)) {
		stmt_fail(q, "read");
		goto out_end;
	}
	return 0;
out_end:
	sql_end(q);
	return -1;
}

static int my_next(struct sql_query *q)
{
	struct sql_stmt *s = q->stmt;
	int rc = mysql_stmt_fetch(s->st);

	if (rc == MYSQL_NO_DATA)
		return 0;
	if (rc == 1)
		return stmt_fail(q, "read");
	for (unsigned i = 0; i < q->ncols; i++) {
		struct column_buf *c = &s->buf[i];
		struct sql_column *col = &q->col[i];
		MYSQL_BIND b;

		if (q->types[i] == 'i') {
			if (c->null)
				col->i = 0;
			else if (c->error)
				return moodle_fail(q->m, "number out of range "
						   "in table '%s%s' of "
						   "database '%s'",
						   q->m->prefix, q->table,
						   q->m->dbname);
			continue;
		}
		if (c->null) {
			col->s = "";
			continue;
		}
		if (c->len < sizeof(c->small)) {
			c->small[c->len] = '\0';
			col->s = c->small;
			continue;
		}
		if (c->len > SQL_VALUE_MAX)
			return moodle_fail(q->m, "value longer than %d bytes "
					   "in table '%s%s' of database '%s'",
					   SQL_VALUE_MAX, q->m->prefix, q->table,
					   q->m->dbname);
		c->big = xrealloc(c->big, c->len + 1);
		memset(&b, 0, sizeof(b));
		b.buffer_type = MYSQL_TYPE_STRING;
		b.buffer = c->big;
		b.buffer_length = c->len + 1;
		if (mysql_stmt_fetch_column(s->st, &b, i, 0))
			return stmt_fail(q, "read");
		c->big[c->len] = '\0';
		col->s = c->big;
	}
	return 1;
}

static int my_connect(struct moodle *m, const struct moodle_settings *s)
{
	unsigned connect_timeout = SQL_CONNECT_TIMEOUT_S;
	unsigned read_timeout = SQL_READ_TIMEOUT_S;
	my_bool on = 1;
	const char *host = s->host ? s->host : "localhost";
	static const char read_only[] = "SET SESSION TRANSACTION READ ONLY";
	char where[512];
	MYSQL *db;

	if (s->socket && !strcmp(host, "localhost"))
		snprintf(where, sizeof(where), "'%s' (socket '%s')", host,
			 s->socket);
	else if (s->port)
		snprintf(where, sizeof(where), "'%s' (port %u)", host, s->port);
	else
		snprintf(where, sizeof(where), "'%s'", host);
	db = mysql_init(NULL);
	if (!db)
		return moodle_fail(m, "cannot connect to database '%s' on %s: "
				   "out of memory", s->name, where);
	m->db = xcalloc(1, sizeof(*m->db));
	m->db->mysql = db;
	mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
	mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
	mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &read_timeout);
	mysql_options(db, MYSQL_REPORT_DATA_TRUNCATION, &on);
	if (!mysql_real_connect(db, host, s->user, s->pass, s->name, s->port,
				s->socket, 0))
		return moodle_fail(m, "cannot connect to database '%s' on %s: "
				   "%s", s->name, where, mysql_error(db));
	/* the reads never write: let the server enforce it */
	if (mysql_real_query(db, read_only, sizeof(read_only) - 1))
		return moodle_fail(m, "cannot use database '%s' on %s: %s",
				   s->name, where, mysql_error(db));
	return 0;
}

static int my_ping(struct moodle *m)
{
	if (mysql_ping(m->db->mysql))
		return moodle_fail(m, "lost the connection to database '%s': "
				   "%s", m->dbname, mysql_error(m->db->mysql));
	return 0;
}

static void my_close(struct moodle *m)
{
	if (!m->db)
		return;
	mysql_close(m->db->mysql);
	free(m->db);
	m->db = NULL;
}

static const struct sql_dialect mysql_dialect = {
	.quote = '`',
	.bigint = "SIGNED",
	.in_order = "STRAIGHT_JOIN",
	.path_prefix = "SUBSTRING_INDEX(@1, '/', @2)",
};

const struct sql_driver sql_mysql_driver = {
	.name = "MySQL/MariaDB",
	.dialect = &mysql_dialect,
	.connect = my_connect,
	.close = my_close,
	.ping = my_ping,
	.start = my_start,
	.next = my_next,
	.end = my_end,
};
