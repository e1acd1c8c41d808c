/*
 * Status and listings out of the index. A run is "running" only while its
 * process is alive on this host: a stale row left by a killed process
 * reads as "interrupted", never as a run in progress.
 */
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idx_sql.h"
#include "log.h"
#include "printable.h"
#include "runs.h"
#include "strbuf.h"
#include "xalloc.h"

static const char *const states[] = { IDX_STATES };
#define N_STATES (sizeof(states) / sizeof(states[0]))

static json_t *col_json(sqlite3_stmt *st, int col)
{
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, col));
	case SQLITE_TEXT:
		return json_string((const char *)sqlite3_column_text(st, col));
	default: return json_null();
	}
}

json_t *report_time_json(int64_t t)
{
	char buf[32];
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0)
		return json_null();
	localtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	return json_string(buf);
}

/* Counts by state and bytes, from the courses table. */
static int add_counts(struct idx *idx, int64_t session_id, json_t *o)
{
	static const char sql[] =
		"SELECT state, count(*), coalesce(sum(size), 0) FROM courses"
		" WHERE session_id = ?1 GROUP BY state";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	json_t *by = json_object();
	int64_t total = 0, bytes = 0;
	int rc;

	if (!st) {
		json_decref(by);
		return -1;
	}
	for (size_t i = 0; i < N_STATES; i++)
		json_object_set_new(by, states[i], json_integer(0));
	sqlite3_bind_int64(st, 1, session_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(st, 1);
		const char *state = (const char *)sqlite3_column_text(st, 0);

		json_object_set_new(by, state, json_integer(n));
		/* a file no line names is none of the session's courses */
		if (strcmp(state, "unknown") != 0)
			total += n;
		bytes += sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(by);
		return idx_fail(idx, "cannot count courses");
	}
	json_object_set_new(o, "courses", by);
	json_object_set_new(o, "courses_total", json_integer(total));
	json_object_set_new(o, "bytes_stored", json_integer(bytes));
	return 0;
}

static int64_t count_of(json_t *o, const char *state)
{
	return json_integer_value(
		json_object_get(json_object_get(o, "courses"), state));
}

static void set_idle(json_t *o)
{
	int64_t total = json_integer_value(json_object_get(o, "courses_total"));
	int64_t failed = count_of(o, "failed");
	int64_t done = total - failed - count_of(o, "pending");

	json_object_set_new(o, "operation", json_null());
	json_object_set_new(o, "state", json_string("idle"));
	json_object_set_new(o, "pid", json_null());
	json_object_set_new(o, "started", json_null());
	json_object_set_new(o, "done", json_integer(done));
	json_object_set_new(o, "failed", json_integer(failed));
	json_object_set_new(o, "remaining",
			    json_integer(total - done - failed));
	json_object_set_new(o, "total", json_integer(total));
	json_object_set_new(o, "bytes",
			    json_incref(json_object_get(o, "bytes_stored")));
	json_object_set_new(o, "bytes_total", json_null());
	json_object_set_new(o, "eta", json_null());
	json_object_set_new(o, "current", json_null());
	json_object_set_new(o, "window", json_null());
	json_object_set_new(o, "last_error", json_null());
}

/*
 * The live run of the session, else its latest one, over the idle view
 * from the course counts. A refused request keeps the counts: it names the
 * operation, its state and the reason only.
 */
