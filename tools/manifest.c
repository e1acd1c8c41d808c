/*
 * Loading a session's manifest for the operations that follow archive.
 * The indexer reads the same files for the index; here every field an
 * operation needs is kept, and the latest line of a course replaces the
 * ones before (a course archived again): the last of one file, the later
 * of two files (a shared archive's hosts each write their own).
 */
#include "manifest.h"

#include <dirent.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <errno.h>

#include "journal.h"
#include "log.h"
#include "xalloc.h"

struct load {
	struct manifest *m;
	const char *session, *file;
	int file_no; /* which manifest file: later lines of one always win */
};

static size_t slot_of(const struct manifest *m, int64_t id)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 17) & (m->cap - 1);
}

/*
 * Adds m->v[i] to the ids' hash table (index + 1 per slot, kept at most
 * half full): a 10,000-course session must not be searched line by line.
 */
static void index_course(struct manifest *m, size_t i)
{
	size_t k;

	if (2 * (m->n + 1) > m->cap) {
		size_t old = m->cap;
		size_t *slots = m->slots;

		m->cap = old ? 2 * old : 64;
		m->slots = xcalloc(m->cap, sizeof(*m->slots));
		for (size_t j = 0; j < old; j++)
			if (slots[j])
				index_course(m, slots[j] - 1);
		free(slots);
	}
	for (k = slot_of(m, m->v[i].id); m->slots[k];
	     k = (k + 1) & (m->cap - 1))
		;
	m->slots[k] = i + 1;
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

	int64_t time = journal_int(o, "time", 0);

	if (id <= 0 || !file || !sha) {
		log_warn("%s/%s/%s:%ld: skipped, not a manifest entry",
			 l->session, SESSION_META_DIR, l->file, line_no);
		return 0;
	}
	c = manifest_find(m, id);
	if (c) {
		if (c->file_no != l->file_no && time < c->time)
			return 0;
		course_release(c);
		memset(c, 0, sizeof(*c));
	} else {
		m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
		c = &m->v[m->n];
		memset(c, 0, sizeof(*c));
		c->id = id;
		index_course(m, m->n);
		m->n++;
	}
	c->id = id;
	c->time = time;
	c->file_no = l->file_no;
	c->file = xstrdup(file);
	c->sha256 = xstrdup(sha);
	c->shortname = xstrdup_or_null(journal_str(o, "shortname"));
	c->fullname = xstrdup_or_null(journal_str(o, "fullname"));
	c->category_path = xstrdup(path ? path : "");
	c->category_names = json_incref(json_object_get(o, "category_names"));
	if (!json_is_array(c->category_names)) {
		json_decref(c->category_names);
		c->category_names = json_array();
	}
	c->moodle_release = xstrdup_or_null(journal_str(o, "moodle_release"));
	c->moodle_version = journal_int(o, "moodle_version", 0);
	c->tool_version = xstrdup_or_null(journal_str(o, "tool_version"));
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

static int load_file(struct load *l, int metafd, const char *name)
{
	off_t off = 0;
	long lines = 0;
	char *display = xasprintf("%s/%s/%s", l->session, SESSION_META_DIR,
				  name);
	int rc;

	l->file = name;
	rc = journal_read(metafd, name, display, &off, &lines, on_line, l);
	free(display);
	l->file_no++;
	return rc;
}

int manifest_load(int metafd, const char *session, struct manifest *out)
{
	struct load l = { .m = out, .session = session };
	int fd = openat(metafd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return log_err("cannot list '%s/%s': %s", session,
			       SESSION_META_DIR, strerror(errno));
	}
	rc = load_file(&l, metafd, MANIFEST_FILE);
	while (rc == 0 && (de = readdir(dir)))
		if (strcmp(de->d_name, MANIFEST_FILE) != 0 &&
		    journal_is_manifest(de->d_name))
			rc = load_file(&l, metafd, de->d_name);
	closedir(dir);
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
	free(m->slots);
	free(m->root_name);
	free(m->source_site);
	memset(m, 0, sizeof(*m));
}

struct manifest_course *manifest_find(const struct manifest *m, int64_t id)
{
	if (!m->cap)
		return NULL;
	for (size_t k = slot_of(m, id); m->slots[k];
	     k = (k + 1) & (m->cap - 1))
		if (m->v[m->slots[k] - 1].id == id)
			return &m->v[m->slots[k] - 1];
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
