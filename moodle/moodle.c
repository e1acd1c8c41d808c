/*
 * moodle: reads a Moodle platform's database and builds its CLI command
 * lines. The database settings come from config.php, evaluated by php
 * itself with ABORT_AFTER_CONFIG (Moodle stops right after its settings,
 * before any connection) and printed as JSON behind a marker, or from the
 * configured db URL and password file. Every query is a prepared statement
 * whose SQL text holds "{table}" placeholders; the table prefix replaces
 * them only after the [a-z0-9_]+ check in moodle_open(). Text columns are
 * read into small buffers and fetched again, up to VALUE_MAX, when longer.
 * The listing of a category's courses is four set-based queries for the
 * whole subtree (courses, sections, activities, estimates), whatever the
 * number of courses.
 *
 * The web-service backend (the last part of this file) answers the same
 * calls through Moodle's REST server with one libcurl handle per moodle
 * handle (kept alive between calls). The token lives in the handle, goes
 * out only in POST bodies, and the bodies are wiped after each call;
 * answers are read into a capped buffer and parsed with jansson. Errors
 * name the URL and the function, never the token: a server message or a
 * parser message that quotes it is not shown.
 */
#include "moodle.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "strbuf.h"
#include "xalloc.h"

/* cap on one text value read from Moodle's tables */
#define VALUE_MAX (64 * 1024)
/* cap on what php prints while reading config.php */
#define PHP_OUTPUT_MAX (64 * 1024)
#define PHP_TIMEOUT_S 30
#define CONNECT_TIMEOUT_S 10u
#define READ_TIMEOUT_S 60u
#define PREFIX_MAX 32
#define MAX_COLS 8
#define MAX_PARAMS 4
#define SETPRIV "/usr/bin/setpriv"

/* Moodle's context levels (lib/accesslib.php) */
#define CONTEXT_COURSECAT 40
#define CONTEXT_COURSE 50

#define CONFIG_MARKER "sessionarchiver-config:"

#define WS_PATH "/webservice/rest/server.php"
/* cap on one web-service answer */
#define WS_ANSWER_MAX (64u * 1024 * 1024)
#define WS_CONNECT_TIMEOUT_S 10L
#define WS_TIMEOUT_S 120L
#define WS_UNAVAILABLE "not available through web services"

struct moodle {
	MYSQL *db;
	char *dir;    /* Moodle code directory; NULL when not configured */
	char *php;
	char *user;   /* system user for the CLI; NULL = ourselves */
	char *prefix; /* checked against [a-z0-9_]+ */
	char *dbname;
	char *wwwroot;  /* from config.php, or [..] url; may be NULL */
	char *dataroot; /* from config.php; NULL with a db URL */
	bool user_known; /* uid and gid hold user's ids */
	uid_t uid;
	gid_t gid;
	char *where; /* "in database 'x'" or "on 'URL'", for messages */
	/* web services only (remote): db is NULL */
	bool remote;
	CURL *curl;
	char *url;     /* the configured url, for messages */
	char *ws_url;  /* url + WS_PATH */
	char *token;   /* secret: wiped by moodle_free() */
	char *release; /* from core_webservice_get_site_info */
	int64_t version;
	struct strbuf *answer; /* the answer being read, capped */
	bool overflow;         /* it hit WS_ANSWER_MAX */
	char curl_err[CURL_ERROR_SIZE];
	char err[1024];
};

static struct moodle *ws_open(const struct config_platform *p, int *code,
			      char *err, size_t errlen);
static int ws_site(struct moodle *m, struct moodle_site *out);
static int ws_categories(struct moodle *m, struct moodle_category **out,
			 size_t *n);
static int ws_courses_in(struct moodle *m, int64_t category_id,
			 bool recursive, struct moodle_course **out,
			 size_t *n);
static int ws_course_get(struct moodle *m, int64_t id,
			 struct moodle_course *out);

/* What connecting needs; pass is a secret, wiped by settings_release(). */
struct settings {
	char *type;
	char *host;
	char *name;
	char *user;
	char *pass;
	char *prefix;
	char *socket;
	unsigned port;
	char *wwwroot;
	char *dataroot;
};

static void settings_release(struct settings *s)
{
	if (s->pass) {
		explicit_bzero(s->pass, strlen(s->pass));
		free(s->pass);
	}
	free(s->type);
	free(s->host);
	free(s->name);
	free(s->user);
	free(s->prefix);
	free(s->socket);
	free(s->wwwroot);
	free(s->dataroot);
	memset(s, 0, sizeof(*s));
}

static int fail(struct moodle *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct moodle *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	return -1;
}

static bool prefix_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= PREFIX_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* "/1/3/7": what Moodle writes in path columns; nothing for LIKE to see */
static bool id_path_ok(const char *s)
{
	if (!s || *s != '/')
		return false;
	for (; *s; s++) {
		if (*s == '/' && (s[1] < '0' || s[1] > '9'))
			return false;
		if (*s != '/' && (*s < '0' || *s > '9'))
			return false;
	}
	return true;
}

/* ---- settings from config.php ----------------------------------------- */

/*
 * Evaluated by php -r with config.php's path as $argv[1]. Moodle's
 * lib/setup.php returns right after the settings when ABORT_AFTER_CONFIG is
 * defined. Whatever config.php prints is dropped; the settings follow the
 * marker on the last line.
 */
static const char php_code[] =
	"define('CLI_SCRIPT', true);"
	"define('ABORT_AFTER_CONFIG', true);"
	"ob_start();"
	"require $argv[1];"
	"while (ob_get_level() > 0) { ob_end_clean(); }"
	"$o = (isset($CFG->dboptions) && is_array($CFG->dboptions))"
	" ? $CFG->dboptions : array();"
	"$v = array();"
	"foreach (array('dbtype', 'dbhost', 'dbname', 'dbuser', 'dbpass',"
	" 'prefix', 'wwwroot', 'dataroot') as $k) {"
	" $v[$k] = isset($CFG->$k) ? $CFG->$k : null; }"
	"$v['dbport'] = isset($o['dbport']) ? $o['dbport'] : null;"
	"$v['dbsocket'] = isset($o['dbsocket']) ? $o['dbsocket'] : null;"
	"echo \"\\n" CONFIG_MARKER "\", json_encode($v), \"\\n\";";

/*
 * A setting as a string: strings as they are, integers in decimal, null,
 * false and "" as NULL. Returns -1 for other types.
 */
static int json_setting(json_t *v, char **out)
{
	*out = NULL;
	if (!v || json_is_null(v) || json_is_false(v))
		return 0;
	if (json_is_string(v)) {
		if (json_string_length(v) > 0)
			*out = xstrndup(json_string_value(v),
					json_string_length(v));
		return 0;
	}
	if (json_is_integer(v)) {
		*out = xasprintf("%lld", (long long)json_integer_value(v));
		return 0;
	}
	return -1;
}

static int parse_php_settings(const char *json, const char *cfgphp,
			      struct settings *s, char *err, size_t errlen)
{
	static const char *const keys[] = { "dbtype", "dbhost",	  "dbname",
					    "dbuser", "dbpass",	  "prefix",
					    "wwwroot", "dataroot", "dbport",
					    "dbsocket" };
	char *vals[sizeof(keys) / sizeof(keys[0])] = { 0 };
	unsigned long long port = 0;
	json_error_t jerr;
	json_t *root;
	size_t i;
	int ret = -1;

	root = json_loads(json, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!root || !json_is_object(root)) {
		/* jerr may quote the text: never show it, it holds dbpass */
		snprintf(err, errlen, "cannot read the settings of '%s': "
			 "php printed no valid JSON", cfgphp);
		goto out;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(root, keys[i]);

		/* dbsocket may be true: the client library's default socket */
		if (!strcmp(keys[i], "dbsocket") && json_is_true(v))
			continue;
		if (json_setting(v, &vals[i]) < 0) {
			snprintf(err, errlen, "bad $CFG->%s in '%s': expected "
				 "a string", keys[i], cfgphp);
			goto out;
		}
	}
	if (vals[8] && config_parse_uint(vals[8], 0, 65535, &port) < 0) {
		snprintf(err, errlen, "bad dboptions 'dbport' in '%s': "
			 "expected a port number", cfgphp);
		goto out;
	}
	s->type = vals[0];
	s->host = vals[1];
	s->name = vals[2];
	s->user = vals[3];
	s->pass = vals[4];
	s->prefix = vals[5];
	s->wwwroot = vals[6];
	s->dataroot = vals[7];
	s->socket = vals[9];
	s->port = (unsigned)port;
	free(vals[8]);
	memset(vals, 0, sizeof(vals));
	if (!s->type || (strcmp(s->type, "mysqli") &&
			 strcmp(s->type, "mariadb") &&
			 strcmp(s->type, "auroramysql"))) {
		snprintf(err, errlen, "'%s': %s platforms are not supported "
			 "(dbtype must be mysqli, mariadb or auroramysql)",
			 cfgphp, s->type ? s->type : "(no dbtype)");
		goto out;
	}
	if (!s->name || !s->user) {
		snprintf(err, errlen, "'%s' sets no %s", cfgphp,
			 !s->name ? "$CFG->dbname" : "$CFG->dbuser");
		goto out;
	}
	ret = 0;
out:
	if (vals[4])
		explicit_bzero(vals[4], strlen(vals[4]));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		free(vals[i]);
	json_decref(root);
	return ret;
}

