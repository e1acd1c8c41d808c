/*
 * config: sessionarchiver's settings, from one INI file and the command line.
 *
 * The file (default CONFIG_DEFAULT_PATH) is parsed with inih and mapped onto
 * struct config through one table of section, key, type, field and parser
 * (config.c); examples/sessionarchiver.conf documents every key. Layers:
 * config_new() sets the defaults, config_load_file() applies a file, and
 * config_set() applies "section.key=value" overrides from the command line,
 * each through the same table. config_check() then checks what spans several
 * keys; run it once after the last override.
 *
 * Errors are written to a caller's buffer, never logged here:
 *   FILE:LINE: unknown key 'x' in [y]
 *   FILE:LINE: bad value for 'parallel': expected an integer from 1 to 64...
 *
 * Secrets: the file never holds a password or token, only the path of a
 * file that does (*_password_file, token_file). A config file that names such
 * a file and is accessible by group or others (mode & 077) is refused, and so
 * is a secret file with such a mode (checked at load when it exists, and
 * again by config_read_secret()). Values of those keys are never echoed in
 * error messages. Read a secret with config_read_secret() just before use.
 *
 * struct config is plain data, public on purpose: it is filled before any
 * thread starts and is read-only afterwards, so threads may share it freely.
 * Strings are owned by the struct (NULL = not set) and freed by
 * config_free(). Nothing here logs or allocates outside the struct.
 */
#ifndef SA_CONFIG_H
#define SA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define CONFIG_DEFAULT_PATH "/etc/sessionarchiver/sessionarchiver.conf"
/* config_read_secret() refuses a first line longer than this */
#define CONFIG_SECRET_MAX 4096
/* [mail] to accepts at most this many recipients */
#define CONFIG_MAIL_MAX_RCPT 32

/* A category (or target) selector: id:N, idnumber:X or path:/A/B. */
enum config_sel_kind {
	CONFIG_SEL_NONE, /* not configured */
	CONFIG_SEL_ID,
	CONFIG_SEL_IDNUMBER,
	CONFIG_SEL_PATH,
};

struct config_selector {
	enum config_sel_kind kind;
	unsigned long long id; /* CONFIG_SEL_ID */
	/*
	 * CONFIG_SEL_IDNUMBER: the idnumber; CONFIG_SEL_PATH: "/A/B" (starts
	 * with '/', no empty component, no trailing '/'). In [session]
	 * category it may hold {Y} and {Y+1}: see config_pattern_expand().
	 */
	char *value;
};

/*
 * [source] db / [archive] db: mysql://user@host[:port]/name or
 * mysql://user@localhost/name?socket=/abs/path. Unset (set == false): the
 * settings come from the Moodle directory's config.php.
 */
enum config_db_kind {
	CONFIG_DB_MYSQL,      /* mysql://: MySQL or MariaDB */
	CONFIG_DB_POSTGRESQL, /* postgresql:// (or postgres://) */
};

struct config_db {
	bool set;
	enum config_db_kind kind;
	char *user;
	char *host;    /* "localhost" when socket is set */
	unsigned port; /* 0 = the client library's default (3306, 5432) */
	char *name;
	char *socket; /* NULL unless ?socket= was given: MySQL's socket
			 file, PostgreSQL's socket directory */
};

/*
 * [archive] platform: other (the default) is a second Moodle; same is the
 * source Moodle itself, its archives restored into a category of its own
 * ([archive] target), the connection taken from [source].
 */
enum config_platform_mode {
	CONFIG_PLATFORM_OTHER,
	CONFIG_PLATFORM_SAME,
};

/* One Moodle platform: [source] or [archive]. */
struct config_platform {
	char *moodle; /* Moodle code directory (absolute) */
	char *php;    /* php CLI binary, default /usr/bin/php */
	char *user;   /* system user Moodle's CLI runs as; NULL = ourselves */
	struct config_db db;
	char *db_password_file; /* secret file, see config_read_secret() */
	char *prefix;           /* [a-z0-9_]+; NULL = from config.php */
	char *site;             /* siteidentifier or its md5; NULL = no check */
	char *url;              /* wwwroot for web services (http/https) */
	char *token_file;       /* secret file with the web service token */
	struct config_selector target; /* [archive] only: restore under this */
	enum config_platform_mode mode; /* [archive] only */
};

