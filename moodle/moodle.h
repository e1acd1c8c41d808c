/*
 * moodle: reading a Moodle platform, and the command lines of its CLI.
 *
 * Two backends behind one API, chosen by moodle_open() from the platform's
 * configuration:
 *
 *  - the database (the default): reads go straight to Moodle's database
 *    with libmysqlclient (prepared statements, the table prefix checked
 *    against [a-z0-9_]+ since names cannot be bound). The database settings
 *    come from the platform's config.php, read by php itself with
 *    ABORT_AFTER_CONFIG (no DB connection, no side effect), unless
 *    [source|archive] db is configured, then the password comes from
 *    db_password_file.
 *  - web services, when the platform has 'url' and 'token_file' but
 *    neither 'moodle' nor 'db': the platform is out of reach of our
 *    database client (the other side of a verify), so it is read through
 *    Moodle's REST server (POST <url>/webservice/rest/server.php) over
 *    libcurl. The token's service must allow core_webservice_get_site_info,
 *    core_course_get_categories, core_course_get_courses_by_field and
 *    core_course_get_contents, and its user must see every category and
 *    course (a manager: idnumbers are only returned to managers, hidden
 *    courses only to those who may see them). What web services cannot
 *    tell is said at each function below.
 *
 * Changes never go through these reads: Moodle's own CLI scripts do them,
 * run as the configured system user (moodle_cli_argv(), database backend
 * only).
 *
 * One handle = one connection (a MySQL session or a libcurl handle): a
 * thread uses its own handle. Errors are reported in the caller's buffer,
 * naming what failed (the host, the database, the table, the URL and web
 * service function) and never the password or token. mysql_library_init()
 * and curl_global_init() must have run in main() before the first
 * moodle_open().
 */
#ifndef SA_MOODLE_H
#define SA_MOODLE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config_platform;
struct moodle;

/* What moodle_open() failed on, to choose an exit code. */
enum moodle_error {
	MOODLE_ERR_CONFIG = -1,      /* config.php or token unreadable... */
	MOODLE_ERR_UNREACHABLE = -2, /* DB or URL down, login refused, an
					answer that is not JSON */
	MOODLE_ERR_SCHEMA = -3,      /* a table or column this tool reads is
					missing: another database, another
					prefix, an unfinished upgrade */
	MOODLE_ERR_REFUSED = -4,     /* the web service answered with Moodle's
					error (a bad token) or does not allow
					the functions this tool calls */
};

/*
 * Opens the platform described by p: reads config.php (or the db URL),
 * connects, and checks that the tables the tool reads exist with the
 * prefix. Returns NULL with a reason in err and an enum moodle_error in
 * *code. Caller frees with moodle_free().
 *
 * config.php is evaluated by p->php (30 s timeout, environment PATH and
 * LANG only); its dbtype must be mysqli, mariadb or auroramysql. With
 * p->db set, config.php is not read: the prefix is p->prefix or "mdl_",
 * wwwroot is p->url (or NULL) and dataroot is NULL. p->prefix always wins
 * over config.php's. The session is read-only (SET SESSION TRANSACTION
 * READ ONLY); connect timeout 10 s, read and write timeouts 60 s.
 *
 * Web services (p->url and p->token_file set, p->moodle and p->db not):
 * the token is read with config_read_secret() and travels only in POST
 * bodies; core_webservice_get_site_info checks the URL and the token and
 * that the token's service allows the functions this module calls.
 * MOODLE_ERR_CONFIG for an unreadable token file; MOODLE_ERR_UNREACHABLE
 * when the server cannot be reached or answers anything but HTTP 200 with
 * JSON; MOODLE_ERR_REFUSED when it answers with Moodle's error object (an
 * invalid token comes as HTTP 200 with {"exception", "errorcode",
 * "message"}) or the service lacks a function. A database whose tables or
 * columns are not Moodle's (with this prefix) is MOODLE_ERR_SCHEMA. TLS certificates
 * and host names are verified; connect timeout 10 s, 120 s per call, an
 * answer larger than 64 MiB is an error. Redirects are not followed.
 */
struct moodle *moodle_open(const struct config_platform *p, int *code,
			   char *err, size_t errlen);
void moodle_free(struct moodle *m);