static int settings_from_php(const struct config_platform *p,
			     struct settings *s, char *err, size_t errlen)
{
	struct child_result res = { 0 };
	struct child_opts opts = { 0 };
	char *argv[6] = { 0 };
	char how[128];
	char *cfgphp, *json;
	struct stat st;
	int ret = -1;

	if (!p->moodle) {
		snprintf(err, errlen, "no Moodle directory: set 'moodle' "
			 "(or 'db' and 'db_password_file')");
		return -1;
	}
	cfgphp = xasprintf("%s/config.php", p->moodle);
	if (stat(cfgphp, &st) < 0 || access(cfgphp, R_OK) < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", cfgphp,
			 strerror(errno));
		goto out;
	}
	argv[0] = p->php;
	argv[1] = "-r";
	argv[2] = (char *)php_code;
	argv[3] = "--";
	argv[4] = cfgphp;
	opts.argv = argv;
	opts.envp = child_default_env;
	opts.cwd = p->moodle;
	opts.out_fd = -1;
	opts.capture_cap = PHP_OUTPUT_MAX;
	opts.timeout_s = PHP_TIMEOUT_S;
	opts.own_group = true;
	if (child_run(&opts, &res) < 0) {
		snprintf(err, errlen, "cannot run '%s': %s", p->php,
			 strerror(errno));
		goto out_release;
	}
	/* the output holds dbpass: it is never shown, only described */
	json = NULL;
	if (!res.truncated && res.output)
		json = strstr(res.output, "\n" CONFIG_MARKER);
	if (!child_ok(&res) || !json) {
		snprintf(err, errlen, "cannot read the settings of '%s': "
			 "'%s' ended with %s%s", cfgphp, p->php,
			 child_describe(&res, PHP_TIMEOUT_S, how, sizeof(how)),
			 child_ok(&res) ? " without printing them" : "");
		goto out_release;
	}
	ret = parse_php_settings(json + strlen("\n" CONFIG_MARKER), cfgphp, s,
				 err, errlen);
out_release:
	if (res.output)
		explicit_bzero(res.output, res.output_len);
	child_result_release(&res);
out:
	free(cfgphp);
	return ret;
}

/* ---- settings from the db URL ------------------------------------------ */

static int settings_from_url(const struct config_platform *p,
			     struct settings *s, char *err, size_t errlen)
{
	s->type = xstrdup("mysqli");
	s->host = xstrdup(p->db.host);
	s->name = xstrdup(p->db.name);
	s->user = xstrdup(p->db.user);
	s->port = p->db.port;
	s->socket = p->db.socket ? xstrdup(p->db.socket) : NULL;
	s->wwwroot = p->url ? xstrdup(p->url) : NULL;
	/* without config.php, Moodle's default prefix */
	s->prefix = xstrdup("mdl_");
	if (p->db_password_file &&
	    config_read_secret(p->db_password_file, &s->pass, err, errlen) < 0)
		return -1;
	return 0;
}

/* ---- prepared statements ----------------------------------------------- */

struct param {
	bool is_text;
	long long i;
	const char *s;
	unsigned long len;
};

static struct param int_param(long long i)
{
	return (struct param){ .i = i };
}

static struct param text_param(const char *s)
{
	return (struct param){ .is_text = true, .s = s, .len = strlen(s) };
}

struct column {
	long long i;  /* 'i' columns; 0 when NULL */
	const char *s; /* 's' columns: valid until the next row; "" if NULL */
	char small[256];
	char *big;
	unsigned long len;
	my_bool null;
	my_bool error;
};

struct query {
	struct moodle *m;
	MYSQL_STMT *st;
	const char *table; /* the main table, for messages */
	const char *types; /* one letter per column: 'i' integer, 's' text */
	unsigned ncols;
	MYSQL_BIND bind[MAX_COLS];
	struct column col[MAX_COLS];
};

/* "{course}" becomes `<prefix>course`. */
static char *expand_sql(const struct moodle *m, const char *sql)
{
	struct strbuf sb;

	sb_init(&sb, 0);
	for (const char *p = sql; *p; p++) {
		const char *end;

		if (*p == '{' && (end = strchr(p, '}'))) {
			sb_printf(&sb, "`%s%.*s`", m->prefix, (int)(end - p - 1),
				  p + 1);
			p = end;
		} else {
			sb_addch(&sb, *p);
		}
	}
	return sb_detach(&sb, NULL);
}

static int stmt_fail(struct query *q, const char *doing)
{
	return fail(q->m, "cannot %s table '%s%s' in database '%s': %s", doing,
		    q->m->prefix, q->table, q->m->dbname,
		    mysql_stmt_error(q->st));
}

static void q_end(struct query *q)
{
	if (q->st)
		mysql_stmt_close(q->st);
	for (unsigned i = 0; i < MAX_COLS; i++)
		free(q->col[i].big);
	memset(q, 0, sizeof(*q));
}

/*
 * Prepares sql (with {table} placeholders), binds params and the result
 * columns described by types, executes. 0, or -1 with moodle_error() set
 * and q ended.
 */