struct config_store {
	char *path;  /* the shared store (absolute) */
	char *index; /* local SQLite index, default CONFIG_DEFAULT_INDEX */
	char *host;  /* this machine's name in the store, NULL: gethostname */
	unsigned lease_grace; /* seconds a silent lease holder is trusted */
};
#define CONFIG_DEFAULT_INDEX "/var/lib/sessionarchiver/index.db"

struct config_session {
	unsigned year_month; /* year_start, default 09-01 */
	unsigned year_day;
	struct config_selector category; /* may hold {Y} / {Y+1} */
	char *name; /* session name pattern, default "{Y}-{Y+1}" */
};

enum config_at_end {
	CONFIG_AT_END_FINISH, /* the running course finishes (default) */
	CONFIG_AT_END_ABORT,  /* the running course is aborted and redone */
};

/*
 * [window]: open from start_min to end_min (minutes since local midnight,
 * end_min may be 1440 = 24:00) on the days of days_mask, bit (1 << tm_wday):
 * bit 0 is Sunday, bit 1 Monday... A window with end_min < start_min wraps
 * past midnight; the day mask then applies to the day the window opens
 * (22:00-06:00 on fri is open from Friday 22:00 to Saturday 06:00).
 * Default: 00:00-24:00 every day, at_end finish.
 */
struct config_window {
	unsigned start_min;
	unsigned end_min;
	unsigned days_mask;
	enum config_at_end at_end;
};
#define CONFIG_DAYS_ALL 0x7fu

/* How Moodle is run for a course: see [jobs] runner. */
enum config_runner {
	CONFIG_RUNNER_WORKER, /* long-lived bridge workers, one per job */
	CONFIG_RUNNER_CLI,    /* one admin/cli script per course */
};

struct config_jobs {
	unsigned parallel; /* 1..64, default 1 */
	unsigned timeout;  /* seconds, per course Moodle CLI, default 4h */
	unsigned stop_after; /* outages in a row that stop a run, default 3 */
	bool share; /* archive shared by the hosts running it, claim by claim */
	enum config_runner runner;
	unsigned worker_courses; /* a worker is recycled after so many */
	unsigned worker_memory;  /* ... or past so many MiB of peak memory */
};

enum config_every_kind {
	CONFIG_EVERY_NONE, /* only start, pause, failure and end (default) */
	CONFIG_EVERY_PERCENT,
	CONFIG_EVERY_SECONDS,
};

struct config_mail {
	char *url;  /* smtp://host[:port] or smtps://...; NULL = no mail */
	char *from; /* a bare address: user@domain */
	char **to;  /* n_to bare addresses */
	size_t n_to;
	enum config_every_kind every_kind;
	unsigned every; /* percent (1..100) or seconds */
	char *username;
	char *password_file; /* secret file, see config_read_secret() */
	bool starttls;       /* default true: CURLUSESSL_ALL */
};

struct config_hooks {
	char *pre_backup;   /* absolute program path, or NULL */
	char *post_restore; /* absolute program path, or NULL */
	unsigned timeout;   /* seconds, default 30m */
};

/*
 * [purge] recyclebin: keep Moodle's recycle-bin copy of each deleted
 * course (default no: a purge must not fill the disk with backups).
 */
struct config_purge {
	bool recyclebin;
};

struct config {
	struct config_store store;
	struct config_platform source;
	struct config_platform archive;
	struct config_session session;
	struct config_window window;
	struct config_jobs jobs;
	struct config_mail mail;
	struct config_hooks hooks;
	struct config_purge purge;
};

/* A config holding the defaults; free with config_free(). Never NULL. */
struct config *config_new(void);
/* Frees cfg and everything it owns; config_free(NULL) does nothing. */
void config_free(struct config *cfg);

