/*
 * Scanning the store into the index. For each session folder: walk the
 * tree, merge-join what is on disk with what the index knows (both sorted
 * by path), read the new and changed backups on worker threads, apply the
 * new manifest and journal lines, then derive each course's state from all
 * of it in SQL. Nothing here writes to the store.
 */
#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"
#include "idx_sql.h"
#include "journal.h"
#include "log.h"
#include "mbz.h"
#include "progress.h"
#include "readpool.h"
#include "store.h"
#include "xalloc.h"

#define BATCH 256
#define MAX_DEPTH 32

struct found {
	char *file; /* relative to the session folder */
	int64_t size, mtime_ns, inode;
};

struct found_list {
	struct found *v;
	size_t n, alloc;
	char **dirs; /* category folders, relative */
	size_t n_dirs, alloc_dirs;
};

struct session_scan {
	struct idx *idx;
	int64_t session_id;
	const char *name;
	long lines;
	const char *feed; /* the file being read, for events.source */
};

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static char *join(const char *prefix, const char *name)
{
	return *prefix ? xasprintf("%s/%s", prefix, name) : xstrdup(name);
}

static int walk(int dirfd, const char *prefix, int depth,
		struct found_list *out)
{
	struct dirent *de;
	DIR *dir;
	int rc = 0;

	if (depth > MAX_DEPTH) {
		close(dirfd);
		log_warn("'%s': folders nested deeper than %d, skipped", prefix,
			 MAX_DEPTH);
		return 0;
	}
	dir = fdopendir(dirfd);
	if (!dir) {
		close(dirfd);
		return log_err("cannot list '%s': %s", prefix,
			       strerror(errno));
	}
	while ((errno = 0, de = readdir(dir))) {
		struct stat st;

		if (store_name_is_hidden(de->d_name) ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished while we looked */
		if (S_ISDIR(st.st_mode)) {
			char *sub = join(prefix, de->d_name);
			int fd = openat(dirfd, de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);

			if (out->n_dirs == out->alloc_dirs) {
				out->alloc_dirs = out->alloc_dirs * 2 + 16;
				out->dirs = xrealloc(
					out->dirs,
					out->alloc_dirs * sizeof(*out->dirs));
			}
			out->dirs[out->n_dirs++] = sub;
			if (fd >= 0)
				rc |= walk(fd, sub, depth + 1, out);
		} else if (S_ISREG(st.st_mode) &&
			   has_suffix(de->d_name, ".mbz")) {
			struct found *f;

			if (out->n == out->alloc) {
				out->alloc = out->alloc * 2 + 64;
				out->v = xrealloc(out->v,
						  out->alloc * sizeof(*out->v));
			}
			f = &out->v[out->n++];
			f->file = join(prefix, de->d_name);
			f->size = st.st_size;
			f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
				      st.st_mtim.tv_nsec;
			f->inode = (int64_t)st.st_ino;
		}
	}
	if (errno)
		rc = log_err("cannot list '%s': %s", prefix, strerror(errno));
	closedir(dir);
	return rc;
}

static void found_list_release(struct found_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].file);
	for (size_t i = 0; i < l->n_dirs; i++)
		free(l->dirs[i]);
	free(l->v);
	free(l->dirs);
}

static int cmp_found(const void *a, const void *b)
{
	return strcmp(((const struct found *)a)->file,
		      ((const struct found *)b)->file);
}

static char *dirname_of(const char *file)
{
	const char *slash = strrchr(file, '/');

	return slash ? xstrndup(file, (size_t)(slash - file)) : xstrdup("");
}

static void bind_text_or_null(sqlite3_stmt *st, int col, const char *s)
{
	if (s)
		sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, col);
}

/*
 * The statement sql, bound to the course row of file: ?1 session, ?2 its
 * category (created when missing; NULL at the session's top), ?3 its
 * name, ?4 file. file must stay alive until the statement is reset.
 */
static sqlite3_stmt *course_stmt(struct idx *idx, int64_t session_id,
				 const char *sql, const char *file)
{
	char *dir = dirname_of(file);
	int64_t category = idx_category_ensure(idx, session_id, dir);
	const char *name = strrchr(file, '/');
	sqlite3_stmt *st;

	free(dir);
	if (category < 0 || !(st = idx_stmt(idx, sql)))
		return NULL;
	sqlite3_bind_int64(st, 1, session_id);
	if (category > 0)
		sqlite3_bind_int64(st, 2, category);
	sqlite3_bind_text(st, 3, name ? name + 1 : file, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, file, -1, SQLITE_STATIC);
	return st;
}

