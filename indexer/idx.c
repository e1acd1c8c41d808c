/*
 * The SQLite index: opening, the schema and its forward migrations, the
 * statement cache, transactions, and the session and category rows every
 * other module hangs its data on.
 */
#include "idx_sql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

/*
 * Step N brings user_version from N-1 to N. Shipped steps are never
 * edited: a change is a new step.
 */
static const char *const schema_steps[] = {
	/* 1: the first schema */
	"CREATE TABLE meta("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT"
	") WITHOUT ROWID;"
	"CREATE TABLE sessions("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  on_disk INTEGER NOT NULL DEFAULT 1,"
	"  source_site_hash TEXT,"
	"  source_wwwroot TEXT,"
	"  source_category_id INTEGER,"
	"  source_category_path TEXT"
	");"
	"CREATE TABLE categories("
	"  id INTEGER PRIMARY KEY,"
	"  session_id INTEGER NOT NULL REFERENCES sessions(id)"
	"    ON DELETE CASCADE,"
	"  parent_id INTEGER REFERENCES categories(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  on_disk INTEGER NOT NULL DEFAULT 0,"
	"  source_category_id INTEGER,"
	"  archive_category_id INTEGER,"
	"  UNIQUE(session_id, path)"
	");"
	"CREATE INDEX categories_by_parent ON categories(session_id, parent_id);"
	"CREATE TABLE courses("
	"  id INTEGER PRIMARY KEY,"
	"  session_id INTEGER NOT NULL REFERENCES sessions(id)"
	"    ON DELETE CASCADE,"
	"  category_id INTEGER REFERENCES categories(id),"
	"  name TEXT NOT NULL,"
	"  file TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
	"    ('pending','archived','restored','verified','purged','failed')),"
	"  error TEXT,"
	"  on_disk INTEGER NOT NULL DEFAULT 0,"
	"  size INTEGER,"
	"  mtime_ns INTEGER,"
	"  inode INTEGER,"
	"  sha256 TEXT,"
	"  read_error TEXT,"
	"  in_manifest INTEGER NOT NULL DEFAULT 0,"
	"  manifest_sha256 TEXT,"
	"  source_course_id INTEGER,"
	"  archive_course_id INTEGER,"
	"  shortname TEXT,"
	"  fullname TEXT,"
	"  sections INTEGER,"
	"  activities INTEGER,"
	"  site_hash TEXT,"
	"  wwwroot TEXT,"
	"  backup_date INTEGER,"
	"  moodle_version INTEGER,"
	"  moodle_release TEXT,"
	"  restored INTEGER NOT NULL DEFAULT 0,"
	"  verified INTEGER NOT NULL DEFAULT 0,"
	"  purged INTEGER NOT NULL DEFAULT 0,"
	"  event_error TEXT,"
	"  planned INTEGER NOT NULL DEFAULT 0,"
	"  hook_error TEXT,"
	"  UNIQUE(session_id, file)"
	");"
	"CREATE INDEX courses_by_category ON courses(session_id, category_id);"
	"CREATE INDEX courses_by_source ON courses(session_id, source_course_id);"
	"CREATE TABLE runs("
	"  id INTEGER PRIMARY KEY,"
	"  session_id INTEGER NOT NULL REFERENCES sessions(id)"
	"    ON DELETE CASCADE,"
	"  operation TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  pid INTEGER,"
	"  host TEXT,"
	"  started INTEGER NOT NULL,"
	"  updated INTEGER,"
	"  ended INTEGER,"
	"  done INTEGER NOT NULL DEFAULT 0,"
	"  failed INTEGER NOT NULL DEFAULT 0,"
	"  total INTEGER NOT NULL DEFAULT 0,"
	"  bytes_done INTEGER NOT NULL DEFAULT 0,"
	"  bytes_total INTEGER NOT NULL DEFAULT 0,"
	"  current TEXT,"
	"  window TEXT,"
	"  last_error TEXT"
	");"
	"CREATE INDEX runs_by_session ON runs(session_id, started);"
	"CREATE TABLE events("
	"  id INTEGER PRIMARY KEY,"
	"  session_id INTEGER NOT NULL REFERENCES sessions(id)"
	"    ON DELETE CASCADE,"
	"  source TEXT NOT NULL,"
	"  line INTEGER NOT NULL,"
	"  time INTEGER,"
	"  event TEXT NOT NULL,"
	"  site TEXT,"
	"  source_course_id INTEGER,"
	"  data TEXT NOT NULL,"
	"  UNIQUE(session_id, source, line)"
	");"
	"CREATE INDEX events_by_course ON events(session_id, source_course_id);"
	"CREATE TABLE feeds("
	"  session_id INTEGER NOT NULL REFERENCES sessions(id)"
	"    ON DELETE CASCADE,"
	"  file TEXT NOT NULL,"
	"  inode INTEGER,"
	"  offset INTEGER NOT NULL,"
	"  lines INTEGER NOT NULL,"
	"  PRIMARY KEY(session_id, file)"
	") WITHOUT ROWID;",
	/*
	 * 2: a session whose inputs (files, manifest, journals) changed since
	 * its course states were last derived. Set in the same transaction as
	 * the change, so a process killed before the derivation leaves the
	 * next scan a reason to do it. Old indexes derive once.
	 */
	"ALTER TABLE sessions ADD COLUMN states_stale INTEGER NOT NULL"
	" DEFAULT 1;"
	/*
	 * and the state 'unknown': a file in a session the tool archived
	 * that no manifest or journal line names (dropped in by hand, or
	 * another tool's). SQLite changes a CHECK only by a new table.
	 */
	"CREATE TABLE courses_v2("
	"  id INTEGER PRIMARY KEY,"
	"  session_id INTEGER NOT NULL REFERENCES sessions(id)"
	"    ON DELETE CASCADE,"
	"  category_id INTEGER REFERENCES categories(id),"
	"  name TEXT NOT NULL,"
	"  file TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
	"    ('pending','archived','restored','verified','purged','failed',"
	"     'unknown')),"
	"  error TEXT,"
	"  on_disk INTEGER NOT NULL DEFAULT 0,"
	"  size INTEGER,"
	"  mtime_ns INTEGER,"
	"  inode INTEGER,"
	"  sha256 TEXT,"
	"  read_error TEXT,"
	"  in_manifest INTEGER NOT NULL DEFAULT 0,"
	"  manifest_sha256 TEXT,"
	"  source_course_id INTEGER,"
	"  archive_course_id INTEGER,"
	"  shortname TEXT,"
	"  fullname TEXT,"
	"  sections INTEGER,"
	"  activities INTEGER,"
	"  site_hash TEXT,"
	"  wwwroot TEXT,"
	"  backup_date INTEGER,"
	"  moodle_version INTEGER,"
	"  moodle_release TEXT,"
	"  restored INTEGER NOT NULL DEFAULT 0,"
	"  verified INTEGER NOT NULL DEFAULT 0,"
	"  purged INTEGER NOT NULL DEFAULT 0,"
	"  event_error TEXT,"
	"  planned INTEGER NOT NULL DEFAULT 0,"
	"  hook_error TEXT,"
	"  UNIQUE(session_id, file)"
	");"
	"INSERT INTO courses_v2 SELECT * FROM courses;"
	"DROP TABLE courses;"
	"ALTER TABLE courses_v2 RENAME TO courses;"
	"CREATE INDEX courses_by_category ON courses(session_id, category_id);"
	"CREATE INDEX courses_by_source ON courses(session_id, source_course_id);",
	/*
	 * 3: which manifest file a course's entry comes from, and its line's
	 * time. A shared archive writes one manifest per host: a replaced
	 * manifest forgets only its own entries, and of two lines of a course
	 * in two manifests the later wins, whatever order they are read in.
	 */
	"ALTER TABLE courses ADD COLUMN manifest_feed TEXT;"
	"ALTER TABLE courses ADD COLUMN manifest_time INTEGER;"
	"UPDATE courses SET manifest_feed = 'manifest.jsonl' WHERE in_manifest;",
};
#define N_STEPS (int)(sizeof(schema_steps) / sizeof(schema_steps[0]))
_Static_assert(N_STEPS == IDX_SCHEMA_VERSION, "one schema step a version");

