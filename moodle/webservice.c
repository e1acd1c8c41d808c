/*
 * webservice: a platform read through Moodle's REST server (moodle.h's
 * web-service backend), for a platform out of reach of our database
 * client: the same answers as db.c from the core_* functions, over the
 * client of rest.c. What web services cannot tell is said in moodle.h.
 */
#include "platform.h"
#include "rest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "xalloc.h"

static const struct moodle_backend ws_backend;

/* The functions the backend calls: the token's service must allow them. */
static const char *const ws_needed[] = {
	"core_webservice_get_site_info",
	"core_course_get_categories",
	"core_course_get_courses_by_field",
	"core_course_get_contents",
};

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
		moodle_fail(m, "bad answer of '%s' to %s: expected an object",
			    m->ws->url, fn);
		goto out;
	}
	if (ws_str(m, fn, root, "release", true, false, &m->ws->release) < 0)
		goto out;
	v = json_object_get(root, "version");
	if (json_is_integer(v))
		version = xasprintf("%lld", (long long)json_integer_value(v));
	else if (ws_str(m, fn, root, "version", true, false, &version) < 0)
		goto out;
	if (moodle_parse_version(version, &m->ws->version) < 0) {
		ws_bad(m, fn, "version", "is not a Moodle version");
		goto out;
	}
	if (ws_str(m, fn, root, "siteurl", false, false, &siteurl) < 0 ||
	    ws_str(m, fn, root, "sitename", false, true, &m->ws->sitename) < 0 ||
	    ws_str(m, fn, root, "username", false, false,
		   &m->ws->username) < 0)
		goto out;
	m->wwwroot = *siteurl ? siteurl : xstrdup(m->ws->url);
	if (!*siteurl)
		free(siteurl);
	/* fail now rather than halfway through a listing */
	functions = json_object_get(root, "functions");
	for (size_t i = 0; json_is_array(functions) &&
			   i < sizeof(ws_needed) / sizeof(ws_needed[0]);
	     i++) {
		if (!ws_lists(functions, ws_needed[i])) {
			m->refused = true;
			moodle_fail(m,
				    "the web service of the token for '%s' does "
				    "not allow %s", m->ws->url, ws_needed[i]);
			goto out;
		}
	}
	ret = 0;
out:
	free(version);
	json_decref(root);
	return ret;
}

struct moodle *moodle_ws_open(const struct config_platform *p, int *code,
			      char *err, size_t errlen)
{
	struct moodle *m;
	char *token = NULL;

	*code = MOODLE_ERR_CONFIG;
	if (config_read_secret(p->token_file, &token, err, errlen) < 0)
		return NULL;
	m = xcalloc(1, sizeof(*m));
	m->be = &ws_backend;
	m->ws = xcalloc(1, sizeof(*m->ws));
	m->ws->token = token;
	m->ws->url = xstrdup(p->url);
	m->ws->ws_url = xasprintf("%s" WS_PATH, p->url);
	m->where = xasprintf("on '%s'", p->url);
	if (ws_start(m) < 0 || ws_site_info(m) < 0) {
		*code = m->refused ? MOODLE_ERR_REFUSED
				   : MOODLE_ERR_UNREACHABLE;
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
	out->release = xstrdup(m->ws->release);
	out->sitename = xstrdup(m->ws->sitename);
	out->ws_user = xstrdup(m->ws->username);
	out->version = m->ws->version;
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
		moodle_fail(m, "bad answer of '%s' to %s: expected a list",
			    m->ws->url, fn);
		goto out_fail;
	}
	len = json_array_size(root);
	c = xcalloc(len ? len : 1, sizeof(*c));
	json_array_foreach(root, i, v) {
		int64_t depth;

		if (ws_int(m, fn, v, "id", true, &c[i].id) < 0 ||
		    ws_int(m, fn, v, "parent", true, &c[i].parent) < 0 ||
		    ws_str(m, fn, v, "name", true, true, &c[i].name) < 0 ||
		    ws_str(m, fn, v, "idnumber", false, false,
			   &c[i].idnumber) < 0 ||
		    ws_str(m, fn, v, "path", true, false, &c[i].path) < 0 ||
		    ws_int(m, fn, v, "depth", true, &depth) < 0 ||
		    ws_int(m, fn, v, "sortorder", true, &c[i].sortorder) < 0)
			goto out_fail;
		c[i].depth = (int)depth;
	}
	qsort(c, len, sizeof(*c), cat_by_path);
	if (moodle_category_name_paths(m, c, len) < 0)
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
	if (ws_int(m, fn, v, "id", true, &c->id) < 0 ||
	    ws_int(m, fn, v, "categoryid", true, &c->category) < 0 ||
	    ws_str(m, fn, v, "shortname", true, true, &c->shortname) < 0 ||
	    ws_str(m, fn, v, "fullname", true, true, &c->fullname) < 0 ||
	    ws_str(m, fn, v, "idnumber", false, false, &c->idnumber) < 0)
		goto out_fail;
	/* only for a user who may enter the course */
	if (ws_int(m, fn, v, "startdate", true, &c->startdate) < 0 ||
	    ws_int(m, fn, v, "enddate", true, &c->enddate) < 0 ||
	    ws_int(m, fn, v, "visible", true, &visible) < 0) {
		char why[sizeof(m->err)];

		snprintf(why, sizeof(why), "%s", m->err);
		moodle_fail(m,
			    "%s for course %lld: can the token's user enter it?",
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
		moodle_fail(m,
			    "bad answer of '%s' to %s for course %lld: expected a "
			    "list", m->ws->url, fn, (long long)c->id);
		goto out;
	}
	c->sections = 0;
	c->activities = 0;
	json_array_foreach(root, i, v) {
		json_t *mods = json_object_get(v, "modules");
		int64_t sid;

		if (ws_int(m, fn, v, "id", true, &sid) < 0)
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
		moodle_fail(m, "bad answer of '%s' to %s: expected a list",
			    m->ws->url, fn);
		goto out;
	}
	ids = xcalloc(json_array_size(cats) + 1, sizeof(*ids));
	json_array_foreach(cats, i, v) {
		if (ws_int(m, fn, v, "id", true, &ids[i]) < 0)
			goto out;
		found |= ids[i] == category_id;
	}
	if (!found) {
		moodle_fail(m, "no category with id %lld %s",
			    (long long)category_id, m->where);
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

static void ws_close(struct moodle *m)
{
	struct ws_conn *w = m->ws;

	if (!w)
		return;
	if (w->curl)
		curl_easy_cleanup(w->curl);
	if (w->token) {
		explicit_bzero(w->token, strlen(w->token));
		free(w->token);
	}
	free(w->url);
	free(w->ws_url);
	free(w->release);
	free(w->sitename);
	free(w->username);
	free(w);
	m->ws = NULL;
}

static int ws_check(struct moodle *m)
{
	json_t *root = ws_call(m, "core_webservice_get_site_info", NULL, 0);

	if (!root)
		return -1;
	json_decref(root);
	return 0;
}

static const struct moodle_backend ws_backend = {
	.remote = true,
	.site = ws_site,
	.categories = ws_categories,
	.courses_in = ws_courses_in,
	.course_get = ws_course_get,
	.check = ws_check,
	.close = ws_close,
};