static int record_read(struct idx *idx, int64_t session_id,
		       const struct found *f, int read_rc,
		       const struct mbz_info *in, const char *err)
{
	static const char sql[] =
		"INSERT INTO courses(session_id, category_id, name, file,"
		"  on_disk, size, mtime_ns, inode, sha256, read_error,"
		"  source_course_id, shortname, fullname, sections, activities,"
		"  site_hash, wwwroot, backup_date, moodle_version,"
		"  moodle_release)"
		" VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
		"  ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
		" ON CONFLICT(session_id, file) DO UPDATE SET"
		"  category_id = ?2, on_disk = 1, size = ?5, mtime_ns = ?6,"
		"  inode = ?7, sha256 = ?8, read_error = ?9,"
		"  source_course_id = coalesce(?10,"
		"   CASE WHEN in_manifest THEN source_course_id END),"
		"  shortname = coalesce(?11,"
		"   CASE WHEN in_manifest THEN shortname END),"
		"  fullname = coalesce(?12,"
		"   CASE WHEN in_manifest THEN fullname END),"
		"  sections = ?13, activities = ?14,"
		"  site_hash = coalesce(?15,"
		"   CASE WHEN in_manifest THEN site_hash END),"
		"  wwwroot = ?16, backup_date = ?17, moodle_version = ?18,"
		"  moodle_release = ?19";
	sqlite3_stmt *st;
	bool ok = read_rc == 0 && in->have_backup_xml;
	int rc;

	if (!(st = course_stmt(idx, session_id, sql, f->file)))
		return -1;
	sqlite3_bind_int64(st, 5, f->size);
	sqlite3_bind_int64(st, 6, f->mtime_ns);
	sqlite3_bind_int64(st, 7, f->inode);
	if (ok) {
		sqlite3_bind_text(st, 8, in->sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, in->original_course_id);
		bind_text_or_null(st, 11, in->original_course_shortname);
		bind_text_or_null(st, 12, in->original_course_fullname);
		sqlite3_bind_int(st, 13, in->section_count);
		sqlite3_bind_int(st, 14, in->activity_count);
		bind_text_or_null(st, 15, in->original_site_identifier_hash);
		bind_text_or_null(st, 16, in->original_wwwroot);
		sqlite3_bind_int64(st, 17, in->backup_date);
		sqlite3_bind_int64(st, 18, in->moodle_version);
		bind_text_or_null(st, 19, in->moodle_release);
	} else {
		sqlite3_bind_text(st, 9, err && err[0] ? err : "unreadable",
				  -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : idx_fail(idx, "cannot record a course");
}

/*
 * In the caller's transaction: the session's inputs changed, its course
 * states must be derived again (derive_states() with no course clears it).
 */
static int mark_stale(struct idx *idx, int64_t session_id)
{
	static const char sql[] =
		"UPDATE sessions SET states_stale = 1"
		" WHERE id = ?1 AND NOT states_stale";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : idx_fail(idx, "cannot mark a session");
}

static int is_stale(struct idx *idx, int64_t session_id)
{
	static const char sql[] =
		"SELECT states_stale FROM sessions WHERE id = ?1";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int rc, stale = 1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		stale = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return idx_fail(idx, "cannot read a session");
	return stale;
}

struct read_batch {
	struct idx *idx;
	int64_t session_id;
	const struct found **files;
	char **paths;
	struct progress *bar;
	struct scan_stats *stats;
	int64_t bytes;
	size_t n;
};

/* One result of the reader threads: recorded in batches of BATCH. */
static int record_one(void *ctx, size_t i, int rc, const struct mbz_info *in,
		      const char *err)
{
	struct read_batch *b = ctx;

	if (i % BATCH == 0 && idx_begin(b->idx) < 0)
		return -1;
	if (i % BATCH == 0 && mark_stale(b->idx, b->session_id) < 0)
		goto out_rollback;
	if (record_read(b->idx, b->session_id, b->files[i], rc, in, err) < 0)
		goto out_rollback;
	if ((i % BATCH == BATCH - 1 || i == b->n - 1) && idx_commit(b->idx) < 0)
		goto out_rollback;
	b->stats->read++;
	if (rc != 0) {
		b->stats->failed++;
		log_warn("'%s': %s", b->paths[i], err);
	}
	b->bytes += b->files[i]->size;
	progress_update(b->bar, (int64_t)i + 1, b->bytes, b->files[i]->file);
	return 0;

out_rollback:
	idx_rollback(b->idx);
	return -1;
}

/* Rows the index has for files that are gone: forget or mark missing. */
static int record_vanished(struct idx *idx, int64_t course_id)
{
	static const char del[] =
		"DELETE FROM courses WHERE id = ?1 AND (state = 'unknown'"
		" OR (NOT in_manifest AND NOT planned"
		" AND NOT restored AND NOT purged))";
	static const char mark[] =
		"UPDATE courses SET on_disk = 0, size = NULL, mtime_ns = NULL,"
		" inode = NULL, sha256 = NULL, read_error = NULL WHERE id = ?1";
	sqlite3_stmt *st = idx_stmt(idx, del);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, course_id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return idx_fail(idx, "cannot forget a course");
	}
	sqlite3_reset(st);
	if (sqlite3_changes(idx_db(idx)) > 0)
		return 0;
	if (!(st = idx_stmt(idx, mark)))
		return -1;
	sqlite3_bind_int64(st, 1, course_id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return idx_fail(idx, "cannot mark a course missing");
	}
	sqlite3_reset(st);
	return 0;
}

static bool safe_relative_file(const char *file)
{
	const char *p = file;

	if (!*file || *file == '/' || !has_suffix(file, ".mbz"))
		return false;
	while (*p) {
		const char *end = strchrnul(p, '/');

		if (end == p || (end - p == 2 && p[0] == '.' && p[1] == '.') ||
		    p[0] == '.')
			return false;
		p = *end ? end + 1 : end;
	}
	return true;
}

static int apply_manifest_line(void *ctx, long line_no, json_t *obj)
{
	static const char sql[] =
		"INSERT INTO courses(session_id, category_id, name, file,"
		"  in_manifest, manifest_sha256, source_course_id, shortname,"
		"  fullname, site_hash, manifest_feed, manifest_time)"
		" VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
		" ON CONFLICT(session_id, file) DO UPDATE SET"
		"  in_manifest = 1, manifest_sha256 = ?5, source_course_id = ?6,"
		"  shortname = coalesce(?7, shortname),"
		"  fullname = coalesce(?8, fullname),"
		"  site_hash = coalesce(?9, site_hash),"
		"  manifest_feed = ?10, manifest_time = ?11"
		/* of one manifest's lines the last, of two's the later */
		" WHERE NOT in_manifest OR manifest_time IS NULL"
		"  OR manifest_feed IS ?10 OR ?11 >= manifest_time";
	struct session_scan *s = ctx;
	const char *file = journal_str(obj, "file");
	const char *sha = journal_str(obj, "sha256");
	int64_t course = journal_int(obj, "source_course_id", -1);
	sqlite3_stmt *st;
	int rc;

	if (!file || !safe_relative_file(file) || !sha || course <= 0) {
		log_warn("%s/%s/%s:%ld: skipped, not a manifest entry (needs "
			 "file, sha256, source_course_id)",
			 s->name, SESSION_META_DIR, s->feed, line_no);
		return 0;
	}
	if (!(st = course_stmt(s->idx, s->session_id, sql, file)))
		return -1;
	sqlite3_bind_text(st, 10, s->feed, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, journal_int(obj, "time", 0));
	sqlite3_bind_text(st, 5, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, course);
	bind_text_or_null(st, 7, journal_str(obj, "shortname"));
	bind_text_or_null(st, 8, journal_str(obj, "fullname"));
	bind_text_or_null(st, 9, journal_str(obj, "site_hash"));
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return idx_fail(s->idx, "cannot record a manifest entry");
	s->lines++;
	return 0;
}

static int note_failed_course(struct session_scan *s, int64_t course,
			      const char *file)
{
	static const char sql[] =
		"INSERT INTO courses(session_id, category_id, name, file,"
		" source_course_id, planned) VALUES (?1, ?2, ?3, ?4, ?5, 1)"
		" ON CONFLICT(session_id, file) DO NOTHING";
	sqlite3_stmt *st;
	int rc;

	if (!file || !safe_relative_file(file))
		return 0;
	if (!(st = course_stmt(s->idx, s->session_id, sql, file)))
		return -1;
	sqlite3_bind_int64(st, 5, course);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0
				 : idx_fail(s->idx, "cannot record a course");
}

static int apply_journal_line(void *ctx, long line_no, json_t *obj)
{
	static const char sql[] =
		"INSERT OR IGNORE INTO events(session_id, source, line, time,"
		"  event, site, source_course_id, data)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
	struct session_scan *s = ctx;
	const char *event = journal_str(obj, "event");
	int64_t course = journal_int(obj, "source_course_id", -1);
	sqlite3_stmt *st;
	char *data;
	int rc;

	if (!event) {
		log_warn("%s/%s/%s:%ld: skipped, no \"event\"", s->name,
			 SESSION_META_DIR, s->feed, line_no);
		return 0;
	}
	if (!(st = idx_stmt(s->idx, sql)))
		return -1;
	data = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	sqlite3_bind_int64(st, 1, s->session_id);
	sqlite3_bind_text(st, 2, s->feed, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, line_no);
	sqlite3_bind_int64(st, 4, journal_int(obj, "time", 0));
	sqlite3_bind_text(st, 5, event, -1, SQLITE_STATIC);
	bind_text_or_null(st, 6, journal_str(obj, "site"));
	if (course > 0)
		sqlite3_bind_int64(st, 7, course);
	sqlite3_bind_text(st, 8, data ? data : "{}", -1, SQLITE_TRANSIENT);
	free(data);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return idx_fail(s->idx, "cannot record a journal event");
	s->lines++;
	/* a course that never reached the store is known by its failure */
	if (strcmp(event, "backup_failed") == 0 && course > 0)
		return note_failed_course(s, course, journal_str(obj, "file"));
	return 0;
}

/* Reads what was appended to one manifest or journal since last time. */
static int read_feed(struct session_scan *s, int metafd, const char *file)
{
	static const char get[] = "SELECT inode, offset, lines FROM feeds"
				  " WHERE session_id = ?1 AND file = ?2";
	static const char put[] =
		"INSERT INTO feeds(session_id, file, inode, offset, lines)"
		" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE SET"
		" inode = ?3, offset = ?4, lines = ?5";
	static const char forget_events[] =
		"DELETE FROM events WHERE session_id = ?1 AND source = ?2";
	static const char forget_manifest[] =
		"UPDATE courses SET in_manifest = 0, manifest_sha256 = NULL,"
		" manifest_feed = NULL, manifest_time = NULL"
		" WHERE session_id = ?1 AND in_manifest AND manifest_feed = ?2";
	/* what only the old manifest knew: as record_vanished() does */
	static const char prune_manifest[] =
		"DELETE FROM courses WHERE session_id = ?1 AND NOT in_manifest"
		" AND NOT planned"
		" AND NOT on_disk AND NOT restored AND NOT purged";
	bool manifest = journal_is_manifest(file), again = false;
	sqlite3_stmt *st;
	struct stat sb;
	int64_t inode = -1;
	off_t offset = 0;
	long lines = 0;
	char *display;
	int rc;

	if (fstatat(metafd, file, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(sb.st_mode))
		return 0;
	if (!(st = idx_stmt(s->idx, get)))
		return -1;
	sqlite3_bind_int64(st, 1, s->session_id);
	sqlite3_bind_text(st, 2, file, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		inode = sqlite3_column_int64(st, 0);
		offset = (off_t)sqlite3_column_int64(st, 1);
		lines = (long)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (offset == sb.st_size && inode == (int64_t)sb.st_ino)
		return 0;
	if (idx_begin(s->idx) < 0)
		return -1;
	/* replaced or shrunk: files only ever grow, so start again */
	if (inode != (int64_t)sb.st_ino || sb.st_size < offset) {
		offset = 0;
		lines = 0;
		again = true;
		st = idx_stmt(s->idx, manifest ? forget_manifest
					       : forget_events);
		if (!st)
			goto out_rollback;
		sqlite3_bind_int64(st, 1, s->session_id);
		sqlite3_bind_text(st, 2, file, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			idx_fail(s->idx, "cannot forget old lines");
			goto out_rollback;
		}
	}
	s->feed = file;
	display = xasprintf("%s/%s/%s", s->name, SESSION_META_DIR, file);
	rc = journal_read(metafd, file, display, &offset, &lines,
			  manifest ? apply_manifest_line : apply_journal_line,
			  s);
	free(display);
	if (rc != 0)
		goto out_rollback;
	if (again && manifest) {
		if (!(st = idx_stmt(s->idx, prune_manifest)))
			goto out_rollback;
		sqlite3_bind_int64(st, 1, s->session_id);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			idx_fail(s->idx, "cannot forget old manifest entries");
			goto out_rollback;
		}
	}
	if (mark_stale(s->idx, s->session_id) < 0 ||
	    !(st = idx_stmt(s->idx, put)))
		goto out_rollback;
	sqlite3_bind_int64(st, 1, s->session_id);
	sqlite3_bind_text(st, 2, file, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)sb.st_ino);
	sqlite3_bind_int64(st, 4, (int64_t)offset);
	sqlite3_bind_int64(st, 5, lines);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		idx_fail(s->idx, "cannot record a feed");
		goto out_rollback;
	}
	if (idx_commit(s->idx) < 0)
		return -1;
	return 0;

out_rollback:
	idx_rollback(s->idx);
	return -1;
}

