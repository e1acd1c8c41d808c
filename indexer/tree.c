#include "tree.h"

#include <sqlite3.h>
#include <stddef.h>

#include "idx_sql.h"
#include "xalloc.h"

static const char course_sql[] =
	"SELECT id, size, mtime_ns FROM courses"
	" WHERE session_id = ?1 AND file = ?2 AND on_disk";
static const char category_sql[] =
	"SELECT id FROM categories WHERE session_id = ?1 AND path = ?2";

int tree_lookup(struct idx *idx, int64_t session_id, const char *rel,
		bool course_first, struct tree_entry *out)
{
	for (int pass = 0; pass < 2; pass++) {
		bool course = (pass == 0) == course_first;
		sqlite3_stmt *st =
			idx_stmt(idx, course ? course_sql : category_sql);
		int rc;

		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, session_id);
		sqlite3_bind_text(st, 2, rel, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = (struct tree_entry){
				.is_course = course,
				.id = sqlite3_column_int64(st, 0),
				.size = course ? sqlite3_column_int64(st, 1)
					       : 0,
				.mtime_ns = course ? sqlite3_column_int64(st, 2)
						   : 0,
			};
			sqlite3_reset(st);
			return 1;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/*
 * Runs st (bound) and hands each row to fn: name in column 0, then, for
 * courses, size and mtime_ns. 1 when fn stopped it, 0 at the end, -1.
 */
static int walk(sqlite3_stmt *st, bool courses, tree_fn fn, void *ctx)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tree_entry e = {
			.name = (const char *)sqlite3_column_text(st, 0),
			.is_course = courses,
		};

		if (courses) {
			e.size = sqlite3_column_int64(st, 1);
			e.mtime_ns = sqlite3_column_int64(st, 2);
		}
		if (fn(ctx, &e)) {
			sqlite3_reset(st);
			return 1;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int tree_children(struct idx *idx, int64_t session_id, int64_t parent,
		  tree_fn fn, void *ctx)
{
	static const char cats[] =
		"SELECT name FROM categories WHERE session_id = ?1"
		" AND parent_id IS ?2 ORDER BY name";
	static const char courses[] =
		"SELECT name, size, mtime_ns FROM courses WHERE session_id = ?1"
		" AND category_id IS ?2 AND on_disk ORDER BY name";

	for (int pass = 0; pass < 2; pass++) {
		sqlite3_stmt *st = idx_stmt(idx, pass ? courses : cats);
		int rc;

		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, session_id);
		if (parent)
			sqlite3_bind_int64(st, 2, parent);
		else
			sqlite3_bind_null(st, 2);
		rc = walk(st, pass == 1, fn, ctx);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
	}
	return 0;
}

int tree_sessions(struct idx *idx, tree_fn fn, void *ctx)
{
	sqlite3_stmt *st =
		idx_stmt(idx, "SELECT name, id FROM sessions ORDER BY name");
	int rc;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tree_entry e = {
			.name = (const char *)sqlite3_column_text(st, 0),
			.id = sqlite3_column_int64(st, 1),
		};

		if (fn(ctx, &e)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int tree_course_attrs(struct idx *idx, int64_t id, char *vals[N_TREE_ATTRS])
{
	static const char sql[] =
		"SELECT state, sha256, source_course_id, archive_course_id,"
		" shortname, error FROM courses WHERE id = ?1";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int rc;

	for (int i = 0; i < N_TREE_ATTRS; i++)
		vals[i] = NULL;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	for (int i = 0; rc == SQLITE_ROW && i < N_TREE_ATTRS; i++)
		if (sqlite3_column_type(st, i) != SQLITE_NULL)
			vals[i] = xstrdup(
				(const char *)sqlite3_column_text(st, i));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	return rc == SQLITE_ROW;
}