#define STMT_CACHE 64

struct idx {
	sqlite3 *db;
	char *path;
	int schema_found;
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[STMT_CACHE];
	int n_cached;
};

int idx_fail(struct idx *idx, const char *what)
{
	return log_err("index '%s': %s: %s", idx->path, what,
		       sqlite3_errmsg(idx->db));
}

int idx_exec(struct idx *idx, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(idx->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("index '%s': %s", idx->path,
			msg ? msg : sqlite3_errmsg(idx->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int idx_begin(struct idx *idx)
{
	return idx_exec(idx, "BEGIN IMMEDIATE");
}

int idx_commit(struct idx *idx)
{
	return idx_exec(idx, "COMMIT");
}

void idx_rollback(struct idx *idx)
{
	if (!sqlite3_get_autocommit(idx->db))
		sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
}

static int read_user_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int migrate(struct idx *idx, char *err, size_t errlen)
{
	char pragma[64];

	for (int v = idx->schema_found; v < N_STEPS; v++) {
		char *msg = NULL;

		if (idx_begin(idx) < 0)
			goto out_fail;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
			 v + 1);
		if (sqlite3_exec(idx->db, schema_steps[v], NULL, NULL, &msg) !=
			    SQLITE_OK ||
		    sqlite3_exec(idx->db, pragma, NULL, NULL, &msg) !=
			    SQLITE_OK) {
			snprintf(err, errlen,
				 "index '%s': schema step %d failed: %s",
				 idx->path, v + 1,
				 msg ? msg : sqlite3_errmsg(idx->db));
			sqlite3_free(msg);
			idx_rollback(idx);
			return -1;
		}
		if (idx_commit(idx) < 0)
			goto out_fail;
	}
	return 0;

out_fail:
	snprintf(err, errlen, "index '%s': cannot migrate: %s", idx->path,
		 sqlite3_errmsg(idx->db));
	idx_rollback(idx);
	return -1;
}

/*
 * PRAGMA journal_mode does not wait on the busy timeout: two processes
 * opening a new index at once would see "database is locked". Retry.
 */
static int set_wal(struct idx *idx)
{
	for (int i = 0; i < 200; i++) {
		int rc = sqlite3_exec(idx->db, "PRAGMA journal_mode = WAL",
				      NULL, NULL, NULL);

		if (rc == SQLITE_OK)
			return 0;
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		usleep(50 * 1000);
	}
	return -1;
}

struct idx *idx_open(const char *path, int flags, char *err, size_t errlen)
{
	int oflags = flags & IDX_READONLY
			     ? SQLITE_OPEN_READONLY
			     : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	struct idx *idx = xcalloc(1, sizeof(*idx));

	idx->path = xstrdup(path);
	if (sqlite3_open_v2(path, &idx->db,
			    oflags | SQLITE_OPEN_NOMUTEX |
				    SQLITE_OPEN_EXRESCODE,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open index '%s': %s", path,
			 idx->db ? sqlite3_errmsg(idx->db)
				 : "out of memory");
		goto out_free;
	}
	sqlite3_busy_timeout(idx->db, 10000);
	if (read_user_version(idx->db, &idx->schema_found) < 0) {
		snprintf(err, errlen, "cannot read index '%s': %s", path,
			 sqlite3_errmsg(idx->db));
		goto out_free;
	}
	if (idx->schema_found < 0) {
		snprintf(err, errlen,
			 "index '%s' has schema version %d: not an index of "
			 "sessionarchiver",
			 path, idx->schema_found);
		goto out_free;
	}
	if (idx->schema_found > IDX_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "index '%s' has schema version %d, this sessionarchiver "
			 "(%s) knows up to %d: use a newer sessionarchiver or "
			 "rebuild it with 'index --rebuild'",
			 path, idx->schema_found, SA_VERSION,
			 IDX_SCHEMA_VERSION);
		goto out_free;
	}
	if (flags & IDX_READONLY) {
		if (idx->schema_found != IDX_SCHEMA_VERSION) {
			snprintf(err, errlen,
				 "index '%s' has schema version %d, wanted %d: "
				 "run 'sessionarchiver index' once",
				 path, idx->schema_found, IDX_SCHEMA_VERSION);
			goto out_free;
		}
	} else {
		if (set_wal(idx) < 0 ||
		    idx_exec(idx, "PRAGMA synchronous = NORMAL") < 0) {
			snprintf(err, errlen, "cannot set up index '%s': %s",
				 path, sqlite3_errmsg(idx->db));
			goto out_free;
		}
		if (migrate(idx, err, errlen) < 0)
			goto out_free;
	}
	if (idx_exec(idx, "PRAGMA foreign_keys = ON") < 0) {
		snprintf(err, errlen, "cannot set up index '%s': %s", path,
			 sqlite3_errmsg(idx->db));
		goto out_free;
	}
	return idx;

out_free:
	idx_free(idx);
	return NULL;
}

void idx_free(struct idx *idx)
{
	if (!idx)
		return;
	for (int i = 0; i < idx->n_cached; i++)
		sqlite3_finalize(idx->cache[i].stmt);
	sqlite3_close(idx->db);
	free(idx->path);
	free(idx);
}

sqlite3 *idx_db(struct idx *idx)
{
	return idx->db;
}

const char *idx_path(const struct idx *idx)
{
	return idx->path;
}

int idx_schema_found(const struct idx *idx)
{
	return idx->schema_found;
}

sqlite3_stmt *idx_stmt(struct idx *idx, const char *sql)
{
	sqlite3_stmt *st;

	for (int i = 0; i < idx->n_cached; i++) {
		if (idx->cache[i].sql == sql) {
			st = idx->cache[i].stmt;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	if (sqlite3_prepare_v3(idx->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &st, NULL) != SQLITE_OK) {
		log_err("index '%s': cannot prepare '%.60s': %s", idx->path,
			sql, sqlite3_errmsg(idx->db));
		return NULL;
	}
	if (idx->n_cached == STMT_CACHE) {
		/* more distinct statements than expected: do not cache */
		log_err("index: statement cache full (a bug): '%.60s'", sql);
		sqlite3_finalize(st);
		return NULL;
	}
	idx->cache[idx->n_cached].sql = sql;
	idx->cache[idx->n_cached].stmt = st;
	idx->n_cached++;
	return st;
}

int64_t idx_session_find(struct idx *idx, const char *name)
{
	static const char sql[] = "SELECT id FROM sessions WHERE name = ?1";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int64_t id = 0;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		id = idx_fail(idx, "cannot look up a session");
	sqlite3_reset(st);
	return id;
}

int64_t idx_session_ensure(struct idx *idx, const char *name)
{
	static const char sql[] =
		"INSERT INTO sessions(name) VALUES (?1) "
		"ON CONFLICT(name) DO UPDATE SET on_disk = on_disk "
		"RETURNING id";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int64_t id;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return idx_fail(idx, "cannot record a session");
	}
	id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

static int64_t category_find(struct idx *idx, int64_t session_id,
			     const char *path, size_t len)
{
	static const char sql[] = "SELECT id FROM categories "
				  "WHERE session_id = ?1 AND path = ?2";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	int64_t id = 0;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_text(st, 2, path, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		id = idx_fail(idx, "cannot look up a category");
	sqlite3_reset(st);
	return id;
}

int64_t idx_category_ensure(struct idx *idx, int64_t session_id,
			    const char *path)
{
	static const char sql[] =
		"INSERT INTO categories(session_id, parent_id, name, path) "
		"VALUES (?1, ?2, ?3, ?4) RETURNING id";
	int64_t parent = 0, id;
	const char *slash, *name;
	sqlite3_stmt *st;
	size_t len;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	id = category_find(idx, session_id, path, len);
	if (id != 0)
		return id;
	slash = strrchr(path, '/');
	if (slash) {
		char *parent_path = xstrndup(path, (size_t)(slash - path));

		parent = idx_category_ensure(idx, session_id, parent_path);
		free(parent_path);
		if (parent < 0)
			return -1;
		name = slash + 1;
	} else {
		name = path;
	}
	st = idx_stmt(idx, sql);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	if (parent > 0)
		sqlite3_bind_int64(st, 2, parent);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, path, (int)len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return idx_fail(idx, "cannot record a category");
	}
	id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

/* mkdir -p for the directory part of path; errors surface at open */
static void make_parents(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return;
		}
		*p = '/';
	}
}

void idx_free_no_checkpoint(struct idx *idx)
{
	if (idx)
		sqlite3_db_config(idx_db(idx), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
				  1, NULL);
	idx_free(idx);
}

int idx_file_schema_version(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
		    SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

const char *idx_sqlite_version(void)
{
	return sqlite3_libversion();
}

int idx_store_id(struct idx *idx, char **out)
{
	sqlite3_stmt *st =
		idx_stmt(idx, "SELECT value FROM meta WHERE key = 'store_id'");
	int rc;

	*out = NULL;
	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return idx_fail(idx, "cannot read the store id");
	return rc == SQLITE_ROW;
}

char *idx_default_path(const char *store_id)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *path;

	if (state && *state == '/')
		path = xasprintf("%s/sessionarchiver/%s.db", state, store_id);
	else if (home && *home == '/')
		path = xasprintf("%s/.local/state/sessionarchiver/%s.db", home,
				 store_id);
	else
		path = xasprintf("/var/lib/sessionarchiver/%s.db", store_id);
	make_parents(path);
	return path;
}

void idx_probe(const char *path, const char *store_id, struct idx_probe *out)
{
	struct idx *idx;
	struct stat sb;
	char *slash;

	memset(out, 0, sizeof(*out));
	if (stat(path, &sb) < 0 && errno == ENOENT) {
		out->state = IDX_PROBE_ABSENT;
		slash = strrchr(path, '/');
		if (slash && slash != path) {
			out->folder = xstrndup(path, (size_t)(slash - path));
			if (stat(out->folder, &sb) < 0)
				out->state = IDX_PROBE_NO_FOLDER;
		}
		return;
	}
	idx = idx_open(path, IDX_READONLY, out->error, sizeof(out->error));
	if (!idx) {
		out->schema = idx_file_schema_version(path);
		if (out->schema > IDX_SCHEMA_VERSION)
			out->state = IDX_PROBE_NEWER;
		else if (out->schema >= 0 && out->schema < IDX_SCHEMA_VERSION)
			out->state = IDX_PROBE_OLDER;
		else
			out->state = IDX_PROBE_UNREADABLE;
		return;
	}
	out->schema = idx_schema_found(idx);
	idx_store_id(idx, &out->owner);
	out->state = store_id && out->owner && strcmp(out->owner, store_id) != 0
			     ? IDX_PROBE_OTHER_STORE
			     : IDX_PROBE_OK;
	idx_free(idx);
}

void idx_probe_release(struct idx_probe *p)
{
	free(p->folder);
	free(p->owner);
	memset(p, 0, sizeof(*p));
}