static int add_run(struct idx *idx, int64_t session_id, json_t *o,
		   bool *running)
{
	static const char sql[] =
		"SELECT operation, state, pid, host, started, updated, ended,"
		" done, failed, total, bytes_done, bytes_total, current, window,"
		" (SELECT r.last_error FROM runs r WHERE r.session_id = ?1"
		"  AND r.last_error IS NOT NULL ORDER BY r.updated DESC,"
		"  r.id DESC LIMIT 1)"
		" FROM runs WHERE session_id = ?1"
		" ORDER BY ended IS NULL DESC, started DESC, id DESC LIMIT 1";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int rc;

	*running = false;
	set_idle(o);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 1);
		bool ended = sqlite3_column_type(st, 6) != SQLITE_NULL;
		int64_t pid = sqlite3_column_int64(st, 2);
		int64_t started = sqlite3_column_int64(st, 4);
		int64_t updated = sqlite3_column_int64(st, 5);
		int64_t done = sqlite3_column_int64(st, 7);
		int64_t failed = sqlite3_column_int64(st, 8);
		int64_t total = sqlite3_column_int64(st, 9);

		if (!ended && !runs_alive_here((pid_t)pid,
					       (const char *)sqlite3_column_text(
						       st, 3)))
			state = "interrupted";
		*running = !ended && strcmp(state, "interrupted") != 0;
		json_object_set_new(o, "operation", col_json(st, 0));
		json_object_set_new(o, "state", json_string(state));
		json_object_set_new(o, "last_error", col_json(st, 14));
		if (strcmp(state, "refused") != 0) {
			json_object_set_new(o, "pid", *running
							      ? json_integer(pid)
							      : json_null());
			json_object_set_new(o, "started", report_time_json(started));
			json_object_set_new(o, "window", col_json(st, 13));
			json_object_set_new(o, "current",
					    *running ? col_json(st, 12)
						     : json_null());
		}
		/* runs that count courses replace the counts of the index */
		if (strcmp(state, "refused") != 0 && total > 0) {
			json_object_set_new(o, "done", json_integer(done));
			json_object_set_new(o, "failed", json_integer(failed));
			json_object_set_new(
				o, "remaining",
				json_integer(total - done - failed));
			json_object_set_new(o, "total", json_integer(total));
			json_object_set_new(o, "bytes", col_json(st, 10));
			json_object_set_new(o, "bytes_total",
					    col_json(st, 11));
		}
		/* ETA from the pace so far, only while it runs */
		if (*running && done > 0 && total > done + failed &&
		    updated > started)
			json_object_set_new(
				o, "eta",
				report_time_json(updated +
					 (updated - started) *
						 (total - done - failed) /
						 (done + failed)));
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		       ? 0
		       : idx_fail(idx, "cannot read runs");
}

json_t *report_status(struct idx *idx, const char *session)
{
	static const char sql[] =
		"SELECT id, name FROM sessions WHERE ?1 IS NULL OR name = ?1"
		" ORDER BY name";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	json_t *out, *list;
	bool any_running = false;
	int rc;

	if (!st)
		return NULL;
	out = json_object();
	list = json_array();
	if (session)
		sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_object();
		bool running;

		json_object_set_new(o, "session", col_json(st, 1));
		if (add_counts(idx, sqlite3_column_int64(st, 0), o) < 0 ||
		    add_run(idx, sqlite3_column_int64(st, 0), o, &running) <
			    0) {
			json_decref(o);
			rc = SQLITE_ERROR;
			break;
		}
		any_running |= running;
		json_array_append_new(list, o);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		if (rc != SQLITE_ERROR)
			idx_fail(idx, "cannot list sessions");
		goto out_free;
	}
	if (session && json_array_size(list) == 0) {
		log_err("no session '%s' in the index (run 'sessionarchiver "
			"index' after it appears in the store)",
			session);
		goto out_free;
	}
	json_object_set_new(out, "running", json_boolean(any_running));
	json_object_set_new(out, "sessions", list);
	return out;

out_free:
	json_decref(list);
	json_decref(out);
	return NULL;
}

/*
 * A JSON scalar as text: "-" for null. Strings come from Moodle (names,
 * error texts): escaped, with flags for a tab-separated field.
 */
static void add_value(struct strbuf *sb, json_t *v, unsigned flags)
{
	if (json_is_string(v))
		printable_add(sb, json_string_value(v), flags);
	else if (json_is_integer(v))
		sb_printf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else
		sb_adds(sb, "-");
}

static void add_counts_text(struct strbuf *sb, json_t *o)
{
	json_t *by = json_object_get(o, "courses");
	bool first = true;

	sb_printf(sb, "%" JSON_INTEGER_FORMAT " courses",
		  json_integer_value(json_object_get(o, "courses_total")));
	for (size_t i = 0; i < N_STATES; i++) {
		json_int_t n = json_integer_value(json_object_get(by, states[i]));

		if (n == 0)
			continue;
		sb_printf(sb, "%s%" JSON_INTEGER_FORMAT " %s",
			  first ? " (" : ", ", n, states[i]);
		first = false;
	}
	if (!first)
		sb_addch(sb, ')');
}

static void session_detail(struct strbuf *sb, json_t *o)
{
	static const char *const keys[] = {
		"session", "operation", "state",   "pid",    "started",
		"done",    "failed",    "remaining", "total", "bytes",
		"eta",     "current",   "window",  "last_error",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		sb_printf(sb, "%s: ", keys[i]);
		add_value(sb, json_object_get(o, keys[i]), 0);
		sb_addch(sb, '\n');
	}
	sb_adds(sb, "courses: ");
	add_counts_text(sb, o);
	sb_addch(sb, '\n');
}

