/*
 * platform: moodle.h's entry points. moodle_open() chooses the backend from
 * the platform's configuration; every read then goes to the handle's
 * backend table (platform.h), so that no caller knows which one answered.
 */
#include "platform.h"
#include "sql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "xalloc.h"

struct moodle *moodle_open(const struct config_platform *p, int *code,
			   char *err, size_t errlen)
{
	/* out of our client's reach: the one case for web services */
	if (p->url && p->token_file && !p->moodle && !p->db.set)
		return moodle_ws_open(p, code, err, errlen);
	return moodle_db_open(p, code, err, errlen);
}

void moodle_free(struct moodle *m)
{
	if (!m)
		return;
	if (m->be && m->be->close)
		m->be->close(m);
	free(m->where);
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
	return m->be->remote;
}

int moodle_fail(struct moodle *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	return -1;
}

int moodle_parse_version(const char *s, int64_t *out)
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

int moodle_check(struct moodle *m)
{
	char *flag;
	bool cli_maintenance;

	if (m->be->check(m) < 0)
		return -1;
	if (!m->dataroot)
		return 0;
	/* admin/cli/maintenance.php --enablelater, and upgrades, write it */
	flag = xasprintf("%s/climaintenance.html", m->dataroot);
	cli_maintenance = access(flag, F_OK) == 0;
	free(flag);
	if (cli_maintenance)
		return moodle_fail(m, "Moodle is in maintenance mode "
				   "(climaintenance.html in '%s')",
				   m->dataroot);
	return 0;
}

int moodle_site(struct moodle *m, struct moodle_site *out)
{
	return m->be->site(m, out);
}

int moodle_categories(struct moodle *m, struct moodle_category **out,
		      size_t *n)
{
	return m->be->categories(m, out, n);
}

int moodle_courses_in(struct moodle *m, int64_t category_id, bool recursive,
		      struct moodle_course **out, size_t *n)
{
	return m->be->courses_in(m, category_id, recursive, out, n);
}

int moodle_course_get(struct moodle *m, int64_t id, struct moodle_course *out)
{
	return m->be->course_get(m, id, out);
}

void moodle_site_release(struct moodle_site *s)
{
	free(s->siteidentifier);
	free(s->site_hash);
	free(s->release);
	free(s->wwwroot);
	free(s->dataroot);
	free(s->sitename);
	free(s->ws_user);
	memset(s, 0, sizeof(*s));
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

void moodle_course_release(struct moodle_course *c)
{
	free(c->shortname);
	free(c->fullname);
	free(c->idnumber);
	memset(c, 0, sizeof(*c));
}

const char *moodle_db_server(const struct moodle *m)
{
	return m->sql ? m->sql->name : "web services";
}

const struct moodle_course *moodle_courses_find(const struct moodle_course *c,
					       size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c[mid].id == id)
			return &c[mid];
		if (c[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void moodle_courses_free(struct moodle_course *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		moodle_course_release(&c[i]);
	free(c);
}