static int q_start(struct query *q, struct moodle *m, const char *table,
		   const char *sql, const char *types, const struct param *p,
		   unsigned np)
{
	MYSQL_BIND pb[MAX_PARAMS];
	char *text;
	int rc;

	memset(q, 0, sizeof(*q));
	q->m = m;
	q->table = table;
	q->types = types;
	q->ncols = (unsigned)strlen(types);
	q->st = mysql_stmt_init(m->db);
	if (!q->st) {
		fail(m, "cannot query database '%s': %s", m->dbname,
		     mysql_error(m->db));
		return -1;
	}
	text = expand_sql(m, sql);
	rc = mysql_stmt_prepare(q->st, text, strlen(text));
	free(text);
	if (rc) {
		if (mysql_stmt_errno(q->st) == ER_NO_SUCH_TABLE)
			fail(m, "table '%s%s' missing in database '%s'",
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
	if (np && mysql_stmt_bind_param(q->st, pb)) {
		stmt_fail(q, "read");
		goto out_end;
	}
	for (unsigned i = 0; i < q->ncols; i++) {
		MYSQL_BIND *b = &q->bind[i];
		struct column *c = &q->col[i];

		if (types[i] == 'i') {
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = &c->i;
		} else {
			b->buffer_type = MYSQL_TYPE_STRING;
			b->buffer = c->small;
			b->buffer_length = sizeof(c->small);
		}
		b->length = &c->len;
		b->is_null = &c->null;
		b->error = &c->error;
	}
	if (q->ncols && mysql_stmt_field_count(q->st) != q->ncols) {
		fail(m, "cannot read table '%s%s' in database '%s': %u "
		     "columns, %u expected", m->prefix, table, m->dbname,
		     mysql_stmt_field_count(q->st), q->ncols);
		goto out_end;
	}
	if ((q->ncols && mysql_stmt_bind_result(q->st, q->bind)) ||
	    mysql_stmt_execute(q->st)) {
		stmt_fail(q, "read");
		goto out_end;
	}
	return 0;
out_end:
	q_end(q);
	return -1;
}

/* The next row: 1, 0 at the end, -1 with moodle_error() set. */
static int q_next(struct query *q)
{
	int rc = mysql_stmt_fetch(q->st);

	if (rc == MYSQL_NO_DATA)
		return 0;
	if (rc == 1)
		return stmt_fail(q, "read");
	for (unsigned i = 0; i < q->ncols; i++) {
		struct column *c = &q->col[i];
		MYSQL_BIND b;

		if (q->types[i] == 'i') {
			if (c->null)
				c->i = 0;
			else if (c->error)
				return fail(q->m, "number out of range in "
					    "table '%s%s' of database '%s'",
					    q->m->prefix, q->table,
					    q->m->dbname);
			continue;
		}
		if (c->null) {
			c->s = "";
			continue;
		}
		if (c->len < sizeof(c->small)) {
			c->small[c->len] = '\0';
			c->s = c->small;
			continue;
		}
		if (c->len > VALUE_MAX)
			return fail(q->m, "value longer than %d bytes in "
				    "table '%s%s' of database '%s'", VALUE_MAX,
				    q->m->prefix, q->table, q->m->dbname);
		c->big = xrealloc(c->big, c->len + 1);
		memset(&b, 0, sizeof(b));
		b.buffer_type = MYSQL_TYPE_STRING;
		b.buffer = c->big;
		b.buffer_length = c->len + 1;
		if (mysql_stmt_fetch_column(q->st, &b, i, 0))
			return stmt_fail(q, "read");
		c->big[c->len] = '\0';
		c->s = c->big;
	}
	return 1;
}

/* ---- opening ----------------------------------------------------------- */

static int connect_db(struct moodle *m, const struct settings *s)
{
	unsigned connect_timeout = CONNECT_TIMEOUT_S;
	unsigned read_timeout = READ_TIMEOUT_S;
	my_bool on = 1;
	const char *host = s->host ? s->host : "localhost";
	static const char read_only[] = "SET SESSION TRANSACTION READ ONLY";
	char where[512];

	if (s->socket && !strcmp(host, "localhost"))
		snprintf(where, sizeof(where), "'%s' (socket '%s')", host,
			 s->socket);
	else if (s->port)
		snprintf(where, sizeof(where), "'%s' (port %u)", host, s->port);
	else
		snprintf(where, sizeof(where), "'%s'", host);
	m->db = mysql_init(NULL);
	if (!m->db)
		return fail(m, "cannot connect to database '%s' on %s: out of "
			    "memory", s->name, where);
	mysql_options(m->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(m->db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
	mysql_options(m->db, MYSQL_OPT_READ_TIMEOUT, &read_timeout);
	mysql_options(m->db, MYSQL_OPT_WRITE_TIMEOUT, &read_timeout);
	mysql_options(m->db, MYSQL_REPORT_DATA_TRUNCATION, &on);
	if (!mysql_real_connect(m->db, host, s->user, s->pass, s->name,
				s->port, s->socket, 0))
		return fail(m, "cannot connect to database '%s' on %s: %s",
			    s->name, where, mysql_error(m->db));
	/* this module only reads: let the server enforce it */
	if (mysql_real_query(m->db, read_only, sizeof(read_only) - 1))
		return fail(m, "cannot use database '%s' on %s: %s", s->name,
			    where, mysql_error(m->db));
	return 0;
}

/* The tables and columns this module reads, checked once at open. */
static const struct {
	const char *table;
	const char *columns;
} needed[] = {
	{ "config", "name, value" },
	{ "course_categories", "id, name, idnumber, parent, path, depth, "
			       "sortorder" },
	{ "course", "id, category, shortname, fullname, idnumber, startdate, "
		    "enddate, visible" },
	{ "context", "id, contextlevel, instanceid, path, depth" },
	{ "files", "contextid, component, filename, filesize, contenthash" },
	{ "course_sections", "course" },
	{ "course_modules", "course, deletioninprogress" },
};

static int check_tables(struct moodle *m)
{
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		struct query q;
		char *sql = xasprintf("SELECT %s FROM {%s} LIMIT 0",
				      needed[i].columns, needed[i].table);
		int rc = q_start(&q, m, needed[i].table, sql, "", NULL, 0);

		free(sql);
		if (rc < 0)
			return -1;
		q_end(&q);
	}
	return 0;
}

struct moodle *moodle_open(const struct config_platform *p, int *code,
			   char *err, size_t errlen)
{
	struct settings s = { 0 };
	struct moodle *m = NULL;
	const char *from;

	/* out of our client's reach: the one case for web services */
	if (p->url && p->token_file && !p->moodle && !p->db.set)
		return ws_open(p, code, err, errlen);
	*code = MOODLE_ERR_CONFIG;
	if (p->db.set ? settings_from_url(p, &s, err, errlen) < 0
		      : settings_from_php(p, &s, err, errlen) < 0)
		goto out;
	if (p->prefix) {
		free(s.prefix);
		s.prefix = xstrdup(p->prefix);
		from = "the configured 'prefix'";
	} else {
		from = "$CFG->prefix";
	}
	if (!s.prefix || !prefix_ok(s.prefix)) {
		/* names cannot be bound in SQL: the prefix is pasted in */
		snprintf(err, errlen, "bad table prefix '%s' in %s: expected "
			 "[a-z0-9_]+, at most %d characters",
			 s.prefix ? s.prefix : "", from, PREFIX_MAX);
		goto out;
	}
	m = xcalloc(1, sizeof(*m));
	m->dir = p->moodle ? xstrdup(p->moodle) : NULL;
	m->php = xstrdup(p->php ? p->php : "/usr/bin/php");
	m->user = p->user ? xstrdup(p->user) : NULL;
	m->prefix = xstrdup(s.prefix);
	m->dbname = xstrdup(s.name);
	m->wwwroot = s.wwwroot ? xstrdup(s.wwwroot) : NULL;
	m->dataroot = s.dataroot ? xstrdup(s.dataroot) : NULL;
	m->where = xasprintf("in database '%s'", s.name);
	if (connect_db(m, &s) < 0 || check_tables(m) < 0) {
		*code = MOODLE_ERR_UNREACHABLE;
		snprintf(err, errlen, "%s", m->err);
		moodle_free(m);
		m = NULL;
		goto out;
	}
	*code = 0;
out:
	settings_release(&s);
	return m;
}

void moodle_free(struct moodle *m)
{
	if (!m)
		return;
	if (m->db)
		mysql_close(m->db);
	if (m->curl)
		curl_easy_cleanup(m->curl);
	if (m->token) {
		explicit_bzero(m->token, strlen(m->token));
		free(m->token);
	}
	free(m->where);
	free(m->url);
	free(m->ws_url);
	free(m->release);
	free(m->dir);
	free(m->php);
	free(m->user);
	free(m->prefix);
	free(m->dbname);
	free(m->wwwroot);
	free(m->dataroot);
	free(m);
}

const char *moodle_error(const struct moodle *m)
{
	return m ? m->err : "no Moodle platform";
}

bool moodle_is_remote(const struct moodle *m)
{
	return m->remote;
}

const char *moodle_dir(const struct moodle *m)
{
	return m->dir;
}

/* ---- site -------------------------------------------------------------- */

static char *md5_hex(const char *s)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *hex;

	if (!EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL))
		return NULL;
	hex = xmalloc(2 * n + 1);
	for (unsigned i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return hex;
}

/* Moodle's version: "2024100706", older sites "2024100706.00". */
static int parse_version(const char *s, int64_t *out)
{
	size_t digits = strspn(s, "0123456789");
	unsigned long long v;
	char buf[24];

	if (!digits || digits >= sizeof(buf) ||
	    (s[digits] && (s[digits] != '.' ||
			   strspn(s + digits + 1, "0123456789") !=
				   strlen(s + digits + 1))))
		return -1;
	memcpy(buf, s, digits);
	buf[digits] = '\0';
	if (config_parse_uint(buf, 0, INT64_MAX, &v) < 0)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int moodle_site(struct moodle *m, struct moodle_site *out)
{
	struct query q;
	char *version = NULL;
	int rc;

	if (m->remote)
		return ws_site(m, out);
	memset(out, 0, sizeof(*out));
	if (q_start(&q, m, "config",
		    "SELECT name, value FROM {config} WHERE name IN "
		    "('siteidentifier', 'release', 'version')",
		    "ss", NULL, 0) < 0)
		return -1;
	while ((rc = q_next(&q)) > 0) {
		const char *name = q.col[0].s, *value = q.col[1].s;

		if (!strcmp(name, "siteidentifier")) {
			free(out->siteidentifier);
			out->siteidentifier = xstrdup(value);
		} else if (!strcmp(name, "release")) {
			free(out->release);
			out->release = xstrdup(value);
		} else {
			free(version);
			version = xstrdup(value);
		}
	}
	q_end(&q);
	if (rc < 0)
		goto out_fail;
	if (!out->siteidentifier || !*out->siteidentifier || !out->release ||
	    !version) {
		fail(m, "no '%s' in table '%sconfig' of database '%s'",
		     !out->siteidentifier || !*out->siteidentifier
			     ? "siteidentifier"
			     : !out->release ? "release" : "version",
		     m->prefix, m->dbname);
		goto out_fail;
	}
	if (parse_version(version, &out->version) < 0) {
		fail(m, "bad 'version' in table '%sconfig' of database '%s'",
		     m->prefix, m->dbname);
		goto out_fail;
	}
	out->site_hash = md5_hex(out->siteidentifier);
	if (!out->site_hash) {
		fail(m, "cannot compute md5: OpenSSL refused");
		goto out_fail;
	}
	out->wwwroot = m->wwwroot ? xstrdup(m->wwwroot) : NULL;
	out->dataroot = m->dataroot ? xstrdup(m->dataroot) : NULL;
	free(version);
	return 0;
out_fail:
	free(version);
	moodle_site_release(out);
	return -1;
}

void moodle_site_release(struct moodle_site *s)
{
	free(s->siteidentifier);
	free(s->site_hash);
	free(s->release);
	free(s->wwwroot);
	free(s->dataroot);
	memset(s, 0, sizeof(*s));
}

/* ---- categories -------------------------------------------------------- */

static int cat_by_id(const void *a, const void *b)
{
	int64_t x = (*(const struct moodle_category *const *)a)->id;
	int64_t y = (*(const struct moodle_category *const *)b)->id;

	return (x > y) - (x < y);
}

/* name_path of every category from the ids in its path. */
static int build_name_paths(struct moodle *m, struct moodle_category *c,
			    size_t n)
{
	struct moodle_category **byid = xcalloc(n ? n : 1, sizeof(*byid));
	int ret = -1;

	for (size_t i = 0; i < n; i++)
		byid[i] = &c[i];
	qsort(byid, n, sizeof(*byid), cat_by_id);
	for (size_t i = 0; i < n; i++) {
		struct strbuf sb;

		sb_init(&sb, 0);
		/* Moodle writes the path right after the row: it may lag */
		if (!*c[i].path) {
			sb_printf(&sb, "/%s", c[i].name);
		} else if (!id_path_ok(c[i].path)) {
			sb_release(&sb);
			fail(m, "category %lld has a bad path '%s' %s",
			     (long long)c[i].id, c[i].path, m->where);
			goto out;
		}
		for (const char *p = c[i].path; *p == '/';) {
			struct moodle_category key, *kp = &key, **hit;
			char *end;

			errno = 0;
			key.id = strtoll(p + 1, &end, 10);
			hit = bsearch(&kp, byid, n, sizeof(*byid), cat_by_id);
			if (!hit || errno) {
				sb_release(&sb);
				fail(m, "category %lld has a bad path '%s' %s",
				     (long long)c[i].id, c[i].path, m->where);
				goto out;
			}
			sb_printf(&sb, "/%s", (*hit)->name);
			p = end;
		}
		c[i].name_path = sb_detach(&sb, NULL);
	}
	ret = 0;
out:
	free(byid);
	return ret;
}

int moodle_categories(struct moodle *m, struct moodle_category **out,
		      size_t *n)
{
	struct moodle_category *c = NULL;
	size_t len = 0, alloc = 0;
	struct query q;
	int rc;

	if (m->remote)
		return ws_categories(m, out, n);
	*out = NULL;
	*n = 0;
	if (q_start(&q, m, "course_categories",
		    "SELECT id, parent, name, idnumber, path, depth, sortorder "
		    "FROM {course_categories} ORDER BY path, id",
		    "iisssii", NULL, 0) < 0)
		return -1;
	while ((rc = q_next(&q)) > 0) {
		if (len == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			c = xrealloc(c, alloc * sizeof(*c));
		}
		c[len] = (struct moodle_category){
			.id = q.col[0].i,
			.parent = q.col[1].i,
			.name = xstrdup(q.col[2].s),
			.idnumber = xstrdup(q.col[3].s),
			.path = xstrdup(q.col[4].s),
			.depth = (int)q.col[5].i,
			.sortorder = q.col[6].i,
		};
		len++;
	}
	q_end(&q);
	if (rc < 0 || build_name_paths(m, c, len) < 0) {
		moodle_categories_free(c, len);
		return -1;
	}
	*out = c;
	*n = len;
	return 0;
}

void moodle_categories_free(struct moodle_category *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].name);
		free(c[i].idnumber);
		free(c[i].path);
		free(c[i].name_path);
	}
	free(c);
}

