/*
 * db: a platform read straight from Moodle's database (moodle.h's
 * database backend), through the SQL driver of sql.h. The settings come
 * from config.php or the db URL (configphp.c); the table prefix is checked
 * before it is pasted into any statement. The listing of a category's
 * courses is four set-based queries for the whole subtree (courses,
 * sections, activities, estimates), whatever the number of courses.
 */
#include "platform.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sql.h"
#include "xalloc.h"

#define PREFIX_MAX 32

/* In the SQL below, contextlevel 40 is a category's, 50 a course's
 * (CONTEXT_COURSECAT and CONTEXT_COURSE of Moodle's lib/accesslib.php). */

static const struct moodle_backend db_backend;

static bool prefix_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= PREFIX_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* The tables and columns the reads below need, checked once at open. */
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
		struct sql_query q;
		char *sql = xasprintf("SELECT %s FROM {%s} LIMIT 0",
				      needed[i].columns, needed[i].table);
		int rc = sql_start(&q, m, needed[i].table, sql, "", NULL, 0);

		free(sql);
		if (rc < 0)
			return -1;
		sql_end(&q);
	}
	return 0;
}

struct moodle *moodle_db_open(const struct config_platform *p, int *code,
			      char *err, size_t errlen)
{
	struct moodle_settings s = { 0 };
	struct moodle *m = NULL;
	const char *from;

	*code = MOODLE_ERR_CONFIG;
	if (p->db.set ? moodle_settings_from_url(p, &s, err, errlen) < 0
		      : moodle_settings_from_php(p, &s, err, errlen) < 0)
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
	m->be = &db_backend;
	m->dir = p->moodle ? xstrdup(p->moodle) : NULL;
	m->php = xstrdup(p->php ? p->php : "/usr/bin/php");
	m->user = p->user ? xstrdup(p->user) : NULL;
	m->prefix = xstrdup(s.prefix);
	m->dbname = xstrdup(s.name);
	m->wwwroot = s.wwwroot ? xstrdup(s.wwwroot) : NULL;
	m->dataroot = s.dataroot ? xstrdup(s.dataroot) : NULL;
	m->where = xasprintf("in database '%s'", s.name);
	if (sql_connect(m, &s) < 0 || check_tables(m) < 0) {
		*code = m->schema_missing ? MOODLE_ERR_SCHEMA
					  : MOODLE_ERR_UNREACHABLE;
		snprintf(err, errlen, "%s", m->err);
		moodle_free(m);
		m = NULL;
		goto out;
	}
	/* moodle_check() may connect again, long after config.php was read */
	m->db_settings = xmalloc(sizeof(*m->db_settings));
	*m->db_settings = s;
	memset(&s, 0, sizeof(s));
	*code = 0;
out:
	moodle_settings_release(&s);
	return m;
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

static int db_site(struct moodle *m, struct moodle_site *out)
{
	struct sql_query q;
	char *version = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (sql_start(&q, m, "config",
		    "SELECT name, value FROM {config} WHERE name IN "
		    "('siteidentifier', 'release', 'version')",
		    "ss", NULL, 0) < 0)
		return -1;
	while ((rc = sql_next(&q)) > 0) {
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
	sql_end(&q);
	if (rc < 0)
		goto out_fail;
	if (!out->siteidentifier || !*out->siteidentifier || !out->release ||
	    !version) {
		moodle_fail(m, "no '%s' in table '%sconfig' of database '%s'",
			    !out->siteidentifier || !*out->siteidentifier
				    ? "siteidentifier"
				    : !out->release ? "release" : "version",
			    m->prefix, m->dbname);
		goto out_fail;
	}
	if (moodle_parse_version(version, &out->version) < 0) {
		moodle_fail(m,
			    "bad 'version' in table '%sconfig' of database '%s'",
			    m->prefix, m->dbname);
		goto out_fail;
	}
	out->site_hash = md5_hex(out->siteidentifier);
	if (!out->site_hash) {
		moodle_fail(m, "cannot compute md5: OpenSSL refused");
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

/* ---- categories -------------------------------------------------------- */

static int db_categories(struct moodle *m, struct moodle_category **out,
			 size_t *n)
{
	struct moodle_category *c = NULL;
	size_t len = 0, alloc = 0;
	struct sql_query q;
	int rc;

	*out = NULL;
	*n = 0;
	if (sql_start(&q, m, "course_categories",
		    "SELECT id, parent, name, idnumber, path, depth, sortorder "
		    "FROM {course_categories} ORDER BY path, id",
		    "iisssii", NULL, 0) < 0)
		return -1;
	while ((rc = sql_next(&q)) > 0) {
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
	sql_end(&q);
	if (rc < 0 || moodle_category_name_paths(m, c, len) < 0) {
		moodle_categories_free(c, len);
		return -1;
	}
	*out = c;
	*n = len;
	return 0;
}

/* ---- courses ----------------------------------------------------------- */

#define COURSE_COLUMNS                                                   \
	"c.id, c.category, c.shortname, c.fullname, c.idnumber, "        \
	"c.startdate, c.enddate, c.visible"
#define COURSE_TYPES "iisssiii"

static void course_from_row(const struct sql_query *q, struct moodle_course *c)
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
		      const struct sql_param *p, unsigned np,
		      enum course_field field)
{
	struct sql_query q;
	int rc;

	if (sql_start(&q, m, table, sql, "ii", p, np) < 0)
		return -1;
	while ((rc = sql_next(&q)) > 0) {
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
	sql_end(&q);
	return rc;
}

/*
 * The estimate of every course of a category subtree in one pass. The
 * contexts below the category's context (a constant LIKE: an index range)
 * lead to their files (by contextid), then to their course context through
 * the path prefix whose length is the course context's depth (an equality:
 * an index lookup), for each depth courses have in the subtree (a handful).
 * [IN_ORDER] (MariaDB's STRAIGHT_JOIN) keeps that order: left to itself
 * MariaDB 10.11 starts from the courses and scans files once per course (4
 * minutes for 10,000 courses, against 1 s); PostgreSQL's planner has no
 * such hint, and needs none (see bench). A join on LIKE CONCAT(cx.path,
 * '/%') could not use an index at all. The site course's context is never
 * below a category.
 * Parameters: the LIKE pattern twice, then the category for the one-level
 * listing.
 */
#define ESTIMATE_SUBTREE_SQL                                                  \
	"SELECT u.course, CAST(COALESCE(SUM(u.filesize), 0) AS [BIGINT]) FROM (" \
	" SELECT [IN_ORDER] cx.instanceid AS course,"                         \
	"  MAX(f.filesize) AS filesize"                                       \
	" FROM {context} sub"                                                 \
	" JOIN {files} f ON f.contextid = sub.id"                             \
	" JOIN (SELECT DISTINCT depth FROM {context}"                         \
	"       WHERE contextlevel = 50 AND path LIKE ?) d"                   \
	"      ON d.depth <= sub.depth"                                       \
	" JOIN {context} cx ON cx.path = [PATH_PREFIX sub.path, d.depth + 1]" \
	"      AND cx.depth = d.depth AND cx.contextlevel = 50"               \
	" %s"                                                                 \
	" WHERE sub.path LIKE ? AND f.component <> 'backup'"                  \
	"   AND f.filename <> '.' %s"                                         \
	" GROUP BY cx.instanceid, f.contenthash"                              \
	") u GROUP BY u.course"

static const char sel_recursive[] =
	"c.category IN (SELECT id FROM {course_categories}"
	" WHERE id = ? OR path LIKE ?)";
static const char sel_one[] = "c.category = ?";

static int db_courses_in(struct moodle *m, int64_t category_id,
			 bool recursive, struct moodle_course **out,
			 size_t *n)
{
	struct moodle_course *c = NULL;
	size_t len = 0, alloc = 0;
	char *cat_path = NULL, *ctx_like = NULL, *cat_like = NULL;
	char *sql = NULL;
	struct sql_param p[SQL_MAX_PARAMS] = { 0 };
	unsigned np;
	const char *sel = recursive ? sel_recursive : sel_one;
	struct sql_query q;
	int rc, ret = -1;

	*out = NULL;
	*n = 0;
	p[0] = sql_int(category_id);
	if (sql_start(&q, m, "course_categories",
		    "SELECT cc.path, cx.path FROM {course_categories} cc"
		    " LEFT JOIN {context} cx ON cx.contextlevel = 40"
		    " AND cx.instanceid = cc.id WHERE cc.id = ?",
		    "ss", p, 1) < 0)
		return -1;
	rc = sql_next(&q);
	if (rc > 0) {
		cat_path = xstrdup(q.col[0].s);
		if (moodle_id_path_ok(q.col[1].s))
			ctx_like = xasprintf("%s/%%", q.col[1].s);
	}
	sql_end(&q);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		moodle_fail(m, "no category with id %lld %s",
			    (long long)category_id, m->where);
		goto out;
	}
	if (recursive && !moodle_id_path_ok(cat_path)) {
		moodle_fail(m,
			    "category %lld has a bad path '%s' in database '%s'",
			    (long long)category_id, cat_path, m->dbname);
		goto out;
	}
	cat_like = xasprintf("%s/%%", cat_path);
	np = 1;
	if (recursive)
		p[np++] = sql_text(cat_like);

	sql = xasprintf("SELECT " COURSE_COLUMNS " FROM {course} c"
			" WHERE c.id <> 1 AND %s ORDER BY c.id", sel);
	if (sql_start(&q, m, "course", sql, COURSE_TYPES, p, np) < 0)
		goto out;
	while ((rc = sql_next(&q)) > 0) {
		if (len == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			c = xrealloc(c, alloc * sizeof(*c));
		}
		course_from_row(&q, &c[len++]);
	}
	sql_end(&q);
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
		moodle_fail(m, "category %lld has no context in database '%s'",
			    (long long)category_id, m->dbname);
		goto out;
	}
	{
		/* recursive: the context subtree is the category subtree */
		struct sql_param ep[SQL_MAX_PARAMS] = { sql_text(ctx_like),
						sql_text(ctx_like), p[0] };

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
	struct sql_param p = sql_int(course_id);
	struct sql_query q;
	int rc;

	if (sql_start(&q, m, table, sql, "i", &p, 1) < 0)
		return -1;
	rc = sql_next(&q);
	if (rc > 0)
		*out = (int)q.col[0].i;
	sql_end(&q);
	return rc < 0 ? -1 : 0;
}

/*
 * Estimated backup size of a course: the sum of filesize over the DISTINCT
 * contenthash of the files in the course context and below, without the
 * 'backup' component and directory entries ('.'). See MOODLE.md. -1
 * also when the course has no context (an unknown course).
 */
static int db_course_estimate(struct moodle *m, int64_t course_id,
			      int64_t *bytes)
{
	struct sql_param p[2] = { sql_int(course_id) };
	struct sql_query q;
	int64_t ctx_id = 0;
	char *like = NULL;
	int rc;

	*bytes = 0;
	if (sql_start(&q, m, "context",
		    "SELECT id, path FROM {context}"
		    " WHERE contextlevel = 50 AND instanceid = ?",
		    "is", p, 1) < 0)
		return -1;
	rc = sql_next(&q);
	if (rc > 0 && moodle_id_path_ok(q.col[1].s)) {
		ctx_id = q.col[0].i;
		like = xasprintf("%s/%%", q.col[1].s);
	}
	sql_end(&q);
	if (rc < 0)
		return -1;
	if (!like)
		return moodle_fail(m,
				   "course %lld has no context in database '%s'",
				   (long long)course_id, m->dbname);
	p[0] = sql_int(ctx_id);
	p[1] = sql_text(like);
	rc = sql_start(&q, m, "files",
		     "SELECT CAST(COALESCE(SUM(u.filesize), 0) AS [BIGINT]) FROM ("
		     " SELECT MAX(f.filesize) AS filesize FROM {files} f"
		     " JOIN {context} x ON x.id = f.contextid"
		     " WHERE (x.id = ? OR x.path LIKE ?)"
		     " AND f.component <> 'backup' AND f.filename <> '.'"
		     " GROUP BY f.contenthash) u",
		     "i", p, 2);
	if (rc == 0) {
		rc = sql_next(&q);
		if (rc > 0)
			*bytes = q.col[0].i;
		sql_end(&q);
	}
	free(like);
	return rc < 0 ? -1 : 0;
}

static int db_course_get(struct moodle *m, int64_t id,
			 struct moodle_course *out)
{
	struct sql_param p = sql_int(id);
	struct sql_query q;
	int rc;

	memset(out, 0, sizeof(*out));
	if (sql_start(&q, m, "course",
		    "SELECT " COURSE_COLUMNS " FROM {course} c"
		    " WHERE c.id = ? AND c.id <> 1",
		    COURSE_TYPES, &p, 1) < 0)
		return -1;
	rc = sql_next(&q);
	if (rc > 0)
		course_from_row(&q, out);
	sql_end(&q);
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
	    db_course_estimate(m, id, &out->estimate) < 0) {
		moodle_course_release(out);
		return -1;
	}
	return 0;
}

static int db_check(struct moodle *m)
{
	struct sql_query q;
	bool maintenance;
	int rc;

	if (sql_ping(m) < 0) {
		sql_close(m);
		if (sql_connect(m, m->db_settings) < 0)
			return -1;
	}
	if (sql_start(&q, m, "config",
		      "SELECT value FROM {config}"
		      " WHERE name = 'maintenance_enabled'",
		      "s", NULL, 0) < 0)
		return -1;
	rc = sql_next(&q);
	maintenance = rc > 0 && !strcmp(q.col[0].s, "1");
	sql_end(&q);
	if (rc < 0)
		return -1;
	if (maintenance)
		return moodle_fail(m, "Moodle is in maintenance mode "
				   "(maintenance_enabled in table '%sconfig' "
				   "of database '%s')",
				   m->prefix, m->dbname);
	return 0;
}

static void db_close(struct moodle *m)
{
	sql_close(m);
	if (m->db_settings) {
		moodle_settings_release(m->db_settings);
		free(m->db_settings);
		m->db_settings = NULL;
	}
}

static const struct moodle_backend db_backend = {
	.site = db_site,
	.categories = db_categories,
	.courses_in = db_courses_in,
	.course_get = db_course_get,
	.check = db_check,
	.close = db_close,
};
