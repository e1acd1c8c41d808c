/*
 * platform: what the files of moodle/ share behind moodle.h. Not for the
 * operations: they see moodle.h only.
 *
 * A handle is one backend, a table of the reads moodle.h promises: the SQL
 * database (db.c over sql.c and a driver, mysql.c or pgsql.c) or web
 * services (webservice.c).
 * platform.c answers moodle.h by calling the handle's table, so no caller
 * learns which backend answered; cli.c and bridge.c run Moodle's PHP with
 * the handle's php, directory and system user.
 */
#ifndef SA_MOODLE_PLATFORM_H
#define SA_MOODLE_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moodle.h"

struct config_platform;
struct sql_conn;
struct sql_driver;
struct ws_conn;

/* Backends say this for what Moodle does not publish to them. */
#define WS_UNAVAILABLE "not available through web services"

struct moodle_backend {
	bool remote; /* out of reach of Moodle's CLI (moodle_is_remote) */
	int (*site)(struct moodle *m, struct moodle_site *out);
	int (*categories)(struct moodle *m, struct moodle_category **out,
			  size_t *n);
	int (*courses_in)(struct moodle *m, int64_t category_id,
			  bool recursive, struct moodle_course **out,
			  size_t *n);
	int (*course_get)(struct moodle *m, int64_t id,
			  struct moodle_course *out);
	int (*check)(struct moodle *m); /* moodle_check() */
	void (*close)(struct moodle *m); /* the backend's part of m */
};

struct moodle {
	const struct moodle_backend *be;
	char *dir;      /* Moodle code directory; NULL when not configured */
	char *php;
	char *user;     /* system user for the CLI; NULL = ourselves */
	bool user_known; /* uid and gid hold user's ids */
	uid_t uid;
	gid_t gid;
	char *wwwroot;  /* from config.php, or [..] url; may be NULL */
	char *dataroot; /* from config.php; NULL with a db URL */
	char *where;    /* "in database 'x'" or "on 'URL'", for messages */
	/* the SQL database */
	const struct sql_driver *sql; /* set by sql_connect() */
	struct sql_conn *db;
	struct moodle_settings *db_settings; /* to connect again */
	char *prefix;   /* checked against [a-z0-9_]+ */
	char *dbname;
	/* web services */
	struct ws_conn *ws;
	char err[1024];
	/* the failure was a missing table or column (MOODLE_ERR_SCHEMA), or
	   Moodle's refusal through its web service (MOODLE_ERR_REFUSED) */
	bool schema_missing, refused;
};

/* Sets moodle_error(); returns -1. */
int moodle_fail(struct moodle *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The backends' openers, chosen by moodle_open(). */
struct moodle *moodle_db_open(const struct config_platform *p, int *code,
			      char *err, size_t errlen);
struct moodle *moodle_ws_open(const struct config_platform *p, int *code,
			      char *err, size_t errlen);

/* Moodle's version: "2024100706", older sites "2024100706.00". */
int moodle_parse_version(const char *s, int64_t *out);

/* ---- config.php (configphp.c) ------------------------------------------ */

/* What connecting needs; pass is a secret, wiped by settings_release(). */
struct moodle_settings {
	char *type;
	char *host;
	char *name;
	char *user;
	char *pass;
	char *prefix;
	char *socket;
	unsigned port;
	char *wwwroot;
	char *dataroot;
};

/* From p's config.php, evaluated by php (see moodle_open()). */
int moodle_settings_from_php(const struct config_platform *p,
			     struct moodle_settings *s, char *err,
			     size_t errlen);
/* From p's db URL and db_password_file. */
int moodle_settings_from_url(const struct config_platform *p,
			     struct moodle_settings *s, char *err,
			     size_t errlen);
void moodle_settings_release(struct moodle_settings *s);

/* ---- categories (category.c) ------------------------------------------- */

/* "/1/3/7": what Moodle writes in path columns; nothing for LIKE to see */
bool moodle_id_path_ok(const char *s);
/* Fills name_path of every category of c from the ids in its path. */
int moodle_category_name_paths(struct moodle *m, struct moodle_category *c,
			       size_t n);

#endif
