/*
 * Loading a session's manifest for the operations that follow archive.
 * The indexer reads the same file for the index; here every field an
 * operation needs is kept, and the latest line of a course replaces the
 * ones before (a course archived again).
 */
#include "manifest.h"

#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "journal.h"
#include "log.h"
#include "xalloc.h"

struct load {
	struct manifest *m;
	const char *session;
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void course_release(struct manifest_course *c)
{
	free(c->file);
	free(c->sha256);
	free(c->shortname);
	free(c->fullname);
	free(c->category_path);
	json_decref(c->category_names);
	free(c->moodle_release);
	free(c->tool_version);
}

static int on_line(void *ctx, long line_no, json_t *o)
{
	struct load *l = ctx;
	struct manifest *m = l->m;
	int64_t id = journal_int(o, "source_course_id", -1);
	const char *file = journal_str(o, "file");
	const char *sha = journal_str(o, "sha256");
	const char *path = journal_str(o, "category_path");
	struct manifest_course *c;

	if (id <= 0 || !file || !sha) {
		log_warn("%s/%s/%s:%ld: skipped, not a manifest entry",
			 l->session, SESSION_META_DIR, MANIFEST_FILE, line_no);
		return 0;
	}
	c = manifest_find(m, id);
	if (c) {
		course_release(c);
	} else {
		m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
		c = &m->v[m->n++];
	}
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->file = xstrdup(file);
	c->sha256 = xstrdup(sha);
	c->shortname = dup_or_null(journal_str(o, "shortname"));
	c->fullname = dup_or_null(journal_str(o, "fullname"));
	c->category_path = xstrdup(path ? path : "");
	c->category_names = json_incref(json_object_get(o, "category_names"));
	if (!json_is_array(c->category_names)) {
		json_decref(c->category_names);
		c->category_names = json_array();
	}
	c->moodle_release = dup_or_null(journal_str(o, "moodle_release"));
	c->moodle_version = journal_int(o, "moodle_version", 0);
	c->tool_version = dup_or_null(journal_str(o, "tool_version"));
	if (!m->root_name && journal_str(o, "session_category"))
		m->root_name = xstrdup(journal_str(o, "session_category"));
	if (!m->root_id)
		m->root_id = journal_int(o, "session_category_id", 0);
	if (!m->source_site && journal_str(o, "site_hash"))
		m->source_site = xstrdup(journal_str(o, "site_hash"));
	return 0;
}

static int on_ini(void *user, const char *section, const char *name,
		  const char *value)
{
	struct manifest *m = user;
	char *end;

	if (strcmp(section, "session") != 0)
		return 1;
	if (strcmp(name, "source_category_id") == 0 && !m->root_id) {
		long long v = strtoll(value, &end, 10);

		if (*value && !*end && v > 0)
			m->root_id = v;
	} else if (strcmp(name, "source_site_hash") == 0 && !m->source_site) {
		m->source_site = xstrdup(value);
	}
	return 1;
}

/* session.ini, written when the session was planned, fills the gaps */
static void read_session_ini(int metafd, struct manifest *m)
{
	int fd = openat(metafd, "session.ini", O_RDONLY | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return;
	}
	ini_parse_file(f, on_ini, m);
	fclose(f);
}

int manifest_load(int metafd, const char *session, struct manifest *out)
{
	struct load l = { .m = out, .session = session };
	off_t off = 0;
	long lines = 0;
	char *display = xasprintf("%s/%s/%s", session, SESSION_META_DIR,
				  MANIFEST_FILE);
	int rc;

	memset(out, 0, sizeof(*out));
	rc = journal_read(metafd, MANIFEST_FILE, display, &off, &lines,
			  on_line, &l);
	free(display);
	if (rc < 0) {
		manifest_release(out);
		return -1;
	}
	read_session_ini(metafd, out);
	/* archives of this version name it; the session was named after it */
	if (!out->root_name)
		out->root_name = xstrdup(session);
	return rc < 0 ? -1 : 0;
}

void manifest_release(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		course_release(&m->v[i]);
	free(m->v);
	free(m->root_name);
	free(m->source_site);
	memset(m, 0, sizeof(*m));
}

struct manifest_course *manifest_find(const struct manifest *m, int64_t id)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].id == id)
			return &m->v[i];
	return NULL;
}

bool manifest_name_matches(const char *have, const char *want,
			   const char *sep)
{
	size_t n;

	if (!have || !want)
		return false;
	if (strcmp(have, want) == 0)
		return true;
	n = strlen(want);
	if (strncmp(have, want, n) != 0 ||
	    strncmp(have + n, sep, strlen(sep)) != 0)
		return false;
	have += n + strlen(sep);
	if (!*have)
		return false;
	for (; *have; have++)
		if (*have < '0' || *have > '9')
			return false;
	return true;
}