/* ---- courses ----------------------------------------------------------- */

#define COURSE_COLUMNS                                                   \
	"c.id, c.category, c.shortname, c.fullname, c.idnumber, "        \
	"c.startdate, c.enddate, c.visible"
#define COURSE_TYPES "iisssiii"

static void course_from_row(const struct query *q, struct moodle_course *c)
{
	*c = (struct moodle_course){
		.id = q->col[0].i,
		.category = q->col[1].i,
		.shortname = xstrdup(q->col[2].s),
		.fullname = xstrdup(q->col[3].s),
		.idnumber = xstrdup(q->col[4].s),
		.startdate = q->col[5].i,
		.enddate = q->col[6].i,
		.visible = (int)q->col[7].i,
	};
}

static int course_by_id(const void *key, const void *elem)
{
	int64_t x = *(const int64_t *)key;
	int64_t y = ((const struct moodle_course *)elem)->id;

	return (x > y) - (x < y);
}

enum course_field { FIELD_SECTIONS, FIELD_ACTIVITIES, FIELD_ESTIMATE };

/*
 * Runs a "SELECT course, number ... GROUP BY course" query and stores the
 * numbers into the matching courses of c (sorted by id). Courses the
 * query does not name keep 0; rows for other courses are ignored.
 */
static int fill_field(struct moodle *m, struct moodle_course *c, size_t n,
		      const char *table, const char *sql,
		      const struct param *p, unsigned np,
		      enum course_field field)
{
	struct query q;
	int rc;

	if (q_start(&q, m, table, sql, "ii", p, np) < 0)
		return -1;
	while ((rc = q_next(&q)) > 0) {
		int64_t id = q.col[0].i;
		struct moodle_course *hit =
			bsearch(&id, c, n, sizeof(*c), course_by_id);

		if (!hit)
			continue;
		if (field == FIELD_SECTIONS)
			hit->sections = (int)q.col[1].i;
		else if (field == FIELD_ACTIVITIES)
			hit->activities = (int)q.col[1].i;
		else
			hit->estimate = q.col[1].i;
	}
	q_end(&q);
	return rc;
}

/*
 * The estimate of every course of a category subtree in one pass. The
 * contexts below the category's context (a constant LIKE: an index range)
 * lead to their files (by contextid), then to their course context through
 * the path prefix whose length is the course context's depth (an equality:
 * an index lookup), for each depth courses have in the subtree (a handful).
 * STRAIGHT_JOIN keeps that order: left to itself MariaDB 10.11 starts from
 * the courses and scans files once per course (4 minutes for 10,000
 * courses, against 1 s). A join on LIKE CONCAT(cx.path, '/%') could not use
 * an index at all. The site course's context is never below a category.
 * Parameters: the LIKE pattern twice, then the category for the one-level
 * listing.
 */
#define ESTIMATE_SUBTREE_SQL                                                  \
	"SELECT u.course, CAST(COALESCE(SUM(u.filesize), 0) AS SIGNED) FROM (" \
	" SELECT STRAIGHT_JOIN cx.instanceid AS course,"                      \
	"  MAX(f.filesize) AS filesize"                                       \
	" FROM {context} sub"                                                 \
	" JOIN {files} f ON f.contextid = sub.id"                             \
	" JOIN (SELECT DISTINCT depth FROM {context}"                         \
	"       WHERE contextlevel = 50 AND path LIKE ?) d"                   \
	"      ON d.depth <= sub.depth"                                       \
	" JOIN {context} cx ON cx.path = SUBSTRING_INDEX(sub.path, '/',"      \
	"      d.depth + 1) AND cx.depth = d.depth AND cx.contextlevel = 50"  \
	" %s"                                                                 \
	" WHERE sub.path LIKE ? AND f.component <> 'backup'"                  \
	"   AND f.filename <> '.' %s"                                         \
	" GROUP BY cx.instanceid, f.contenthash"                              \
	") u GROUP BY u.course"

static const char sel_recursive[] =
	"c.category IN (SELECT id FROM {course_categories}"
	" WHERE id = ? OR path LIKE ?)";
static const char sel_one[] = "c.category = ?";