/* The last error of a failed call below, for messages. */
const char *moodle_error(const struct moodle *m);

/*
 * Whether the platform answers now, asked after a course failed to tell a
 * course's failure from the platform's: 0, or -1 with moodle_error()
 * saying why (its database or web service cannot be reached, or Moodle is
 * in maintenance mode: maintenance_enabled in its config table, or
 * climaintenance.html in its dataroot). A lost database connection is
 * opened again first: a server restarted since the plan is not down.
 */
int moodle_check(struct moodle *m);

/* true when m reads the platform through web services (see above). */
bool moodle_is_remote(const struct moodle *m);

struct moodle_site {
	char *siteidentifier; /* config table; NULL through web services */
	char *site_hash;      /* md5 of siteidentifier, hex; NULL likewise */
	char *release;        /* e.g. "4.5.6 (Build: 20250811)" */
	int64_t version;      /* e.g. 2024100706 */
	char *wwwroot;        /* from config.php; see moodle_open() */
	char *dataroot;       /* from config.php; NULL with a db URL or
				 through web services */
	char *sitename;       /* through web services only, else NULL */
	char *ws_user;        /* the token's user, likewise */
};
/*
 * 0 or -1 (moodle_error() says why). Free with moodle_site_release().
 * Through web services: release, version and wwwroot (siteurl) come from
 * core_webservice_get_site_info at moodle_open(); siteidentifier is not
 * published by any web service function, so siteidentifier and site_hash
 * are NULL and a caller that needs the site's identity (journals, the
 * [..] site check) must refuse a remote platform or do without.
 */
int moodle_site(struct moodle *m, struct moodle_site *out);
void moodle_site_release(struct moodle_site *s);

struct moodle_category {
	int64_t id;
	int64_t parent;   /* 0 at the top */
	char *name;
	char *idnumber;   /* "" when none */
	char *path;       /* Moodle's "/2/3/4" of ids */
	char *name_path;  /* "/2025-2026/Sciences/Maths" of names */
	int depth;
	int64_t sortorder;
};
/*
 * Every category, ordered by path. Free with moodle_categories_free().
 * Through web services: core_course_get_categories without criteria; the
 * names come back HTML-escaped and are decoded (&amp; &lt; &gt; &quot;
 * &#39;; a name holding tags loses them, as Moodle's format_string strips
 * them); idnumber is "" unless the token's user may manage categories.
 */
int moodle_categories(struct moodle *m, struct moodle_category **out,
		      size_t *n);
void moodle_categories_free(struct moodle_category *c, size_t n);

/* The category of id in cats, or NULL. */
const struct moodle_category *
moodle_category_find(const struct moodle_category *cats, size_t n,
		     int64_t id);
/* The nearest of id and its ancestors called name, or 0. */
int64_t moodle_category_ancestor_named(const struct moodle_category *cats,
				       size_t n, int64_t id, const char *name);
/* Is id the category ancestor, or one of its descendants? */
bool moodle_category_within(const struct moodle_category *cats, size_t n,
			    int64_t id, int64_t ancestor);
/* Does c match an id:N, idnumber:X or path:/A/B selector? */
struct config_selector;
bool moodle_category_matches(const struct config_selector *sel,
			     const struct moodle_category *c);

struct moodle_course {
	int64_t id;
	int64_t category;
	char *shortname;
	char *fullname;
	char *idnumber;
	int64_t startdate;
	int64_t enddate;
	int visible;
	int64_t estimate;  /* bytes: distinct file contents (see .c) */
	int sections;      /* course_sections rows */
	int activities;    /* course_modules not being deleted */
};
/*
 * The courses of a category and, with recursive, of its whole subtree,
 * never the site course (id 1), ordered by id, with estimate, sections
 * and activities filled. Free with moodle_courses_free().
 *
 * Through web services: the subtree from core_course_get_categories
 * (criteria id, addsubcategories), the courses of each of its categories
 * from core_course_get_courses_by_field (field category; names decoded as
 * for categories; idnumber "" unless the user may update the course), and
 * one core_course_get_contents per course: sections are the sections it
 * lists, activities the modules listed in them (Moodle already leaves out
 * those being deleted). estimate is 0: files are not published. That is
 * 1 + categories + courses calls, one after the other.
 */
