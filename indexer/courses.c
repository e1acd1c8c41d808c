#include "courses.h"

#include <sqlite3.h>

#include "idx_sql.h"

int courses_known(struct idx *idx, int64_t session_id, course_known_fn fn,
		  void *ctx)
{
	static const char sql[] =
		"SELECT source_course_id, file, state,"
		" in_manifest AND on_disk AND read_error IS NULL"
		"  AND sha256 IS manifest_sha256"
		" FROM courses WHERE session_id = ?1"
		" AND source_course_id IS NOT NULL AND state <> 'unknown'"
		" ORDER BY source_course_id";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct course_known k = {
			.source_id = sqlite3_column_int64(st, 0),
			.file = (const char *)sqlite3_column_text(st, 1),
			.state = (const char *)sqlite3_column_text(st, 2),
			.archived = sqlite3_column_int(st, 3),
		};

		if (fn(ctx, &k)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : idx_fail(idx, "cannot read courses");
}

int courses_plan(struct idx *idx, int64_t session_id,
		 const struct course_planned *p)
{
	static const char sql[] =
		"INSERT INTO courses(session_id, category_id, name, file,"
		" source_course_id, shortname, fullname, sections, activities,"
		" planned)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1)"
		" ON CONFLICT(session_id, file) DO UPDATE SET"
		" source_course_id = ?5, planned = 1,"
		" shortname = coalesce(shortname, ?6),"
		" fullname = coalesce(fullname, ?7)";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	if (p->category_id > 0)
		sqlite3_bind_int64(st, 2, p->category_id);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_text(st, 3, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->file, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, p->source_id);
	sqlite3_bind_text(st, 6, p->shortname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, p->fullname, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, p->sections);
	sqlite3_bind_int(st, 9, p->activities);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : idx_fail(idx, "cannot record the plan");
}

int courses_files(struct idx *idx, int64_t session_id, course_file_fn fn,
		  void *ctx)
{
	static const char sql[] =
		"SELECT file, in_manifest, manifest_sha256, on_disk,"
		" EXISTS(SELECT 1 FROM courses m WHERE m.session_id = ?1"
		"  AND m.in_manifest)"
		" FROM courses WHERE session_id = ?1 ORDER BY file";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct course_file f = {
			.file = (const char *)sqlite3_column_text(st, 0),
			.in_manifest = sqlite3_column_int(st, 1),
			.manifest_sha256 = idx_column_text(st, 2),
			.on_disk = sqlite3_column_int(st, 3),
			.session_has_manifest = sqlite3_column_int(st, 4),
		};

		if (fn(ctx, &f)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : idx_fail(idx, "cannot list courses");
}
