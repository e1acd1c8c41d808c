/*
 * sql: the reads' statements spelled for the server connected (the marks
 * of sql.h), then handed to its driver (mysql.c, pgsql.c).
 */
#include "sql.h"

#include <string.h>

#include "platform.h"
#include "strbuf.h"
#include "xalloc.h"

struct sql_param sql_text(const char *s)
{
	return (struct sql_param){ .is_text = true, .s = s, .len = strlen(s) };
}

const struct sql_driver *sql_driver_of(const char *dbtype)
{
	static const struct {
		const char *dbtype;
		const struct sql_driver *driver;
	} types[] = {
		{ "mysqli", &sql_mysql_driver },
		{ "mariadb", &sql_mysql_driver },
		{ "auroramysql", &sql_mysql_driver },
		{ "pgsql", &sql_pgsql_driver },
	};

	for (size_t i = 0; dbtype && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dbtype, types[i].dbtype) == 0)
			return types[i].driver;
	return NULL;
}

/* "[PATH_PREFIX p, n]" at *at: @1 and @2 of the dialect's template. */
static const char *path_prefix(struct strbuf *sb, const struct sql_dialect *d,
			       const char *at)
{
	const char *args = at + strlen("[PATH_PREFIX "), *comma, *end;

	comma = strstr(args, ", ");
	end = comma ? strchr(comma, ']') : NULL;
	if (!end) {
		sb_addch(sb, *at);
		return at;
	}
	for (const char *t = d->path_prefix; *t; t++) {
		if (t[0] == '@' && t[1] == '1') {
			sb_add(sb, args, (size_t)(comma - args));
			t++;
		} else if (t[0] == '@' && t[1] == '2') {
			sb_add(sb, comma + 2, (size_t)(end - comma - 2));
			t++;
		} else {
			sb_addch(sb, *t);
		}
	}
	return end;
}

static bool mark(const char *at, const char *name)
{
	return strncmp(at, name, strlen(name)) == 0;
}

/* sql.h's marks spelled in m's dialect. Caller frees. */
static char *spell(const struct moodle *m, const char *sql)
{
	const struct sql_dialect *d = m->sql->dialect;
	unsigned param = 0;
	bool literal = false;
	struct strbuf sb;

	sb_init(&sb, strlen(sql) + 64);
	for (const char *p = sql; *p; p++) {
		const char *end;

		if (*p == '\'')
			literal = !literal;
		if (literal) {
			sb_addch(&sb, *p);
		} else if (*p == '{' && (end = strchr(p, '}'))) {
			sb_printf(&sb, "%c%s%.*s%c", d->quote, m->prefix,
				  (int)(end - p - 1), p + 1, d->quote);
			p = end;
		} else if (*p == '?' && d->numbered_params) {
			sb_printf(&sb, "$%u", ++param);
		} else if (mark(p, "[BIGINT]")) {
			sb_adds(&sb, d->bigint);
			p += strlen("[BIGINT]") - 1;
		} else if (mark(p, "[IN_ORDER]")) {
			sb_adds(&sb, d->in_order);
			p += strlen("[IN_ORDER]") - 1;
		} else if (mark(p, "[PATH_PREFIX ")) {
			p = path_prefix(&sb, d, p);
		} else {
			sb_addch(&sb, *p);
		}
	}
	return sb_detach(&sb, NULL);
}

int sql_connect(struct moodle *m, const struct moodle_settings *s)
{
	m->sql = sql_driver_of(s->type);
	if (!m->sql)
		return moodle_fail(m, "no driver for database type '%s'",
				   s->type ? s->type : "(none)");
	return m->sql->connect(m, s);
}

void sql_close(struct moodle *m)
{
	if (m->sql)
		m->sql->close(m);
}

int sql_ping(struct moodle *m)
{
	if (!m->sql || !m->db)
		return moodle_fail(m, "not connected to database '%s'",
				   m->dbname);
	return m->sql->ping(m);
}

int sql_start(struct sql_query *q, struct moodle *m, const char *table,
	      const char *sql, const char *types, const struct sql_param *p,
	      unsigned np)
{
	char *text;
	int rc;

	memset(q, 0, sizeof(*q));
	q->m = m;
	q->table = table;
	q->types = types;
	q->ncols = (unsigned)strlen(types);
	if (!m->sql || !m->db)
		return moodle_fail(m, "not connected to database '%s'",
				   m->dbname);
	text = spell(m, sql);
	rc = m->sql->start(q, text, p, np);
	free(text);
	return rc;
}

int sql_next(struct sql_query *q)
{
	return q->m->sql->next(q);
}

void sql_end(struct sql_query *q)
{
	if (q->m && q->m->sql)
		q->m->sql->end(q);
	memset(q, 0, sizeof(*q));
}