int moodle_courses_in(struct moodle *m, int64_t category_id, bool recursive,
		      struct moodle_course **out, size_t *n);
/*
 * One course by id, with estimate, sections and activities: 0 found, 1 not
 * found (the site course, id 1, counts as not found), -1 error. Through
 * web services: core_course_get_courses_by_field (field id) and
 * core_course_get_contents, estimate 0, as for moodle_courses_in().
 */
int moodle_course_get(struct moodle *m, int64_t id, struct moodle_course *out);
void moodle_course_release(struct moodle_course *c);
void moodle_courses_free(struct moodle_course *c, size_t n);
/* The database server behind m ("MySQL/MariaDB", "PostgreSQL"), for reports. */
const char *moodle_db_server(const struct moodle *m);
/* Course id in c, a list ordered by id (as moodle_courses_in gives), or NULL. */
const struct moodle_course *moodle_courses_find(const struct moodle_course *c,
					       size_t n, int64_t id);


/*
 * argv to run one of Moodle's CLI scripts (script relative to the Moodle
 * directory, e.g. "admin/cli/backup.php", or an absolute path such as the
 * tool's PHP bridge) with args (NULL-terminated): php
 * with the script's absolute path, through setpriv as the configured user
 * when one is set and differs from ours: /usr/bin/setpriv --reuid=UID
 * --regid=GID --init-groups php ... (needs root). NULL when the user is
 * unknown or no Moodle directory is configured, and always through web
 * services (moodle_error() says). The caller chooses the environment.
 * Caller frees with moodle_argv_free().
 */
char **moodle_cli_argv(struct moodle *m, const char *script,
		       char *const args[]);
/*
 * What moodle_cli_argv() gives for the backup of a course into destination
 * (admin/cli/backup.php --courseid --destination) and for the restore of
 * file as a new course of category_id (admin/cli/restore_backup.php --file
 * --categoryid).
 */
char **moodle_backup_argv(struct moodle *m, int64_t course_id,
			  const char *destination);
char **moodle_restore_argv(struct moodle *m, const char *file,
			   int64_t category_id);
/*
 * s with its tags stripped, as Moodle's clean_param(PARAM_TEXT) leaves a
 * course name (no multilang syntax kept): how a course whose backup named
 * it with a tag is called once restored. Caller frees.
 */
char *moodle_text_param(const char *s);

/*
 * Moodle's own words from a CLI script's output: its last lines (headings
 * "== ... ==" left out, so the "!!! ... !!!" exception line is kept), whole
 * lines only, at most len - 1 bytes, on one line.
 */
void moodle_cli_words(const char *out, char *buf, size_t len);
/*
 * The message of the exception a CLI script died of ("!!! message !!!",
 * without the marks), else moodle_cli_words().
 */
void moodle_cli_message(const char *out, char *buf, size_t len);
void moodle_argv_free(char **argv);

/* ---- the PHP bridge (bridge.c) ------------------------------------------
 *
 * moodle/bridge/sessionarchiver-bridge.php does what Moodle's CLI scripts
 * cannot: categories, course deletes, the restore of a course whose name
 * restore_backup.php refuses. Once, for one command (its answer is the
 * JSON line after the marker), or as a worker: one PHP process, Moodle set
 * up once, that answers request after request (a batch of deletes costs
 * one Moodle start-up, not one each). Both run as Moodle's CLI does
 * (moodle_cli_argv: its php, its system user) and die with us.
 */
struct bridge_opts {
	const char *moodle_dir;  /* the platform's code directory */
	bool no_recyclebin;      /* --recyclebin=no: course bins off */
	const char *session;     /* names the run in the process list */
};

/*
 * The command line that runs cmd (with args, NULL-terminated) on m, or NULL
 * with the reason in m's error. Free with moodle_argv_free().
 */
char **bridge_argv(struct moodle *m, const struct bridge_opts *bo,
		   const char *cmd, char *const args[]);

/*
 * Runs argv to its end: the answer, or NULL with the reason in err (the
 * bridge's error, or Moodle's last words when it gave none). running_pid
 * as in child_opts (may be NULL). Caller frees with json_decref().
 */