static int read_feeds(struct session_scan *s, int sessfd)
{
	struct dirent *de;
	DIR *dir;
	int metafd, rc = 0;

	metafd = openat(sessfd, SESSION_META_DIR,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (metafd < 0)
		return errno == ENOENT ? 0
				       : log_err("cannot open '%s/%s': %s",
						 s->name, SESSION_META_DIR,
						 strerror(errno));
	dir = fdopendir(metafd);
	if (!dir) {
		close(metafd);
		return log_err("cannot list '%s/%s': %s", s->name,
			       SESSION_META_DIR, strerror(errno));
	}
	/* the manifests first: journal events refer to their courses */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		rewinddir(dir);
		while (rc == 0 && (de = readdir(dir))) {
			bool journal = strncmp(de->d_name, JOURNAL_PREFIX,
					       strlen(JOURNAL_PREFIX)) == 0 &&
				       has_suffix(de->d_name, JOURNAL_SUFFIX);

			if (pass == 0 ? journal_is_manifest(de->d_name)
				      : journal)
				rc = read_feed(s, metafd, de->d_name);
		}
	}
	closedir(dir);
	return rc;
}

/*
 * In the caller's transaction: what the session's events say of each
 * course (history.c's fold, the one restore, verify and purge read), of
 * every course or of the one with source id course.
 */
