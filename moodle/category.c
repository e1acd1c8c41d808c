/*
 * category: Moodle's category tree as the operations walk it: the names
 * path of each category from the ids of its path, finding one, climbing
 * to an ancestor by name, matching a configured selector. Whatever the
 * backend that listed the categories.
 */
#include "platform.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "strbuf.h"
#include "xalloc.h"

bool moodle_id_path_ok(const char *s)
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

static int cat_by_id(const void *a, const void *b)
{
	int64_t x = (*(const struct moodle_category *const *)a)->id;
	int64_t y = (*(const struct moodle_category *const *)b)->id;

	return (x > y) - (x < y);
}

int moodle_category_name_paths(struct moodle *m, struct moodle_category *c,
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
		} else if (!moodle_id_path_ok(c[i].path)) {
			sb_release(&sb);
			moodle_fail(m, "category %lld has a bad path '%s' %s",
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
				moodle_fail(m,
					    "category %lld has a bad path '%s' %s",
					    (long long)c[i].id, c[i].path,
					    m->where);
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

bool moodle_category_within(const struct moodle_category *cats, size_t n,
			    int64_t id, int64_t ancestor)
{
	for (int guard = 0; id && guard < 64; guard++) {
		const struct moodle_category *c;

		if (id == ancestor)
			return true;
		if (!(c = moodle_category_find(cats, n, id)))
			return false;
		id = c->parent;
	}
	return false;
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