int moodle_courses_in(struct moodle *m, int64_t category_id, bool recursive,
		      struct moodle_course **out, size_t *n)
{
	struct moodle_course *c = NULL;
	size_t len = 0, alloc = 0;
	char *cat_path = NULL, *ctx_like = NULL, *cat_like = NULL;
	char *sql = NULL;
	struct param p[MAX_PARAMS] = { 0 };
	unsigned np;
	const char *sel = recursive ? sel_recursive : sel_one;
	struct query q;
	int rc, ret = -1;

	if (m->remote)
		return ws_courses_in(m, category_id, recursive, out, n);
	*out = NULL;
	*n = 0;
	p[0] = int_param(category_id);
	if (q_start(&q, m, "course_categories",
		    "SELECT cc.path, cx.path FROM {course_categories} cc"
		    " LEFT JOIN {context} cx ON cx.contextlevel = 40"
		    " AND cx.instanceid = cc.id WHERE cc.id = ?",
		    "ss", p, 1) < 0)
		return -1;
	rc = q_next(&q);
	if (rc > 0) {
		cat_path = xstrdup(q.col[0].s);
		if (id_path_ok(q.col[1].s))
			ctx_like = xasprintf("%s/%%", q.col[1].s);
	}
	q_end(&q);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		fail(m, "no category with id %lld %s", (long long)category_id,
		     m->where);
		goto out;
	}
	if (recursive && !id_path_ok(cat_path)) {
		fail(m, "category %lld has a bad path '%s' in database '%s'",
		     (long long)category_id, cat_path, m->dbname);
		goto out;
	}
	cat_like = xasprintf("%s/%%", cat_path);
	np = 1;
	if (recursive)
		p[np++] = text_param(cat_like);

	sql = xasprintf("SELECT " COURSE_COLUMNS " FROM {course} c"
			" WHERE c.id <> 1 AND %s ORDER BY c.id", sel);
	if (q_start(&q, m, "course", sql, COURSE_TYPES, p, np) < 0)
		goto out;
	while ((rc = q_next(&q)) > 0) {
		if (len == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			c = xrealloc(c, alloc * sizeof(*c));
		}
		course_from_row(&q, &c[len++]);
	}
	q_end(&q);
	free(sql);
	sql = NULL;
	if (rc < 0)
		goto out;
	if (!len) {
		ret = 0;
		goto out;
	}

	sql = xasprintf("SELECT s.course, COUNT(*) FROM {course_sections} s"
			" JOIN {course} c ON c.id = s.course"
			" WHERE c.id <> 1 AND %s GROUP BY s.course", sel);
	rc = fill_field(m, c, len, "course_sections", sql, p, np,
			FIELD_SECTIONS);
	free(sql);
	sql = NULL;
	if (rc < 0)
		goto out;
	sql = xasprintf("SELECT cm.course, COUNT(*) FROM {course_modules} cm"
			" JOIN {course} c ON c.id = cm.course"
			" WHERE cm.deletioninprogress = 0 AND c.id <> 1 AND %s"
			" GROUP BY cm.course", sel);
	rc = fill_field(m, c, len, "course_modules", sql, p, np,
			FIELD_ACTIVITIES);
	free(sql);
	sql = NULL;
	if (rc < 0)
		goto out;
	if (!ctx_like) {
		fail(m, "category %lld has no context in database '%s'",
		     (long long)category_id, m->dbname);
		goto out;
	}
	{
		/* recursive: the context subtree is the category subtree */
		struct param ep[MAX_PARAMS] = { text_param(ctx_like),
						text_param(ctx_like), p[0] };

		if (recursive)
			sql = xasprintf(ESTIMATE_SUBTREE_SQL, "", "");
		else
			sql = xasprintf(ESTIMATE_SUBTREE_SQL,
					"JOIN {course} c ON c.id = cx.instanceid",
					"AND c.category = ?");
		if (fill_field(m, c, len, "files", sql, ep, recursive ? 2 : 3,
			       FIELD_ESTIMATE) < 0)
			goto out;
	}
	ret = 0;
out:
	free(sql);
	free(cat_path);
	free(cat_like);
	free(ctx_like);
	if (ret < 0) {
		moodle_courses_free(c, len);
		return -1;
	}
	*out = c;
	*n = len;
	return 0;
}

static int count_rows(struct moodle *m, const char *table, const char *sql,
		      int64_t course_id, int *out)
{
	struct param p = int_param(course_id);
	struct query q;
	int rc;

	if (q_start(&q, m, table, sql, "i", &p, 1) < 0)
		return -1;
	rc = q_next(&q);
	if (rc > 0)
		*out = (int)q.col[0].i;
	q_end(&q);
	return rc < 0 ? -1 : 0;
}

int moodle_course_get(struct moodle *m, int64_t id, struct moodle_course *out)
{
	struct param p = int_param(id);
	struct query q;
	int rc;

	if (m->remote)
		return ws_course_get(m, id, out);
	memset(out, 0, sizeof(*out));
	if (q_start(&q, m, "course",
		    "SELECT " COURSE_COLUMNS " FROM {course} c"
		    " WHERE c.id = ? AND c.id <> 1",
		    COURSE_TYPES, &p, 1) < 0)
		return -1;
	rc = q_next(&q);
	if (rc > 0)
		course_from_row(&q, out);
	q_end(&q);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	if (count_rows(m, "course_sections",
		       "SELECT COUNT(*) FROM {course_sections}"
		       " WHERE course = ?",
		       id, &out->sections) < 0 ||
	    count_rows(m, "course_modules",
		       "SELECT COUNT(*) FROM {course_modules}"
		       " WHERE course = ? AND deletioninprogress = 0",
		       id, &out->activities) < 0 ||
	    moodle_course_estimate(m, id, &out->estimate) < 0) {
		moodle_course_release(out);
		return -1;
	}
	return 0;
}

int moodle_course_estimate(struct moodle *m, int64_t course_id,
			   int64_t *bytes)
{
	struct param p[2] = { int_param(course_id) };
	struct query q;
	int64_t ctx_id = 0;
	char *like = NULL;
	int rc;

	*bytes = 0;
	if (m->remote)
		return fail(m, "the estimate of course %lld is " WS_UNAVAILABLE,
			    (long long)course_id);
	if (q_start(&q, m, "context",
		    "SELECT id, path FROM {context}"
		    " WHERE contextlevel = 50 AND instanceid = ?",
		    "is", p, 1) < 0)
		return -1;
	rc = q_next(&q);
	if (rc > 0 && id_path_ok(q.col[1].s)) {
		ctx_id = q.col[0].i;
		like = xasprintf("%s/%%", q.col[1].s);
	}
	q_end(&q);
	if (rc < 0)
		return -1;
	if (!like)
		return fail(m, "course %lld has no context in database '%s'",
			    (long long)course_id, m->dbname);
	p[0] = int_param(ctx_id);
	p[1] = text_param(like);
	rc = q_start(&q, m, "files",
		     "SELECT CAST(COALESCE(SUM(u.filesize), 0) AS SIGNED) FROM ("
		     " SELECT MAX(f.filesize) AS filesize FROM {files} f"
		     " JOIN {context} x ON x.id = f.contextid"
		     " WHERE (x.id = ? OR x.path LIKE ?)"
		     " AND f.component <> 'backup' AND f.filename <> '.'"
		     " GROUP BY f.contenthash) u",
		     "i", p, 2);
	if (rc == 0) {
		rc = q_next(&q);
		if (rc > 0)
			*bytes = q.col[0].i;
		q_end(&q);
	}
	free(like);
	return rc < 0 ? -1 : 0;
}

void moodle_course_release(struct moodle_course *c)
{
	free(c->shortname);
	free(c->fullname);
	free(c->idnumber);
	memset(c, 0, sizeof(*c));
}

void moodle_courses_free(struct moodle_course *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		moodle_course_release(&c[i]);
	free(c);
}

/* ---- CLI command lines -------------------------------------------------- */

/* uid and gid of user: 0, or -1 with moodle_error() set. */
static int lookup_user(struct moodle *m, const char *user, uid_t *uid,
		       gid_t *gid)
{
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	struct passwd pw, *res = NULL;
	char *buf;
	int rc;

	if (size < 1024)
		size = 16384;
	for (;;) {
		buf = xmalloc((size_t)size);
		rc = getpwnam_r(user, &pw, buf, (size_t)size, &res);
		if (rc != ERANGE || size > (1L << 20))
			break;
		free(buf);
		size *= 2;
	}
	if (res) {
		*uid = pw.pw_uid;
		*gid = pw.pw_gid;
	}
	free(buf);
	if (!res)
		return rc ? fail(m, "cannot look up system user '%s': %s", user,
				 strerror(rc))
			  : fail(m, "no system user '%s'", user);
	return 0;
}