static int record_histories(struct idx *idx, int64_t session_id,
			    int64_t course)
{
	static const char clear[] =
		"UPDATE courses SET restored = 0, archive_course_id = NULL,"
		" purged = 0, verified = 0, event_error = NULL,"
		" hook_error = NULL"
		" WHERE session_id = ?1 AND (?2 = 0 OR source_course_id = ?2)";
	static const char set[] =
		"UPDATE courses SET restored = ?3, archive_course_id = ?4,"
		" purged = ?5, verified = ?6, event_error = ?7, hook_error = ?8"
		" WHERE session_id = ?1 AND source_course_id = ?2";
	sqlite3_stmt *st = idx_stmt(idx, clear);
	struct history h;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_int64(st, 2, course);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return idx_fail(idx, "cannot derive course states");
	if ((course ? history_load_course(idx, session_id, course, &h)
		    : history_load(idx, session_id, &h)) < 0)
		return -1;
	if (!(st = idx_stmt(idx, set)))
		goto out_release;
	for (size_t i = 0; i < h.n; i++) {
		const struct course_history *c = &h.v[i];

		sqlite3_bind_int64(st, 1, session_id);
		sqlite3_bind_int64(st, 2, c->source_id);
		sqlite3_bind_int(st, 3, c->restored);
		if (c->archive_id)
			sqlite3_bind_int64(st, 4, c->archive_id);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_int(st, 5, c->purged);
		sqlite3_bind_int(st, 6, strcmp(c->verify_result, "ok") == 0);
		sqlite3_bind_text(st, 7, c->error, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, c->hook_error, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			idx_fail(idx, "cannot derive course states");
			goto out_release;
		}
	}
	history_release(&h);
	return 0;

out_release:
	history_release(&h);
	return -1;
}