json_t *bridge_run(char **argv, unsigned timeout_s, _Atomic pid_t *running_pid,
		   char *err, size_t errlen);

struct bridge_worker;

/* Starts the worker on m; NULL with the reason in err. */
struct bridge_worker *bridge_worker_start(struct moodle *m,
					  const struct bridge_opts *bo,
					  char *err, size_t errlen);
/*
 * Starts a worker from a bridge_argv(..., "worker", NULL) command line
 * that the caller keeps until bridge_worker_end(): any thread may, as it
 * does not touch the moodle handle.
 */
struct bridge_worker *bridge_worker_spawn(char *const argv[], char *err,
					  size_t errlen);
pid_t bridge_worker_pid(const struct bridge_worker *w);
/* Requests it answered, and its peak memory in bytes as it last said. */
unsigned bridge_worker_requests(const struct bridge_worker *w);
uint64_t bridge_worker_peak_memory(const struct bridge_worker *w);
/* What it printed (Moodle's warnings) since its latest request began. */
const char *bridge_worker_output(const struct bridge_worker *w);
/*
 * One request ({"command":...}): the answer, or NULL with the reason in
 * err. *dead (when not NULL) says the worker is gone or past the timeout
 * (it was killed): end it and start another.
 */
json_t *bridge_worker_call(struct bridge_worker *w, json_t *request,
			   unsigned timeout_s, bool *dead, char *err,
			   size_t errlen);
/* Ends it (its stdin closed, then signals) and frees it. NULL: no-op. */
void bridge_worker_end(struct bridge_worker *w);

/* ---- a pool of bridge workers (pool.c) ----------------------------------
 *
 * The workers of one run, shared by its jobs: a job takes an idle worker
 * or starts one, and gives it back after its answer. A worker that died or
 * timed out is ended; one that has answered max_requests requests, or whose
 * peak memory passed max_memory, is ended after its answer (recycled), so
 * that Moodle's static caches cannot grow without bound. Thread-safe.
 */
struct bridge_pool_opts {
	struct bridge_opts bo;
	unsigned max_requests;   /* 0: no limit */
	uint64_t max_memory;     /* bytes of peak memory; 0: no limit */
};

struct bridge_pool_stats {
	unsigned started, recycled, lost; /* lost: died or timed out */
	uint64_t peak_memory;             /* the most any worker said */
};

struct bridge_pool;

/* On the calling thread (it reads m); NULL with moodle_error(m) set. */
struct bridge_pool *bridge_pool_new(struct moodle *m,
				    const struct bridge_pool_opts *o);
/* One request's settings, and what came of it besides the answer. */
struct bridge_call {
	unsigned timeout_s;
	_Atomic pid_t *running_pid; /* the worker's pid while it works (the
				       engine kills it on cancel), or NULL */
	bool want_output;
	char *output;               /* with want_output: what Moodle printed
				       meanwhile; caller frees */
	bool not_started;           /* no worker could start (no php...) */
};

/*
 * One request ({"command":...}, consumed): the answer, or NULL with the
 * reason in err. Caller frees the answer with json_decref().
 */
json_t *bridge_pool_ask(struct bridge_pool *p, json_t *request,
			struct bridge_call *call, char *err, size_t errlen);
void bridge_pool_stats(struct bridge_pool *p, struct bridge_pool_stats *st);
/* Ends every idle worker (none may be busy) and frees p. NULL: no-op. */
void bridge_pool_free(struct bridge_pool *p);

/* ---- what doctor asks (probe.c) ------------------------------------- */

/*
 * PHP_VERSION as p->php prints it, into version. 0; -1 when it cannot be
 * started, -2 when it ended badly, with err.
 */
int moodle_probe_php(const struct config_platform *p, char *version,
		     size_t len, char *err, size_t errlen);
/*
 * Are the CLI scripts the tool runs readable in p->moodle? 0, or -1 with
 * the missing ones and why in missing.
 */
int moodle_probe_scripts(const struct config_platform *p, char *missing,
			 size_t len);
/*
 * Starts a bridge worker on p and pings it: 0 with the seconds its first
 * answer took (Moodle's set-up) in *setup_s, or -1 with err.
 */
int moodle_probe_bridge(const struct config_platform *p, double *setup_s,
			char *err, size_t errlen);

#endif