/*
 * Applies the INI file at path on top of cfg. Returns 0, or -1 with a
 * message in err ("FILE:LINE: ..." for a bad line). On failure cfg may hold
 * some of the file's values: free it. Refuses the file when it names a
 * secret file and mode & 077, and any existing secret file it names with
 * mode & 077. Lines are limited to 198 bytes; a line may not continue the
 * previous one (leading blanks are ignored). A key given twice is an error.
 */
int config_load_file(struct config *cfg, const char *path, char *err,
		     size_t errlen);
/*
 * The same for a NUL-terminated text (tests, fuzzing); name stands for the
 * file name in messages (NULL: "<string>"). No permission checks.
 */
int config_load_string(struct config *cfg, const char *text, const char *name,
		       char *err, size_t errlen);
/*
 * Command-line override: key is "section.key" (e.g. "jobs.parallel"),
 * value is parsed exactly as in the file. Returns 0 or -1 with err:
 *   unknown key 'jobs.foo'
 *   bad value for 'jobs.parallel': ...
 */
int config_set(struct config *cfg, const char *key, const char *value,
	       char *err, size_t errlen);
/*
 * Checks rules that span keys (mail needs url, from and to together; a
 * username needs a password_file; credentials over plain smtp:// need
 * starttls; [archive] platform = same names no connection of its own),
 * then completes what follows from them: with [archive] platform = same,
 * [archive] gets [source]'s connection. Returns 0 or -1 with err. Run
 * after the last config_set().
 */
int config_check(struct config *cfg, char *err, size_t errlen);

/* Is the archive platform the source platform itself? */
bool config_same_platform(const struct config *cfg);

/*
 * Reads the first line of the secret file at path into *out (without the
 * line end). Refuses a file that is not regular, is accessible by group or
 * others (mode & 077), is empty, or whose first line is longer than
 * CONFIG_SECRET_MAX. Returns 0, or -1 with err naming the file, never its
 * content. Caller frees *out with explicit_bzero() then free().
 */
int config_read_secret(const char *path, char **out, char *err,
		       size_t errlen);

/*
 * The one checked number parser: s must be all decimal digits (no sign,
 * no blanks) with min <= value <= max. Returns 0 or -1.
 */
int config_parse_uint(const char *s, unsigned long long min,
		      unsigned long long max, unsigned long long *out);
/*
 * Duration: one or more <number><unit> with units s, m, h, d ("90s",
 * "30m", "1h30m", "2d"). Returns 0 with *seconds, or -1 (also above
 * 365 days).
 */
int config_parse_duration(const char *s, unsigned *seconds);

/* true when the window is open at t (local time). */
bool config_window_contains(const struct config_window *w, time_t t);
/*
 * The first instant >= now at which the window is open: now itself when
 * open, else the next opening (local time; a DST gap moves it later).
 * (time_t)-1 when the window never opens (no day).
 */
time_t config_window_next_open(const struct config_window *w, time_t now);
/*
 * When the window open at now closes (the end of the open stretch, across
 * back-to-back days). (time_t)-1 when closed at now, or never closes
 * (00:00-24:00 every day).
 */
time_t config_window_next_close(const struct config_window *w, time_t now);

/*
 * The start year Y of the academic session that ended last before now
 * (local time): with year_start 09-01, 2026-08-31 gives 2024 (the session
 * 2024-2025 ended on 2025-08-31) and 2026-09-01 gives 2025.
 */
int config_session_year(const struct config *cfg, time_t now);
/*
 * Expands {Y} and {Y+1} in pattern for start year y into out. Returns 0, or
 * -1 when out is too small or the pattern has another {...}.
 */
int config_pattern_expand(const char *pattern, int y, char *out,
			  size_t outlen);
/* session.name expanded for config_session_year(cfg, now); 0 or -1. */
int config_session_name_for(const struct config *cfg, time_t now, char *out,
			    size_t outlen);

/*
 * A category selector from a command line ("id:12", "idnumber:X",
 * "path:/A/B"): 0, or -1 with the reason in err. Release with
 * config_selector_release().
 */
int config_parse_selector(const char *value, struct config_selector *out,
			  char *err, size_t errlen);
void config_selector_release(struct config_selector *sel);

#endif