/*
 * Each course's state, from its file, the manifest and the journals: of
 * every course of the session, or of the one with source id course.
 */
static int derive_states(struct idx *idx, int64_t session_id, int64_t course)
{
	/*
	 * A file of a session the tool archived that neither the manifest
	 * nor a journal names is none of its courses, whatever its backup
	 * says (its course id may even be a real course's).
	 */
#define UNKNOWN_FILE                                                      \
	" (NOT in_manifest AND NOT planned"                               \
	"  AND EXISTS(SELECT 1 FROM courses m WHERE m.session_id = ?1"     \
	"   AND m.in_manifest)"                                           \
	"  AND (source_course_id IS NULL"                                 \
	"   OR EXISTS(SELECT 1 FROM courses m WHERE m.session_id = ?1"     \
	"    AND m.in_manifest"                                           \
	"    AND m.source_course_id = courses.source_course_id)"          \
	"   OR NOT EXISTS(SELECT 1 FROM events e WHERE e.session_id = ?1"  \
	"    AND e.source_course_id = courses.source_course_id)))"
	static const char states[] =
		"UPDATE courses SET (state, error) = (SELECT CASE"
		"  WHEN" UNKNOWN_FILE " THEN 'unknown'"
		"  WHEN purged THEN 'purged'"
		"  WHEN on_disk AND read_error IS NOT NULL THEN 'failed'"
		"  WHEN in_manifest AND NOT on_disk THEN 'failed'"
		"  WHEN in_manifest AND sha256 IS NOT NULL"
		"   AND sha256 <> manifest_sha256 THEN 'failed'"
		"  WHEN event_error IS NOT NULL THEN 'failed'"
		"  WHEN verified THEN 'verified'"
		"  WHEN restored THEN 'restored'"
		"  WHEN on_disk THEN 'archived'"
		"  ELSE 'pending' END, CASE"
		"  WHEN" UNKNOWN_FILE " THEN coalesce(read_error,"
		"   'named by no manifest or journal line: not a course of"
		" this session')"
		"  WHEN purged THEN NULL"
		"  WHEN on_disk AND read_error IS NOT NULL THEN read_error"
		"  WHEN in_manifest AND NOT on_disk"
		"   THEN 'backup file missing from the store'"
		"  WHEN in_manifest AND sha256 IS NOT NULL"
		"   AND sha256 <> manifest_sha256"
		"   THEN 'checksum mismatch: the file differs from the manifest'"
		"  WHEN event_error IS NOT NULL THEN event_error"
		"  WHEN restored AND hook_error IS NOT NULL"
		"   THEN 'restored, post_restore hook failed: ' || hook_error"
		"  ELSE NULL END)"
		" WHERE session_id = ?1 AND (?2 = 0 OR source_course_id = ?2)";
#undef UNKNOWN_FILE
	static const char fresh[] =
		"UPDATE sessions SET states_stale = 0 WHERE id = ?1 AND ?2 = 0";
	const char *steps[] = { states, fresh };
	int rc;

	if (idx_begin(idx) < 0)
		return -1;
	if (record_histories(idx, session_id, course) < 0)
		goto out_rollback;
	for (size_t i = 0; i < 2; i++) {
		sqlite3_stmt *st = idx_stmt(idx, steps[i]);

		if (!st)
			goto out_rollback;
		sqlite3_bind_int64(st, 1, session_id);
		sqlite3_bind_int64(st, 2, course);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			idx_fail(idx, "cannot derive course states");
			goto out_rollback;
		}
	}
	return idx_commit(idx);