char **moodle_cli_argv(struct moodle *m, const char *script,
		       char *const args[])
{
	size_t nargs = 0, i = 0;
	uid_t uid = 0;
	gid_t gid = 0;
	bool as_other = false;
	char **argv;

	if (m->remote) {
		fail(m, "Moodle's CLI is " WS_UNAVAILABLE);
		return NULL;
	}
	if (!m->dir) {
		fail(m, "no Moodle directory configured ('moodle')");
		return NULL;
	}
	if (m->user) {
		/* once per handle: an archive run builds 10,000 of these */
		if (!m->user_known) {
			if (lookup_user(m, m->user, &m->uid, &m->gid) < 0)
				return NULL;
			m->user_known = true;
		}
		uid = m->uid;
		gid = m->gid;
		as_other = uid != geteuid();
	}
	while (args && args[nargs])
		nargs++;
	argv = xcalloc(nargs + 8, sizeof(*argv));
	if (as_other) {
		argv[i++] = xstrdup(SETPRIV);
		argv[i++] = xasprintf("--reuid=%lu", (unsigned long)uid);
		argv[i++] = xasprintf("--regid=%lu", (unsigned long)gid);
		argv[i++] = xstrdup("--init-groups");
		/* the kernel drops the parent-death signal with the uid */
		argv[i++] = xstrdup("--pdeathsig=keep");
	}
	argv[i++] = xstrdup(m->php);
	argv[i++] = script[0] == '/' ? xstrdup(script)
				     : xasprintf("%s/%s", m->dir, script);
	for (size_t k = 0; k < nargs; k++)
		argv[i++] = xstrdup(args[k]);
	argv[i] = NULL;
	return argv;
}

void moodle_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

char *moodle_text_param(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	/* PHP's strip_tags: a tag runs to its '>', an unclosed one to the end */
	for (const char *p = s; *p; p++) {
		if (*p == '<' && p[1] && p[1] != ' ' && p[1] != '<') {
			const char *close = strchr(p, '>');

			if (!close)
				break;
			p = close;
			continue;
		}
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

/*
 * Moodle's own words from its output: its last lines (headings "== ... =="
 * left out), whole lines only, at most len - 1 bytes, on one line.
 */
void moodle_cli_words(const char *out, char *buf, size_t len)
{
	const char *end = out + strlen(out), *line_end = end;
	size_t used = 0;

	buf[0] = '\0';
	while (line_end > out) {
		const char *start = line_end;
		size_t n;

		while (start > out && start[-1] != '\n')
			start--;
		n = (size_t)(line_end - start);
		while (n && (start[n - 1] == '\r' || start[n - 1] == ' '))
			n--;
		if (n && strncmp(start, "==", 2) != 0) {
			if (used + n + 3 >= len)
				break;
			/* prepend: we walk from the end */
			memmove(buf + n + (used ? 3 : 0), buf, used + 1);
			memcpy(buf, start, n);
			if (used)
				memcpy(buf + n, " / ", 3);
			used += n + (used ? 3 : 0);
		}
		line_end = start > out ? start - 1 : out;
	}
	if (!used)
		snprintf(buf, len, "(no output)");
}

/* ---- web services ------------------------------------------------------ */

/* The functions the backend calls: the token's service must allow them. */
static const char *const ws_needed[] = {
	"core_webservice_get_site_info",
	"core_course_get_categories",
	"core_course_get_courses_by_field",
	"core_course_get_contents",
};

struct ws_param {
	const char *key;
	const char *value;
};

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-._~", c));
}

/*
 * application/x-www-form-urlencoded, all but the unreserved characters
 * escaped: with out NULL, only the length. Two passes so that the body,
 * which holds the token, is allocated once and never left behind by a
 * realloc.
 */
static size_t form_put(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p)) {
			if (out)
				out[n] = (char)*p;
			n++;
			continue;
		}
		if (out) {
			out[n] = '%';
			out[n + 1] = hex[*p >> 4];
			out[n + 2] = hex[*p & 15];
		}
		n += 3;
	}
	return n;
}

/* "wstoken=...&wsfunction=fn&moodlewsrestformat=json&k=v..." */
static char *ws_body(const struct moodle *m, const char *fn,
		     const struct ws_param *p, size_t np, size_t *len)
{
	const char **kv = xcalloc(2 * (3 + np), sizeof(*kv));
	size_t nkv = 0, n = 0;
	char *body;

	kv[nkv++] = "wstoken";
	kv[nkv++] = m->token;
	kv[nkv++] = "wsfunction";
	kv[nkv++] = fn;
	kv[nkv++] = "moodlewsrestformat";
	kv[nkv++] = "json";
	for (size_t i = 0; i < np; i++) {
		kv[nkv++] = p[i].key;
		kv[nkv++] = p[i].value;
	}
	for (size_t i = 0; i < nkv; i++)
		n += form_put(NULL, kv[i]) + 1;
	body = xmalloc(n);
	n = 0;
	for (size_t i = 0; i < nkv; i++) {
		n += form_put(body + n, kv[i]);
		body[n++] = i % 2 ? '&' : '=';
	}
	body[--n] = '\0';
	free(kv);
	*len = n;
	return body;
}

static size_t ws_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct moodle *m = userp;

	if (sb_add(m->answer, data, size * nmemb) < 0) {
		m->overflow = true;
		return 0;
	}
	return size * nmemb;
}

/* Sets one option unless an earlier one failed. */
#define SETOPT(rc, h, opt, val)                                          \
	do {                                                             \
		if ((rc) == CURLE_OK)                                    \
			(rc) = curl_easy_setopt((h), (opt), (val));       \
	} while (0)