static void session_line(struct strbuf *sb, json_t *o)
{
	json_t *op = json_object_get(o, "operation");
	json_t *err = json_object_get(o, "last_error");
	json_t *lease = json_object_get(o, "lease");

	add_value(sb, json_object_get(o, "session"), 0);
	sb_adds(sb, ": ");
	if (json_is_string(op)) {
		add_value(sb, op, 0);
		sb_addch(sb, ' ');
		add_value(sb, json_object_get(o, "state"), 0);
		if (json_is_integer(json_object_get(o, "pid")))
			sb_printf(sb, " (pid %" JSON_INTEGER_FORMAT ")",
				  json_integer_value(
					  json_object_get(o, "pid")));
	} else {
		sb_adds(sb, "idle");
	}
	sb_printf(sb,
		  ", %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
		  " done, %" JSON_INTEGER_FORMAT " failed, %" JSON_INTEGER_FORMAT
		  " remaining; ",
		  json_integer_value(json_object_get(o, "done")),
		  json_integer_value(json_object_get(o, "total")),
		  json_integer_value(json_object_get(o, "failed")),
		  json_integer_value(json_object_get(o, "remaining")));
	add_counts_text(sb, o);
	/* lease_report()'s: another host's run is not in this index */
	if (json_is_object(lease)) {
		sb_adds(sb, "; held by host ");
		add_value(sb, json_object_get(lease, "host"), 0);
		sb_adds(sb, " (");
		add_value(sb, json_object_get(lease, "operation"), 0);
		sb_addch(sb, ')');
	}
	if (json_array_size(json_object_get(o, "members")))
		sb_printf(sb, "; shared by %zu host(s)",
			  json_array_size(json_object_get(o, "members")));
	if (json_is_string(err)) {
		sb_adds(sb, "; last error: ");
		add_value(sb, err, 0);
	}
	sb_addch(sb, '\n');
}

char *report_status_text(json_t *status, bool detailed)
{
	json_t *list = json_object_get(status, "sessions");
	struct strbuf sb;
	json_t *o;
	size_t i;

	sb_init(&sb, 0);
	if (detailed && json_array_size(list) == 1) {
		session_detail(&sb, json_array_get(list, 0));
		return sb_detach(&sb, NULL);
	}
	sb_printf(&sb, "running: %s\n",
		  json_is_true(json_object_get(status, "running")) ? "yes"
								   : "no");
	json_array_foreach(list, i, o)
		session_line(&sb, o);
	if (json_array_size(list) == 0)
		sb_adds(&sb, "no sessions in the index\n");
	return sb_detach(&sb, NULL);
}

json_t *report_list(struct idx *idx, const char *session)
{
	static const char sql[] =
		"SELECT file, size, sha256, source_course_id,"
		" archive_course_id, shortname, fullname, state, error,"
		" manifest_sha256, sections, activities, backup_date,"
		" on_disk, in_manifest"
		" FROM courses WHERE session_id = ?1 ORDER BY file";
	static const char *const names[] = {
		"file",        "size",     "sha256",     "source_course_id",
		"archive_course_id", "shortname", "fullname", "state",
		"error",       "manifest_sha256", "sections", "activities",
		"backup_date", "on_disk",  "in_manifest",
	};
	int64_t session_id = idx_session_find(idx, session);
	sqlite3_stmt *st;
	json_t *list;
	int rc;

	if (session_id == 0)
		log_err("no session '%s' in the index (run 'sessionarchiver "
			"index' after it appears in the store)",
			session);
	if (session_id <= 0 || !(st = idx_stmt(idx, sql)))
		return NULL;
	list = json_array();
	sqlite3_bind_int64(st, 1, session_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_object();

		for (int c = 0; c < (int)(sizeof(names) / sizeof(names[0]));
		     c++)
			json_object_set_new(o, names[c], col_json(st, c));
		json_array_append_new(list, o);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		idx_fail(idx, "cannot list courses");
		json_decref(list);
		return NULL;
	}
	return list;
}

char *report_list_text(json_t *list)
{
	struct strbuf sb;
	json_t *o;
	size_t i;

	sb_init(&sb, 0);
	json_array_foreach(list, i, o) {
		add_value(&sb, json_object_get(o, "state"), PRINTABLE_TSV);
		sb_addch(&sb, '\t');
		add_value(&sb, json_object_get(o, "source_course_id"),
			  PRINTABLE_TSV);
		sb_addch(&sb, '\t');
		add_value(&sb, json_object_get(o, "size"), PRINTABLE_TSV);
		sb_addch(&sb, '\t');
		add_value(&sb, json_object_get(o, "file"), PRINTABLE_TSV);
		sb_addch(&sb, '\t');
		add_value(&sb, json_object_get(o, "shortname"), PRINTABLE_TSV);
		if (json_is_string(json_object_get(o, "error"))) {
			sb_adds(&sb, "\terror: ");
			add_value(&sb, json_object_get(o, "error"),
				  PRINTABLE_TSV);
		}
		sb_addch(&sb, '\n');
	}
	return sb_detach(&sb, NULL);
}
