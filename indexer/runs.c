/*
 * The runs table. Liveness is the pid on this host (kill(pid, 0)); a row
 * whose process is gone is closed as "interrupted" the first time someone
 * looks, so that a kill -9 never leaves a session locked. A refusal is a
 * row too, but one that never started (started 0): report.c shows the
 * latest run by start, which is then always a real operation, and the
 * refusals are told apart here.
 */
#include "runs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "idx_sql.h"
#include "log.h"
#include "printable.h"
#include "report.h"
#include "strbuf.h"

static void hostname(char *buf, size_t len)
{
	if (gethostname(buf, len) < 0)
		snprintf(buf, len, "localhost");
	buf[len - 1] = '\0';
}

bool runs_alive_here(pid_t pid, const char *host)
{
	char here[256];

	hostname(here, sizeof(here));
	if (pid <= 0 || !host || strcmp(host, here) != 0)
		return false;
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* In the caller's transaction: the live run, closing dead ones. */
static int find_active(struct idx *idx, int64_t session_id,
		       struct run_info *out)
{
	static const char sql[] =
		"SELECT id, operation, state, pid, host FROM runs"
		" WHERE session_id = ?1 AND ended IS NULL ORDER BY id";
	static const char close_sql[] =
		"UPDATE runs SET state = 'interrupted', ended = ?2,"
		" last_error = coalesce(last_error, 'the process ended without"
		" closing its run (killed?)') WHERE id = ?1";
	int64_t dead[16];
	int n_dead = 0, found = 0, rc;
	sqlite3_stmt *st = idx_stmt(idx, sql);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		pid_t pid = (pid_t)sqlite3_column_int64(st, 3);

		if (runs_alive_here(pid, (const char *)sqlite3_column_text(st, 4))) {
			if (!found && out) {
				out->id = sqlite3_column_int64(st, 0);
				snprintf(out->operation, sizeof(out->operation),
					 "%s", sqlite3_column_text(st, 1));
				snprintf(out->state, sizeof(out->state), "%s",
					 sqlite3_column_text(st, 2));
				out->pid = pid;
			}
			found = 1;
		} else if (n_dead < 16) {
			dead[n_dead++] = sqlite3_column_int64(st, 0);
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return idx_fail(idx, "cannot read runs");
	for (int i = 0; i < n_dead; i++) {
		if (!(st = idx_stmt(idx, close_sql)))
			return -1;
		sqlite3_bind_int64(st, 1, dead[i]);
		sqlite3_bind_int64(st, 2, time(NULL));
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return idx_fail(idx, "cannot close a dead run");
	}
	return found;
}

int runs_active(struct idx *idx, int64_t session_id, struct run_info *out)
{
	int found;

	if (idx_begin(idx) < 0)
		return -1;
	found = find_active(idx, session_id, out);
	if (found < 0 || idx_commit(idx) < 0) {
		idx_rollback(idx);
		return -1;
	}
	return found;
}

int64_t runs_begin(struct idx *idx, int64_t session_id, const char *operation,
		   pid_t pid, const char *window, struct run_info *busy)
{
	static const char sql[] =
		"INSERT INTO runs(session_id, operation, state, pid, host,"
		" started, updated, window) VALUES (?1, ?2, 'running', ?3, ?4,"
		" ?5, ?5, ?6) RETURNING id";
	char host[256];
	sqlite3_stmt *st;
	int64_t id = -1;
	int found;

	if (idx_begin(idx) < 0)
		return -1;
	found = find_active(idx, session_id, busy);
	/* the mount recorded this very process when it started it */
	if (found == 1 && busy && busy->pid == pid) {
		static const char adopt[] =
			"UPDATE runs SET operation = ?2, window = ?3"
			" WHERE id = ?1";

		if (!(st = idx_stmt(idx, adopt)))
			goto out_rollback;
		sqlite3_bind_int64(st, 1, busy->id);
		sqlite3_bind_text(st, 2, operation, -1, SQLITE_STATIC);
		if (window)
			sqlite3_bind_text(st, 3, window, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_reset(st);
			idx_fail(idx, "cannot adopt a run");
			goto out_rollback;
		}
		sqlite3_reset(st);
		if (idx_commit(idx) < 0)
			goto out_rollback;
		return busy->id;
	}
	if (found != 0) {
		if (found < 0 || idx_commit(idx) < 0) {
			idx_rollback(idx);
			return -1;
		}
		return 0;
	}
	if (!(st = idx_stmt(idx, sql)))
		goto out_rollback;
	hostname(host, sizeof(host));
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_text(st, 2, operation, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, pid);
	sqlite3_bind_text(st, 4, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, time(NULL));
	if (window)
		sqlite3_bind_text(st, 6, window, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (id < 0) {
		idx_fail(idx, "cannot record a run");
		goto out_rollback;
	}
	if (idx_commit(idx) < 0)
		goto out_rollback;
	return id;

out_rollback:
	idx_rollback(idx);
	return -1;
}

static int exec_run(struct idx *idx, const char *sql, int64_t run_id,
		    const char *a, const char *b)
{
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, time(NULL));
	if (a)
		sqlite3_bind_text(st, 3, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 4, b, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : idx_fail(idx, "cannot update a run");
}

int runs_end(struct idx *idx, int64_t run_id, const char *state,
	     const char *last_error)
{
	static const char sql[] =
		"UPDATE runs SET state = ?3, ended = ?2, updated = ?2,"
		" current = NULL, last_error = coalesce(?4, last_error)"
		" WHERE id = ?1 AND ended IS NULL";

	return exec_run(idx, sql, run_id, state, last_error);
}

int runs_set_state(struct idx *idx, int64_t run_id, const char *state)
{
	static const char sql[] =
		"UPDATE runs SET state = ?3, updated = ?2 WHERE id = ?1";

	return exec_run(idx, sql, run_id, state, NULL);
}

int runs_refused(struct idx *idx, int64_t session_id, const char *operation,
		 const char *reason)
{
	static const char sql[] =
		"INSERT INTO runs(session_id, operation, state, pid, host,"
		" started, updated, ended, last_error) VALUES (?1, ?2,"
		" 'refused', ?3, ?4, 0, ?5, ?5, ?6)";
	static const char prune_sql[] =
		"DELETE FROM runs WHERE session_id = ?1 AND state = 'refused'"
		" AND id <= (SELECT id FROM runs WHERE session_id = ?1"
		"  AND state = 'refused' ORDER BY id DESC LIMIT 1 OFFSET ?2)";
	sqlite3_stmt *st;
	char host[256];
	int rc;

	if (idx_begin(idx) < 0)
		return -1;
	if (!(st = idx_stmt(idx, sql)))
		goto out_rollback;
	hostname(host, sizeof(host));
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_text(st, 2, operation, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, getpid());
	sqlite3_bind_text(st, 4, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, time(NULL));
	sqlite3_bind_text(st, 6, reason, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		idx_fail(idx, "cannot record a refusal");
		goto out_rollback;
	}
	if (!(st = idx_stmt(idx, prune_sql)))
		goto out_rollback;
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_int(st, 2, RUNS_REFUSED_KEPT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		idx_fail(idx, "cannot forget old refusals");
		goto out_rollback;
	}
	if (idx_commit(idx) < 0)
		goto out_rollback;
	return 0;

out_rollback:
	idx_rollback(idx);
	return -1;
}

int runs_tidy_refused(struct idx *idx)
{
	static const char unstart[] =
		"UPDATE runs SET started = 0 WHERE state = 'refused'"
		" AND started <> 0";
	static const char prune[] =
		"DELETE FROM runs WHERE id IN (SELECT id FROM (SELECT id,"
		"  row_number() OVER (PARTITION BY session_id ORDER BY id DESC)"
		"  AS n FROM runs WHERE state = 'refused') WHERE n > ?1)";
	sqlite3_stmt *st;
	int rc;

	if (idx_begin(idx) < 0)
		return -1;
	if (!(st = idx_stmt(idx, unstart)))
		goto out_rollback;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || !(st = idx_stmt(idx, prune)))
		goto out_fail;
	sqlite3_bind_int(st, 1, RUNS_REFUSED_KEPT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto out_fail;
	if (idx_commit(idx) < 0)
		goto out_rollback;
	return 0;

out_fail:
	idx_fail(idx, "cannot tidy refused runs");
out_rollback:
	idx_rollback(idx);
	return -1;
}

static json_t *text_json(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s ? json_string((const char *)s) : json_null();
}

static int set_refusals(struct idx *idx, int64_t session_id, json_t *o)
{
	static const char error_sql[] =
		"SELECT last_error FROM runs WHERE session_id = ?1"
		" AND state <> 'refused' AND last_error IS NOT NULL"
		" ORDER BY updated DESC, id DESC LIMIT 1";
	static const char refusal_sql[] =
		"SELECT ended, operation, last_error FROM runs"
		" WHERE session_id = ?1 AND state = 'refused'"
		" ORDER BY id DESC LIMIT 1";
	sqlite3_stmt *st = idx_stmt(idx, error_sql);
	json_t *refused = NULL;
	const char *state;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	rc = sqlite3_step(st);
	json_object_set_new(o, "last_error",
			    rc == SQLITE_ROW ? text_json(st, 0) : json_null());
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return idx_fail(idx, "cannot read runs");
	if (!(st = idx_stmt(idx, refusal_sql)))
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		refused = json_object();
		json_object_set_new(refused, "time",
				    report_time_json(sqlite3_column_int64(st, 0)));
		json_object_set_new(refused, "operation", text_json(st, 1));
		json_object_set_new(refused, "reason", text_json(st, 2));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return idx_fail(idx, "cannot read runs");
	json_object_set_new(o, "last_refused", refused ? refused : json_null());
	/* refusals only: no operation ever ran (or rows from before) */
	state = json_string_value(json_object_get(o, "state"));
	if (state && strcmp(state, "refused") == 0) {
		json_object_set_new(o, "operation", json_null());
		json_object_set_new(o, "state", json_string("idle"));
	}
	return 0;
}

int runs_report_refusals(struct idx *idx, json_t *status)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(status, "sessions"), i, o) {
		const char *name =
			json_string_value(json_object_get(o, "session"));
		int64_t id = idx_session_find(idx, name);

		if (id == 0)
			return log_err("no session '%s' in the index", name);
		if (id < 0 || set_refusals(idx, id, o) < 0)
			return -1;
	}
	return 0;
}

char *runs_status_text(json_t *status, bool detailed)
{
	json_t *list = json_object_get(status, "sessions");
	json_t *refused = json_object_get(json_array_get(list, 0),
					  "last_refused");
	char *text = report_status_text(status, detailed);
	const char *when, *reason;
	struct strbuf sb;
	json_t *lease, *member;
	size_t i;

	if (!detailed || json_array_size(list) != 1)
		return text;
	sb_init(&sb, 0);
	sb_adds(&sb, text);
	free(text);
	sb_adds(&sb, "last_refused: ");
	if (json_is_object(refused)) {
		when = json_string_value(json_object_get(refused, "time"));
		reason = json_string_value(json_object_get(refused, "reason"));
		printable_add(&sb, when ? when : "-", 0);
		sb_addch(&sb, ' ');
		printable_add(&sb, reason ? reason : "-", 0);
	} else {
		sb_adds(&sb, "-");
	}
	sb_addch(&sb, '\n');
	lease = json_object_get(json_array_get(list, 0), "lease");
	if (json_is_object(lease)) {
		sb_adds(&sb, "held by: host ");
		printable_add(&sb,
			      json_string_value(json_object_get(lease, "host")),
			      0);
		sb_printf(&sb, " (pid %lld, ",
			(long long)json_integer_value(
				json_object_get(lease, "pid")));
		printable_add(&sb,
			      json_string_value(
				      json_object_get(lease, "operation")),
			      0);
		sb_printf(&sb, "), heartbeat %llds ago\n",
			(long long)(time(NULL) -
				    json_integer_value(json_object_get(
					    lease, "heartbeat"))));
	}
	json_array_foreach(json_object_get(json_array_get(list, 0), "members"),
			   i, member) {
		sb_adds(&sb, "shared with: host ");
		printable_add(&sb,
			      json_string_value(json_object_get(member, "host")),
			      0);
		sb_printf(&sb,
			  " (pid %lld): %lld done, %lld failed, %lld by others, "
			  "%lld left, heartbeat %llds ago\n",
			  (long long)json_integer_value(
				  json_object_get(member, "pid")),
			  (long long)json_integer_value(
				  json_object_get(member, "done")),
			  (long long)json_integer_value(
				  json_object_get(member, "failed")),
			  (long long)json_integer_value(
				  json_object_get(member, "elsewhere")),
			  (long long)json_integer_value(
				  json_object_get(member, "left")),
			  (long long)(time(NULL) -
				      json_integer_value(json_object_get(
					      member, "heartbeat"))));
	}
	return sb_detach(&sb, NULL);
}

int runs_update(struct idx *idx, int64_t run_id, const struct run_counters *c)
{
	static const char sql[] =
		"UPDATE runs SET done = ?3, failed = ?4, total = ?5,"
		" bytes_done = ?6, bytes_total = ?7, current = ?8,"
		" last_error = coalesce(?9, last_error), updated = ?2"
		" WHERE id = ?1";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, time(NULL));
	sqlite3_bind_int64(st, 3, c->done);
	sqlite3_bind_int64(st, 4, c->failed);
	sqlite3_bind_int64(st, 5, c->total);
	sqlite3_bind_int64(st, 6, c->bytes_done);
	sqlite3_bind_int64(st, 7, c->bytes_total);
	if (c->current)
		sqlite3_bind_text(st, 8, c->current, -1, SQLITE_STATIC);
	if (c->last_error)
		sqlite3_bind_text(st, 9, c->last_error, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : idx_fail(idx, "cannot update a run");
}

int runs_steer(struct idx *idx, int64_t session_id, const char *session,
	       enum runs_steer how, struct run_info *run, char *why,
	       size_t whylen)
{
	int found = runs_active(idx, session_id, run), sig;

	if (found < 0) {
		snprintf(why, whylen, "cannot read the index");
		return -EIO;
	}
	if (found == 0) {
		snprintf(why, whylen, "no operation is running on '%s'",
			 session);
		return -EINVAL;
	}
	if (how == RUNS_CANCEL) {
		sig = SIGTERM;
	} else if (strcmp(run->operation, "index") == 0 ||
		   strcmp(run->operation, "verify") == 0) {
		snprintf(why, whylen, "'%s' cannot be paused or resumed",
			 run->operation);
		return -EINVAL;
	} else {
		sig = how == RUNS_PAUSE ? SIGUSR1 : SIGUSR2;
	}
	if (kill(run->pid, sig) < 0) {
		snprintf(why, whylen, "cannot signal %s (pid %d): %s",
			 run->operation, (int)run->pid, strerror(errno));
		return -EIO;
	}
	return 0;
}