static int ws_start(struct moodle *m)
{
	CURLcode rc = CURLE_OK;

	m->curl = curl_easy_init();
	if (!m->curl)
		return fail(m, "cannot reach '%s': curl_easy_init failed",
			    m->url);
	SETOPT(rc, m->curl, CURLOPT_URL, m->ws_url);
	SETOPT(rc, m->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(rc, m->curl, CURLOPT_POST, 1L);
	/* a redirect would carry the token elsewhere, or turn POST to GET */
	SETOPT(rc, m->curl, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(rc, m->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(rc, m->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(rc, m->curl, CURLOPT_CONNECTTIMEOUT, WS_CONNECT_TIMEOUT_S);
	SETOPT(rc, m->curl, CURLOPT_TIMEOUT, WS_TIMEOUT_S);
	/* signals would hit other threads; the resolver must not use them */
	SETOPT(rc, m->curl, CURLOPT_NOSIGNAL, 1L);
	SETOPT(rc, m->curl, CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(rc, m->curl, CURLOPT_USERAGENT, "sessionarchiver/" SA_VERSION);
	SETOPT(rc, m->curl, CURLOPT_ERRORBUFFER, m->curl_err);
	SETOPT(rc, m->curl, CURLOPT_WRITEFUNCTION, ws_write);
	SETOPT(rc, m->curl, CURLOPT_WRITEDATA, m);
	if (rc != CURLE_OK)
		return fail(m, "cannot reach '%s': %s", m->url,
			    curl_easy_strerror(rc));
	return 0;
}

/* text from the server, shown only when it does not quote the token */
static const char *ws_safe(const struct moodle *m, const char *text)
{
	return text && !strstr(text, m->token) ? text : "(not shown)";
}

/*
 * Calls fn with params p: its JSON answer (caller json_decref()s it), or
 * NULL with moodle_error() set. Moodle's error object is an error.
 */
static json_t *ws_call(struct moodle *m, const char *fn,
		       const struct ws_param *p, size_t np)
{
	struct strbuf answer;
	json_error_t jerr;
	json_t *root = NULL;
	long status = 0;
	CURLcode rc = CURLE_OK;
	size_t len;
	char *body = ws_body(m, fn, p, np, &len);

	sb_init(&answer, WS_ANSWER_MAX);
	m->overflow = false;
	m->curl_err[0] = '\0';
	SETOPT(rc, m->curl, CURLOPT_POSTFIELDS, body);
	SETOPT(rc, m->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	m->answer = &answer;
	if (rc == CURLE_OK)
		rc = curl_easy_perform(m->curl);
	m->answer = NULL;
	/* the handle keeps the pointer: the next call sets it before use */
	explicit_bzero(body, len);
	free(body);
	if (m->overflow) {
		fail(m, "the answer of '%s' to %s is larger than %u MiB",
		     m->url, fn, WS_ANSWER_MAX >> 20);
		goto out;
	}
	if (rc != CURLE_OK) {
		fail(m, "cannot reach '%s' (%s): %s", m->url, fn,
		     m->curl_err[0] ? m->curl_err : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(m->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		fail(m, "'%s' answered %s with HTTP status %ld%s", m->ws_url,
		     fn, status,
		     status / 100 == 3 ? " (redirects are not followed: "
					 "check 'url')"
				       : "");
		goto out;
	}
	if (!answer.len) {
		fail(m, "'%s' answered %s with nothing", m->url, fn);
		goto out;
	}
	root = json_loadb(answer.buf, answer.len, 0, &jerr);
	if (!root) {
		fail(m, "cannot read the answer of '%s' to %s: not JSON "
		     "(line %d: %s)", m->url, fn, jerr.line,
		     ws_safe(m, jerr.text));
		goto out;
	}
	/* Moodle reports errors as HTTP 200 with this object */
	if (json_is_object(root) && json_object_get(root, "exception")) {
		const char *msg, *code;

		msg = json_string_value(json_object_get(root, "message"));
		code = json_string_value(json_object_get(root, "errorcode"));
		if (!code)
			code = json_string_value(
				json_object_get(root, "exception"));
		fail(m, "'%s' refused %s: %s (%s)", m->url, fn,
		     ws_safe(m, msg), ws_safe(m, code));
		json_decref(root);
		root = NULL;
	}
out:
	sb_release(&answer);
	return root;
}

/* Moodle's external_format_string escapes these; nothing else is undone */
static char *html_decode(const char *s)
{
	static const struct {
		const char *entity;
		char c;
	} ents[] = { { "&amp;", '&' },	 { "&lt;", '<' },   { "&gt;", '>' },
		     { "&quot;", '"' }, { "&#39;", '\'' }, { "&#039;", '\'' } };
	struct strbuf sb;

	sb_init(&sb, 0);
	for (; *s; s++) {
		size_t i, n = sizeof(ents) / sizeof(ents[0]);

		for (i = 0; *s == '&' && i < n; i++)
			if (!strncmp(s, ents[i].entity, strlen(ents[i].entity)))
				break;
		if (*s == '&' && i < n) {
			sb_addch(&sb, ents[i].c);
			s += strlen(ents[i].entity) - 1;
		} else {
			sb_addch(&sb, *s);
		}
	}
	return sb_detach(&sb, NULL);
}

static int ws_bad(struct moodle *m, const char *fn, const char *key,
		  const char *why)
{
	return fail(m, "bad answer of '%s' to %s: '%s' %s", m->url, fn, key,
		    why);
}

/*
 * An integer member: a JSON integer or a string of digits (Moodle's
 * PARAM_INT comes as a number, but its versions are strings). Absent or
 * null: 0, an error when required.
 */
static int js_int(struct moodle *m, const char *fn, json_t *o,
		  const char *key, bool required, int64_t *out)
{
	json_t *v = json_object_get(o, key);
	unsigned long long u;
	const char *s;

	*out = 0;
	if (!v || json_is_null(v))
		return required ? ws_bad(m, fn, key, "is missing") : 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	s = json_string_value(v);
	if (s && *s == '-' && config_parse_uint(s + 1, 0, INT64_MAX, &u) == 0) {
		*out = -(int64_t)u;
		return 0;
	}
	if (s && config_parse_uint(s, 0, INT64_MAX, &u) == 0) {
		*out = (int64_t)u;
		return 0;
	}
	return ws_bad(m, fn, key, "is not a number");
}

/*
 * A string member, HTML-decoded when html: caller frees. Absent or null:
 * "", an error when required.
 */
static int js_str(struct moodle *m, const char *fn, json_t *o,
		  const char *key, bool required, bool html, char **out)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return ws_bad(m, fn, key, "is missing");
		*out = xstrdup("");
		return 0;
	}
	s = json_string_value(v);
	if (!s)
		return ws_bad(m, fn, key, "is not a string");
	*out = html ? html_decode(s) : xstrdup(s);
	return 0;
}

static bool ws_lists(json_t *functions, const char *name)
{
	size_t i;
	json_t *f;

	json_array_foreach(functions, i, f) {
		const char *s = json_string_value(json_object_get(f, "name"));

		if (s && !strcmp(s, name))
			return true;
	}
	return false;
}

/* core_webservice_get_site_info: checks the URL and token, keeps the site */
static int ws_site_info(struct moodle *m)
{
	static const char fn[] = "core_webservice_get_site_info";
	json_t *root = ws_call(m, fn, NULL, 0), *functions, *v;
	char *version = NULL, *siteurl = NULL;
	int ret = -1;

	if (!root)
		return -1;
	if (!json_is_object(root)) {
		fail(m, "bad answer of '%s' to %s: expected an object", m->url,
		     fn);
		goto out;
	}
	if (js_str(m, fn, root, "release", true, false, &m->release) < 0)
		goto out;
	v = json_object_get(root, "version");
	if (json_is_integer(v))
		version = xasprintf("%lld", (long long)json_integer_value(v));
	else if (js_str(m, fn, root, "version", true, false, &version) < 0)
		goto out;
	if (parse_version(version, &m->version) < 0) {
		ws_bad(m, fn, "version", "is not a Moodle version");
		goto out;
	}
	if (js_str(m, fn, root, "siteurl", false, false, &siteurl) < 0)
		goto out;
	m->wwwroot = *siteurl ? siteurl : xstrdup(m->url);
	if (!*siteurl)
		free(siteurl);
	/* fail now rather than halfway through a listing */
	functions = json_object_get(root, "functions");
	for (size_t i = 0; json_is_array(functions) &&
			   i < sizeof(ws_needed) / sizeof(ws_needed[0]);
	     i++) {
		if (!ws_lists(functions, ws_needed[i])) {
			fail(m, "the web service of the token for '%s' does "
			     "not allow %s", m->url, ws_needed[i]);
			goto out;
		}
	}
	ret = 0;
out:
	free(version);
	json_decref(root);
	return ret;
}

static struct moodle *ws_open(const struct config_platform *p, int *code,
			      char *err, size_t errlen)
{
	struct moodle *m;
	char *token = NULL;

	*code = MOODLE_ERR_CONFIG;
	if (config_read_secret(p->token_file, &token, err, errlen) < 0)
		return NULL;
	m = xcalloc(1, sizeof(*m));
	m->remote = true;
	m->token = token;
	m->url = xstrdup(p->url);
	m->ws_url = xasprintf("%s" WS_PATH, p->url);
	m->where = xasprintf("on '%s'", p->url);
	if (ws_start(m) < 0 || ws_site_info(m) < 0) {
		*code = MOODLE_ERR_UNREACHABLE;
		snprintf(err, errlen, "%s", m->err);
		moodle_free(m);
		return NULL;
	}
	*code = 0;
	return m;
}

static int ws_site(struct moodle *m, struct moodle_site *out)
{
	memset(out, 0, sizeof(*out));
	out->release = xstrdup(m->release);
	out->version = m->version;
	out->wwwroot = xstrdup(m->wwwroot);
	return 0;
}

static int cat_by_path(const void *a, const void *b)
{
	const struct moodle_category *x = a, *y = b;
	int rc = strcmp(x->path, y->path);

	return rc ? rc : (x->id > y->id) - (x->id < y->id);
}

static int ws_categories(struct moodle *m, struct moodle_category **out,
			 size_t *n)
{
	static const char fn[] = "core_course_get_categories";
	struct moodle_category *c = NULL;
	json_t *root, *v;
	size_t len = 0, i;

	*out = NULL;
	*n = 0;
	root = ws_call(m, fn, NULL, 0);
	if (!root)
		return -1;
	if (!json_is_array(root)) {
		fail(m, "bad answer of '%s' to %s: expected a list", m->url,
		     fn);
		goto out_fail;
	}
	len = json_array_size(root);
	c = xcalloc(len ? len : 1, sizeof(*c));
	json_array_foreach(root, i, v) {
		int64_t depth;

		if (js_int(m, fn, v, "id", true, &c[i].id) < 0 ||
		    js_int(m, fn, v, "parent", true, &c[i].parent) < 0 ||
		    js_str(m, fn, v, "name", true, true, &c[i].name) < 0 ||
		    js_str(m, fn, v, "idnumber", false, false,
			   &c[i].idnumber) < 0 ||
		    js_str(m, fn, v, "path", true, false, &c[i].path) < 0 ||
		    js_int(m, fn, v, "depth", true, &depth) < 0 ||
		    js_int(m, fn, v, "sortorder", true, &c[i].sortorder) < 0)
			goto out_fail;
		c[i].depth = (int)depth;
	}
	qsort(c, len, sizeof(*c), cat_by_path);
	if (build_name_paths(m, c, len) < 0)
		goto out_fail;
	json_decref(root);
	*out = c;
	*n = len;
	return 0;
out_fail:
	moodle_categories_free(c, len);
	json_decref(root);
	return -1;
}

/* One course of core_course_get_courses_by_field's answer into c. */
static int ws_course_from(struct moodle *m, json_t *v,
			  struct moodle_course *c)
{
	static const char fn[] = "core_course_get_courses_by_field";
	int64_t visible;

	memset(c, 0, sizeof(*c));
	if (js_int(m, fn, v, "id", true, &c->id) < 0 ||
	    js_int(m, fn, v, "categoryid", true, &c->category) < 0 ||
	    js_str(m, fn, v, "shortname", true, true, &c->shortname) < 0 ||
	    js_str(m, fn, v, "fullname", true, true, &c->fullname) < 0 ||
	    js_str(m, fn, v, "idnumber", false, false, &c->idnumber) < 0)
		goto out_fail;
	/* only for a user who may enter the course */
	if (js_int(m, fn, v, "startdate", true, &c->startdate) < 0 ||
	    js_int(m, fn, v, "enddate", true, &c->enddate) < 0 ||
	    js_int(m, fn, v, "visible", true, &visible) < 0) {
		char why[sizeof(m->err)];

		snprintf(why, sizeof(why), "%s", m->err);
		fail(m, "%s for course %lld: can the token's user enter it?",
		     why, (long long)c->id);
		goto out_fail;
	}
	c->visible = (int)visible;
	return 0;
out_fail:
	moodle_course_release(c);
	return -1;
}

/*
 * The courses core_course_get_courses_by_field gives for field = value,
 * appended to *c (len and alloc follow), the site course left out.
 */
static int ws_courses_by(struct moodle *m, const char *field,
			 const char *value, struct moodle_course **c,
			 size_t *len, size_t *alloc)
{
	static const char fn[] = "core_course_get_courses_by_field";
	const struct ws_param p[] = { { "field", field }, { "value", value } };
	json_t *root = ws_call(m, fn, p, 2), *list, *v;
	size_t i;
	int ret = -1;

	if (!root)
		return -1;
	list = json_object_get(root, "courses");
	if (!json_is_array(list)) {
		ws_bad(m, fn, "courses", "is not a list");
		goto out;
	}
	json_array_foreach(list, i, v) {
		if (*len == *alloc) {
			*alloc = *alloc ? 2 * *alloc : 64;
			*c = xrealloc(*c, *alloc * sizeof(**c));
		}
		if (ws_course_from(m, v, &(*c)[*len]) < 0)
			goto out;
		if ((*c)[*len].id == 1)
			moodle_course_release(&(*c)[*len]);
		else
			(*len)++;
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

/* sections and activities of c, from core_course_get_contents */
static int ws_counts(struct moodle *m, struct moodle_course *c)
{
	static const char fn[] = "core_course_get_contents";
	char id[24];
	const struct ws_param p[] = {
		{ "courseid", id },
		{ "options[0][name]", "excludecontents" },
		{ "options[0][value]", "1" },
	};
	json_t *root, *v;
	size_t i;
	int ret = -1;

	snprintf(id, sizeof(id), "%lld", (long long)c->id);
	root = ws_call(m, fn, p, 3);
	if (!root)
		return -1;
	if (!json_is_array(root)) {
		fail(m, "bad answer of '%s' to %s for course %lld: expected a "
		     "list", m->url, fn, (long long)c->id);
		goto out;
	}
	c->sections = 0;
	c->activities = 0;
	json_array_foreach(root, i, v) {
		json_t *mods = json_object_get(v, "modules");
		int64_t sid;

		if (js_int(m, fn, v, "id", true, &sid) < 0)
			goto out;
		/* -1: stealth activities of hidden sections, not a section */
		if (sid == -1)
			continue;
		c->sections++;
		if (json_is_array(mods))
			c->activities += (int)json_array_size(mods);
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

static int course_cmp_id(const void *a, const void *b)
{
	int64_t x = ((const struct moodle_course *)a)->id;
	int64_t y = ((const struct moodle_course *)b)->id;

	return (x > y) - (x < y);
}

static int ws_courses_in(struct moodle *m, int64_t category_id,
			 bool recursive, struct moodle_course **out,
			 size_t *n)
{
	static const char fn[] = "core_course_get_categories";
	struct moodle_course *c = NULL;
	size_t len = 0, alloc = 0, i;
	char id[24];
	const struct ws_param p[] = {
		{ "criteria[0][key]", "id" },
		{ "criteria[0][value]", id },
		{ "addsubcategories", recursive ? "1" : "0" },
	};
	json_t *cats, *v;
	int64_t *ids = NULL;
	bool found = false;
	int ret = -1;

	*out = NULL;
	*n = 0;
	snprintf(id, sizeof(id), "%lld", (long long)category_id);
	cats = ws_call(m, fn, p, 3);
	if (!cats)
		return -1;
	if (!json_is_array(cats)) {
		fail(m, "bad answer of '%s' to %s: expected a list", m->url,
		     fn);
		goto out;
	}
	ids = xcalloc(json_array_size(cats) + 1, sizeof(*ids));
	json_array_foreach(cats, i, v) {
		if (js_int(m, fn, v, "id", true, &ids[i]) < 0)
			goto out;
		found |= ids[i] == category_id;
	}
	if (!found) {
		fail(m, "no category with id %lld %s", (long long)category_id,
		     m->where);
		goto out;
	}
	for (i = 0; i < json_array_size(cats); i++) {
		snprintf(id, sizeof(id), "%lld", (long long)ids[i]);
		if (ws_courses_by(m, "category", id, &c, &len, &alloc) < 0)
			goto out;
	}
	if (len)
		qsort(c, len, sizeof(*c), course_cmp_id);
	for (i = 0; i < len; i++)
		if (ws_counts(m, &c[i]) < 0)
			goto out;
	ret = 0;
out:
	free(ids);
	json_decref(cats);
	if (ret < 0) {
		moodle_courses_free(c, len);
		return -1;
	}
	*out = c;
	*n = len;
	return 0;
}

static int ws_course_get(struct moodle *m, int64_t id,
			 struct moodle_course *out)
{
	struct moodle_course *c = NULL;
	size_t len = 0, alloc = 0;
	char value[24];
	int ret = -1;

	memset(out, 0, sizeof(*out));
	/* the site course is not a course to archive */
	if (id == 1)
		return 1;
	snprintf(value, sizeof(value), "%lld", (long long)id);
	if (ws_courses_by(m, "id", value, &c, &len, &alloc) < 0)
		goto out;
	if (!len || c[0].id != id) {
		ret = 1;
		goto out;
	}
	if (ws_counts(m, &c[0]) < 0)
		goto out;
	*out = c[0];
	memset(&c[0], 0, sizeof(c[0]));
	ret = 0;
out:
	moodle_courses_free(c, len);
	return ret;
}

const struct moodle_category *
moodle_category_find(const struct moodle_category *cats, size_t n,
		     int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (cats[i].id == id)
			return &cats[i];
	return NULL;
}

int64_t moodle_category_ancestor_named(const struct moodle_category *cats,
				       size_t n, int64_t id, const char *name)
{
	/* depth is bounded in Moodle; the guard stops a corrupt cycle */
	for (int guard = 0; id && name && guard < 64; guard++) {
		const struct moodle_category *c =
			moodle_category_find(cats, n, id);

		if (!c)
			return 0;
		if (strcmp(c->name, name) == 0)
			return id;
		id = c->parent;
	}
	return 0;
}

bool moodle_category_matches(const struct config_selector *sel,
			     const struct moodle_category *c)
{
	switch (sel->kind) {
	case CONFIG_SEL_ID: return (unsigned long long)c->id == sel->id;
	case CONFIG_SEL_IDNUMBER:
		return c->idnumber && strcmp(c->idnumber, sel->value) == 0;
	case CONFIG_SEL_PATH: return strcmp(c->name_path, sel->value) == 0;
	default: return false;
	}
}