out_rollback:
	idx_rollback(idx);
	return -1;
}

/* Category rows for the folders on disk; empty vanished ones go. */
static int record_categories(struct idx *idx, int64_t session_id,
			     const struct found_list *l)
{
	static const char clear[] =
		"UPDATE categories SET on_disk = 0 WHERE session_id = ?1";
	static const char mark[] =
		"UPDATE categories SET on_disk = 1 WHERE id = ?1";
	static const char prune[] =
		"DELETE FROM categories WHERE session_id = ?1 AND NOT on_disk"
		" AND source_category_id IS NULL"
		" AND archive_category_id IS NULL"
		" AND NOT EXISTS(SELECT 1 FROM courses c"
		"  WHERE c.category_id = categories.id)"
		" AND NOT EXISTS(SELECT 1 FROM categories k"
		"  WHERE k.parent_id = categories.id)";
	sqlite3_stmt *st;
	int rc;

	if (idx_begin(idx) < 0)
		return -1;
	if (!(st = idx_stmt(idx, clear)))
		goto out_rollback;
	sqlite3_bind_int64(st, 1, session_id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto out_fail;
	for (size_t i = 0; i < l->n_dirs; i++) {
		int64_t id = idx_category_ensure(idx, session_id, l->dirs[i]);

		if (id < 0 || !(st = idx_stmt(idx, mark)))
			goto out_rollback;
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			goto out_fail;
	}
	/* a leaf at a time: repeat while rows go (trees are shallow) */
	do {
		if (!(st = idx_stmt(idx, prune)))
			goto out_rollback;
		sqlite3_bind_int64(st, 1, session_id);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			goto out_fail;
	} while (sqlite3_changes(idx_db(idx)) > 0);
	return idx_commit(idx);

out_fail:
	idx_fail(idx, "cannot record categories");
out_rollback:
	idx_rollback(idx);
	return -1;
}

static int scan_session(struct idx *idx, struct store *store,
			const char *name, const struct scan_options *opt,
			struct scan_stats *stats)
{
	static const char known_sql[] =
		"SELECT id, file, size, mtime_ns, inode, on_disk FROM courses"
		" WHERE session_id = ?1 ORDER BY file";
	struct found_list l = { 0 };
	struct session_scan s = { .idx = idx, .name = name };
	const struct found **to_read = NULL;
	char **paths = NULL;
	struct read_batch batch = { .idx = idx, .stats = stats };
	struct progress *bar = NULL;
	sqlite3_stmt *st;
	size_t n_read = 0, k = 0;
	long vanished = 0;
	int64_t *gone = NULL, to_read_bytes = 0;
	size_t n_gone = 0;
	int sessfd, fd, rc = -1, step, stale;

	sessfd = openat(store_dirfd(store), name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sessfd < 0)
		return log_err("cannot open session '%s': %s", name,
			       strerror(errno));
	s.session_id = idx_session_ensure(idx, name);
	if (s.session_id < 0)
		goto out_close;
	fd = dup(sessfd);
	if (fd < 0 || walk(fd, "", 0, &l) < 0) {
		if (fd < 0)
			log_err("cannot list session '%s': %s", name,
				strerror(errno));
		goto out_release;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_found);
	stats->files += (long)l.n;

	/* merge-join disk (sorted) with the index (ORDER BY file) */
	to_read = xcalloc(l.n ? l.n : 1, sizeof(*to_read));
	paths = xcalloc(l.n ? l.n : 1, sizeof(*paths));
	if (!(st = idx_stmt(idx, known_sql)))
		goto out_release;
	sqlite3_bind_int64(st, 1, s.session_id);
	step = sqlite3_step(st);
	while (k < l.n || step == SQLITE_ROW) {
		const char *known = step == SQLITE_ROW
					    ? (const char *)sqlite3_column_text(
						      st, 1)
					    : NULL;
		int c = !known ? -1 : k == l.n ? 1 : strcmp(l.v[k].file, known);

		if (c < 0 || (c == 0 && (opt->rebuild ||
					 sqlite3_column_int(st, 5) == 0 ||
					 sqlite3_column_int64(st, 2) !=
						 l.v[k].size ||
					 sqlite3_column_int64(st, 3) !=
						 l.v[k].mtime_ns ||
					 sqlite3_column_int64(st, 4) !=
						 l.v[k].inode))) {
			to_read[n_read] = &l.v[k];
			paths[n_read++] = xasprintf("%s/%s/%s",
						    store_path(store), name,
						    l.v[k].file);
			to_read_bytes += l.v[k].size;
		} else if (c > 0 && sqlite3_column_int(st, 5)) {
			gone = xrealloc(gone, (n_gone + 1) * sizeof(*gone));
			gone[n_gone++] = sqlite3_column_int64(st, 0);
		}
		if (c <= 0)
			k++;
		if (c >= 0)
			step = sqlite3_step(st);
	}
	sqlite3_reset(st);
	if (step != SQLITE_DONE && step != SQLITE_ROW) {
		idx_fail(idx, "cannot list known courses");
		goto out_release;
	}

	if (idx_begin(idx) < 0)
		goto out_release;
	if (n_gone && mark_stale(idx, s.session_id) < 0) {
		idx_rollback(idx);
		goto out_release;
	}
	for (size_t i = 0; i < n_gone; i++) {
		if (record_vanished(idx, gone[i]) < 0) {
			idx_rollback(idx);
			goto out_release;
		}
		vanished++;
	}
	if (idx_commit(idx) < 0)
		goto out_release;
	stats->vanished += vanished;

	bar = progress_new(name, (int64_t)n_read, to_read_bytes, opt->quiet);
	batch.session_id = s.session_id;
	batch.files = to_read;
	batch.paths = paths;
	batch.bar = bar;
	batch.n = n_read;
	if (readpool_run(paths, n_read, MBZ_FULL, opt->threads, record_one,
			 &batch) != 0)
		goto out_release;
	stats->bytes_read += batch.bytes;
	if (record_categories(idx, s.session_id, &l) < 0 ||
	    read_feeds(&s, sessfd) < 0)
		goto out_release;
	stats->lines += s.lines;
	if ((stale = is_stale(idx, s.session_id)) < 0 ||
	    ((stale || opt->rebuild) && derive_states(idx, s.session_id, 0) < 0))
		goto out_release;
	rc = 0;

out_release:
	progress_end(bar);
	for (size_t i = 0; i < n_read; i++)
		free(paths[i]);
	free(paths);
	free(to_read);
	free(gone);
	found_list_release(&l);
out_close:
	close(sessfd);
	return rc;
}

static int check_store_id(struct idx *idx, struct store *store, bool rebuild)
{
	static const char put[] =
		"INSERT OR REPLACE INTO meta(key, value) VALUES"
		" ('store_id', ?1), ('store_path', ?2)";
	sqlite3_stmt *st;
	char *owner;
	int rc = idx_store_id(idx, &owner);

	if (rc < 0)
		return -1;
	if (rc == 1 && !rebuild && strcmp(owner, store_id(store)) != 0) {
		log_err("index '%s' belongs to another store (id %s), not to "
			"'%s' (id %s): use another --index, or 'index "
			"--rebuild' to start it again",
			idx_path(idx), owner, store_path(store),
			store_id(store));
		free(owner);
		return -1;
	}
	free(owner);
	if (!(st = idx_stmt(idx, put)))
		return -1;
	sqlite3_bind_text(st, 1, store_id(store), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, store_path(store), -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : idx_fail(idx, "cannot record the store");
}

/* Sessions whose folder left the store leave the index too. */
static int prune_sessions(struct idx *idx, char **names, size_t n)
{
	static const char all[] = "SELECT id, name FROM sessions";
	static const char del[] = "DELETE FROM sessions WHERE id = ?1";
	sqlite3_stmt *st = idx_stmt(idx, all);
	int64_t *gone = NULL;
	size_t n_gone = 0;
	int rc = 0;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		bool seen = false;

		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(names[i], name) == 0;
		if (!seen) {
			gone = xrealloc(gone, (n_gone + 1) * sizeof(*gone));
			gone[n_gone++] = sqlite3_column_int64(st, 0);
		}
	}
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? 0 : idx_fail(idx, "cannot list sessions");
	for (size_t i = 0; rc == 0 && i < n_gone; i++) {
		if (!(st = idx_stmt(idx, del))) {
			rc = -1;
			break;
		}
		sqlite3_bind_int64(st, 1, gone[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = idx_fail(idx, "cannot forget a session");
		sqlite3_reset(st);
	}
	free(gone);
	return rc;
}

int scan_store(struct idx *idx, struct store *store,
	       const struct scan_options *opt, struct scan_stats *stats)
{
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *dir;
	int fd, rc = 0;

	memset(stats, 0, sizeof(*stats));
	if (idx_begin(idx) < 0)
		return -1;
	if (check_store_id(idx, store, opt->rebuild) < 0 ||
	    (opt->rebuild &&
	     idx_exec(idx, "DELETE FROM events; DELETE FROM feeds;"
			   " DELETE FROM courses; DELETE FROM categories;") <
		     0)) {
		idx_rollback(idx);
		return -1;
	}
	if (idx_commit(idx) < 0)
		return -1;

	fd = openat(store_dirfd(store), ".", O_RDONLY | O_DIRECTORY |
						     O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return log_err("cannot list store '%s': %s", store_path(store),
			       strerror(errno));
	}
	while ((de = readdir(dir))) {
		struct stat sb;

		if (store_name_is_hidden(de->d_name) ||
		    fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dir);

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (opt->only && strcmp(opt->only, names[i]) != 0)
			continue;
		stats->sessions++;
		rc = scan_session(idx, store, names[i], opt, stats);
	}
	if (rc == 0 && opt->only && stats->sessions == 0)
		rc = log_err("no session '%s' in store '%s'", opt->only,
			     store_path(store));
	if (rc == 0 && !opt->only) {
		if (idx_begin(idx) < 0 || prune_sessions(idx, names, n) < 0 ||
		    idx_commit(idx) < 0) {
			idx_rollback(idx);
			rc = -1;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int scan_record_file(struct idx *idx, int64_t session_id, const char *file,
		     const struct stat *sb, int read_rc,
		     const struct mbz_info *info, const char *err)
{
	struct found f = {
		.file = (char *)file,
		.size = sb->st_size,
		.mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 +
			    sb->st_mtim.tv_nsec,
		.inode = (int64_t)sb->st_ino,
	};
	int rc;

	if (idx_begin(idx) < 0)
		return -1;
	rc = mark_stale(idx, session_id);
	if (rc == 0)
		rc = record_read(idx, session_id, &f, read_rc, info, err);
	if (rc < 0 || idx_commit(idx) < 0) {
		idx_rollback(idx);
		return -1;
	}
	return 0;
}

int scan_session_feeds(struct idx *idx, struct store *store,
		       const char *session, int64_t course)
{
	struct session_scan s = { .idx = idx, .name = session };
	int sessfd, rc;

	s.session_id = idx_session_ensure(idx, session);
	if (s.session_id < 0)
		return -1;
	sessfd = openat(store_dirfd(store), session,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sessfd < 0)
		return log_err("cannot open session '%s': %s", session,
			       strerror(errno));
	rc = read_feeds(&s, sessfd);
	close(sessfd);
	if (rc == 0)
		rc = derive_states(idx, s.session_id, course);
	return rc;
}
