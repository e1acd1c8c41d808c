/*
 * sessionarchiver doctor [--json] [--send-test-mail]: checks that this
 * machine can run the tool, one line per check (OK, WARN or FAIL, what was
 * found, and a hint when it is not OK): the configuration file, the store,
 * the local index, each configured Moodle platform (config.php, php, the
 * database and its tables, the release, the CLI scripts, the system user,
 * the web services), the precautions of a transfer (same Moodle version on
 * both platforms, the same tool version everywhere in the store), the mail
 * server and FUSE. Nothing is changed, except a temporary file created and
 * removed in the store's .sessionarchiver/ folder to prove it is writable,
 * and one mail with --send-test-mail. Exit 0 when nothing FAILs.
 *
 * The configuration is read with the same functions as cli_config(), but
 * here its errors become the detail of a check instead of a log line, and a
 * file refused only for its permissions is still used for the other checks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "idx.h"
#include "journal.h"
#include "log.h"
#include "mail.h"
#include "moodle.h"
#include "printable.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

/* The store should keep this share of its space free (percent). */
#define DOCTOR_FREE_MIN_PCT 10
/* Cap on what we read from others: the config file */
#define DOCTOR_CONFIG_MAX (1024 * 1024)

enum level { LVL_OK, LVL_WARN, LVL_FAIL };
static const char *const level_names[] = { "OK", "WARN", "FAIL" };

struct doctor {
	struct cli *cli;
	bool json;
	json_t *checks; /* the JSON output, filled either way */
	int count[3];
};

/* One platform as seen by the checks; the release is kept to compare. */
struct platform_seen {
	const char *section; /* "source" or "archive" */
	bool opened;         /* moodle_open() and moodle_site() succeeded */
	char *release;
	int64_t version;
};

__attribute__((format(printf, 5, 6))) static void
report(struct doctor *d, enum level lvl, const char *name, const char *hint,
       const char *fmt, ...)
{
	char detail[1024], shown[4 * sizeof(detail)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	d->count[lvl]++;
	json_array_append_new(
		d->checks,
		json_pack("{s:s, s:s, s:s, s:s?}", "name", name, "status",
			  level_names[lvl], "detail", detail, "hint",
			  lvl == LVL_OK ? NULL : hint));
	if (d->json)
		return;
	/* details quote Moodle's answers and names: one printable line */
	printable_copy(detail, strlen(detail), 0, shown, sizeof(shown));
	printf("%-4s  %-26s %s", level_names[lvl], name, shown);
	if (lvl != LVL_OK && hint)
		printf(" -- %s", hint);
	putchar('\n');
	fflush(stdout);
}

/* ---- configuration ----------------------------------------------------- */

static int read_text(const char *path, struct strbuf *sb, char *err,
		     size_t errlen)
{
	char chunk[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 strerror(errno));
		return -1;
	}
	sb_init(sb, DOCTOR_CONFIG_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || sb_add(sb, chunk, (size_t)n) < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path,
				 n < 0 ? strerror(errno) : "too large");
			close(fd);
			sb_release(sb);
			return -1;
		}
	}
	close(fd);
	return 0;
}

/*
 * Writable by group or others: whoever can write it chooses the hook
 * programs this tool runs, as root under cron.
 */
static void check_config_mode(struct doctor *d, const char *path,
			      const char *refusal)
{
	static const char name[] = "config.permissions";
	struct stat st;
	struct passwd *pw;

	if (stat(path, &st) < 0) {
		report(d, LVL_FAIL, name, NULL, "cannot stat '%s': %s", path,
		       strerror(errno));
		return;
	}
	if (refusal) {
		report(d, LVL_FAIL, name,
		       "chmod 600 the file (and its secret files); every "
		       "command refuses it as it is",
		       "%s", refusal);
		return;
	}
	if (st.st_mode & 022) {
		report(d, LVL_FAIL, name,
		       "chmod go-w the file: whoever can write it chooses "
		       "the hook programs run by this tool",
		       "'%s' is writable by group or others (mode %04o)",
		       path, (unsigned)(st.st_mode & 07777));
		return;
	}
	pw = getpwuid(st.st_uid);
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		report(d, LVL_WARN, name,
		       "chown root (or the user running sessionarchiver)",
		       "'%s' belongs to %s (uid %lu), neither root nor us",
		       path, pw ? pw->pw_name : "an unknown user",
		       (unsigned long)st.st_uid);
		return;
	}
	report(d, LVL_OK, name, NULL, "mode %04o, owner %s",
	       (unsigned)(st.st_mode & 07777), pw ? pw->pw_name : "?");
}

/*
 * Loads the configuration into cli->cfg as cli_config() would, reporting
 * instead of logging. Returns it, or NULL when it cannot be used at all.
 */
static struct config *load_config(struct doctor *d)
{
	struct cli *cli = d->cli;
	const char *path = cli->config_path;
	const char *refusal = NULL;
	struct config *cfg = config_new();
	char err[512], ferr[512];
	struct strbuf text;

	if (!path && access(CONFIG_DEFAULT_PATH, F_OK) == 0)
		path = CONFIG_DEFAULT_PATH;
	if (!path) {
		report(d, LVL_WARN, "config",
		       "install one (see sessionarchiver.conf(5)) or pass "
		       "-c FILE",
		       "no configuration file ('%s' does not exist): "
		       "defaults and --set only",
		       CONFIG_DEFAULT_PATH);
	} else if (config_load_file(cfg, path, ferr, sizeof(ferr)) < 0) {
		/* refused for its permissions, or unreadable as written? */
		config_free(cfg);
		cfg = config_new();
		if (read_text(path, &text, err, sizeof(err)) < 0) {
			report(d, LVL_FAIL, "config",
			       "check the path given with -c", "%s", err);
			goto out_fail;
		}
		if (config_load_string(cfg, text.buf, path, err,
				       sizeof(err)) < 0) {
			sb_release(&text);
			report(d, LVL_FAIL, "config",
			       "fix the line named (sessionarchiver.conf(5) "
			       "documents every key)",
			       "%s", err);
			goto out_fail;
		}
		sb_release(&text);
		refusal = ferr;
	}
	for (int i = 0; i < cli->n_sets; i++) {
		char *key = xstrdup(cli->sets[i]), *eq = strchr(key, '=');
		int rc = -1;

		if (eq) {
			*eq = '\0';
			rc = config_set(cfg, key, eq + 1, err, sizeof(err));
		} else {
			snprintf(err, sizeof(err),
				 "--set '%s': expected section.key=value",
				 cli->sets[i]);
		}
		free(key);
		if (rc < 0) {
			report(d, LVL_FAIL, "config", "fix the --set option",
			       "%s", err);
			goto out_fail;
		}
	}
	if (config_check(cfg, err, sizeof(err)) < 0) {
		report(d, LVL_FAIL, "config",
		       "see sessionarchiver.conf(5) for the keys that go "
		       "together",
		       "%s", err);
		goto out_fail;
	}
	if (path) {
		report(d, LVL_OK, "config", NULL, "'%s' read%s", path,
		       cli->n_sets ? ", --set applied" : "");
		check_config_mode(d, path, refusal);
	}
	cli->cfg = cfg;
	cli->cfg_from_file = path != NULL;
	return cfg;

out_fail:
	config_free(cfg);
	return NULL;
}

/* ---- store and index ---------------------------------------------------- */

static void check_store_space(struct doctor *d, struct store *st)
{
	struct statvfs vfs;
	double total, avail, pct;

	if (fstatvfs(store_dirfd(st), &vfs) < 0) {
		report(d, LVL_FAIL, "store.space", NULL,
		       "cannot read the free space of '%s': %s",
		       store_path(st), strerror(errno));
		return;
	}
	total = (double)vfs.f_blocks * vfs.f_frsize;
	avail = (double)vfs.f_bavail * vfs.f_frsize;
	pct = total > 0 ? 100.0 * avail / total : 0;
	report(d, pct < DOCTOR_FREE_MIN_PCT ? LVL_WARN : LVL_OK, "store.space",
	       "free some space or grow the volume before the next archive "
	       "(archive refuses to start without the estimate + 10%)",
	       "%.1f GiB free of %.1f GiB (%.0f%%)", avail / (1 << 30),
	       total / (1 << 30), pct);
}

static void check_store_writable(struct doctor *d, struct store *st)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), STORE_META_DIR "/.doctor-%ld.tmp",
		 (long)getpid());
	fd = openat(store_dirfd(st), name,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, "x", 1) != 1 || fsync(fd) < 0) {
		report(d, LVL_FAIL, "store.writable",
		       "is the shared storage mounted read-write, and "
		       "writable by this user?",
		       "cannot write in '%s/" STORE_META_DIR "': %s",
		       store_path(st), strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlinkat(store_dirfd(st), name, 0);
		}
		return;
	}
	close(fd);
	if (unlinkat(store_dirfd(st), name, 0) < 0) {
		report(d, LVL_FAIL, "store.writable", "remove it by hand",
		       "cannot remove '%s/%s': %s", store_path(st), name,
		       strerror(errno));
		return;
	}
	report(d, LVL_OK, "store.writable", NULL,
	       "created and removed a file in '%s/" STORE_META_DIR "'",
	       store_path(st));
}

static struct store *check_store(struct doctor *d, const struct config *cfg)
{
	const char *path = d->cli->store_path;
	char err[512];
	struct store *st;
	int code;

	if (!path && cfg)
		path = cfg->store.path;
	if (!path) {
		report(d, LVL_FAIL, "store",
		       "set [store] path or pass --store DIR",
		       "no store configured");
		return NULL;
	}
	st = store_open(path, &code, err, sizeof(err));
	if (!st) {
		report(d, LVL_FAIL, "store",
		       code == STORE_ERR_NOT_STORE
			       ? "is the shared storage mounted? a new store "
				 "is made with 'sessionarchiver init --store "
				 "DIR'"
		       : code == STORE_ERR_FORMAT
			       ? "install the sessionarchiver version that "
				 "wrote this store"
			       : "is the shared storage mounted and readable?",
		       "%s", err);
		return NULL;
	}
	report(d, LVL_OK, "store", NULL, "'%s': store id %s, format %d",
	       store_path(st), store_id(st), store_format(st));
	check_store_writable(d, st);
	check_store_space(d, st);
	return st;
}

static void check_index(struct doctor *d, const struct config *cfg,
			struct store *st)
{
	static const char name[] = "index";
	struct idx_probe pr;
	char *path;

	/* the same choice as cli_open_index(), without creating the file */
	if (d->cli->index_path)
		path = xstrdup(d->cli->index_path);
	else if (d->cli->cfg_from_file && cfg && cfg->store.index)
		path = xstrdup(cfg->store.index);
	else if (st)
		path = idx_default_path(store_id(st));
	else {
		report(d, LVL_WARN, name,
		       "fix the store first, or pass --index FILE",
		       "not checked: no store to name it after");
		return;
	}
	/* the index must belong to this store (status checks it too) */
	idx_probe(path, st ? store_id(st) : NULL, &pr);
	switch (pr.state) {
	case IDX_PROBE_NO_FOLDER:
		report(d, LVL_FAIL, name,
		       "create the folder (mkdir -p) or set [store] index",
		       "the index's folder '%s' does not exist", pr.folder);
		break;
	case IDX_PROBE_ABSENT:
		report(d, LVL_WARN, name,
		       "run 'sessionarchiver index' once to create it",
		       "'%s' does not exist yet", path);
		break;
	case IDX_PROBE_OLDER:
		report(d, LVL_WARN, name,
		       "run 'sessionarchiver index' to migrate it",
		       "'%s' has schema version %d, this version uses %d", path,
		       pr.schema, IDX_SCHEMA_VERSION);
		break;
	case IDX_PROBE_NEWER:
		report(d, LVL_FAIL, name,
		       "use the newer sessionarchiver that wrote it, or move it "
		       "away and run 'sessionarchiver index --rebuild'",
		       "%s", pr.error);
		break;
	case IDX_PROBE_UNREADABLE:
		report(d, LVL_FAIL, name,
		       "move it away and run 'sessionarchiver index --rebuild'",
		       "%s", pr.error);
		break;
	case IDX_PROBE_OTHER_STORE:
		report(d, LVL_FAIL, name,
		       "use another --index or [store] index for this store",
		       "'%s' belongs to another store (id %s, not %s)", path,
		       pr.owner, store_id(st));
		break;
	case IDX_PROBE_OK:
		report(d, LVL_OK, name, NULL, "'%s': schema version %d", path,
		       pr.schema);
		break;
	}
	idx_probe_release(&pr);
	free(path);
}

/* ---- platforms ----------------------------------------------------------- */

static char *check_name(const char *section, const char *what)
{
	return xasprintf("%s.%s", section, what);
}

static bool check_php(struct doctor *d, const struct config_platform *p,
		      const char *section)
{
	char *name = check_name(section, "php"), version[64], err[512];
	int rc = moodle_probe_php(p, version, sizeof(version), err,
				  sizeof(err));

	if (rc == 0)
		report(d, LVL_OK, name, NULL, "'%s': PHP %s", p->php, version);
	else
		report(d, LVL_FAIL, name,
		       rc == -1 ? "install php-cli, or set 'php' to its path"
				: "run it by hand to see why",
		       "%s", err);
	free(name);
	return rc == 0;
}

/* True when Moodle's CLI can run as configured (a warning included). */
static bool check_user(struct doctor *d, const struct config_platform *p,
		       const char *section)
{
	char *name = check_name(section, "user");
	struct passwd *pw;
	bool ok = false;

	if (!p->user) {
		if (geteuid() == 0)
			report(d, LVL_WARN, name,
			       "set 'user' to the web server's user (e.g. "
			       "www-data): files Moodle writes as root break "
			       "the site",
			       "no 'user': Moodle's CLI would run as root");
		else
			report(d, LVL_OK, name, NULL,
			       "no 'user': Moodle's CLI runs as uid %lu",
			       (unsigned long)geteuid());
		ok = true;
	} else if (!(pw = getpwnam(p->user))) {
		report(d, LVL_FAIL, name,
		       "set 'user' to the user the web server runs Moodle "
		       "as",
		       "no system user '%s'", p->user);
	} else if (pw->pw_uid != geteuid() && geteuid() != 0) {
		report(d, LVL_FAIL, name,
		       "run sessionarchiver as root or as that user",
		       "running Moodle's CLI as '%s' (uid %lu) needs root",
		       p->user, (unsigned long)pw->pw_uid);
	} else if (pw->pw_uid != geteuid() &&
		   access("/usr/bin/setpriv", X_OK) < 0) {
		report(d, LVL_FAIL, name, "install util-linux",
		       "/usr/bin/setpriv is missing: cannot run Moodle's "
		       "CLI as '%s'",
		       p->user);
	} else {
		report(d, LVL_OK, name, NULL, "'%s' (uid %lu, gid %lu)",
		       p->user, (unsigned long)pw->pw_uid,
		       (unsigned long)pw->pw_gid);
		ok = true;
	}
	free(name);
	return ok;
}

static void check_scripts(struct doctor *d, const struct config_platform *p,
			  const char *section)
{
	char *name = check_name(section, "cli_scripts"), missing[512];

	if (moodle_probe_scripts(p, missing, sizeof(missing)) < 0)
		report(d, LVL_FAIL, name,
		       "is 'moodle' the Moodle code directory, and the code "
		       "complete?",
		       "missing: %s", missing);
	else
		report(d, LVL_OK, name, NULL,
		       "backup.php and restore_backup.php in "
		       "'%s/admin/cli'",
		       p->moodle);
	free(name);
}

/* The web service as the tool would use it, with only url and token. */
static void check_webservice(struct doctor *d, const struct config_platform *p,
			     const char *section)
{
	struct config_platform ws = { .url = p->url,
				      .token_file = p->token_file };
	char *name = check_name(section, "webservice"), err[1024];
	struct moodle_site site = { 0 };
	struct moodle *m;
	int code;

	m = moodle_open(&ws, &code, err, sizeof(err));
	if (m && moodle_site(m, &site) == 0) {
		report(d, LVL_OK, name, NULL,
		       "'%s': site '%s', Moodle %s, as user '%s'", p->url,
		       site.sitename && *site.sitename ? site.sitename : "?",
		       site.release ? site.release : "?",
		       site.ws_user && *site.ws_user ? site.ws_user : "?");
	} else if (m) {
		report(d, LVL_FAIL, name, "is the Moodle install complete?",
		       "%s", moodle_error(m));
	} else {
		report(d, LVL_FAIL, name,
		       code == MOODLE_ERR_CONFIG
			       ? "write the web service token in 'token_file', "
				 "mode 0600"
		       : code == MOODLE_ERR_REFUSED
			       ? "check the token (Site administration > Server "
				 "> Web services > Manage tokens) and its "
				 "service's functions"
			       : "is 'url' the site's wwwroot, and are web "
				 "services and the REST protocol enabled?",
		       "%s", err);
	}
	moodle_site_release(&site);
	moodle_free(m);
	free(name);
}

/*
 * What [jobs] runner = worker needs: the bridge starts as a worker on the
 * platform and answers. Its first answer waits for Moodle's set-up: the
 * cost each course pays with runner = cli.
 */
static void check_bridge_worker(struct doctor *d,
				const struct config_platform *p,
				const char *section)
{
	char *name = check_name(section, "bridge_worker"), err[1024];
	double setup_s;

	if (moodle_probe_bridge(p, &setup_s, err, sizeof(err)) == 0)
		report(d, LVL_OK, name, NULL,
		       "answers; Moodle's set-up took %.2f s (paid once per "
		       "job with runner = worker, once per course with cli)",
		       setup_s);
	else
		report(d, LVL_FAIL, name,
		       "is 'moodle' complete, and can its user run php? "
		       "'runner = cli' runs Moodle's scripts instead",
		       "%s", err);
	free(name);
}

static void check_database(struct doctor *d, const struct config_platform *p,
			   struct platform_seen *seen)
{
	char *name = check_name(seen->section, "database"), err[1024];
	struct moodle_site site = { 0 };
	struct moodle *m;
	int code;

	m = moodle_open(p, &code, err, sizeof(err));
	if (!m) {
		report(d, LVL_FAIL, name,
		       code == MOODLE_ERR_CONFIG
			       ? "fix config.php's database settings, or "
				 "'db' and 'db_password_file'"
		       : code == MOODLE_ERR_SCHEMA
			       ? "is this Moodle's database, with the right "
				 "'prefix'? is the Moodle upgrade complete?"
			       : "is the database server running, and does "
				 "the account have access from this host?",
		       "%s", err);
		goto out;
	}
	report(d, LVL_OK, name, NULL,
	       "connected (%s), the tables this tool reads are present",
	       moodle_db_server(m));
	free(name);
	name = check_name(seen->section, "moodle");
	if (moodle_site(m, &site) < 0) {
		report(d, LVL_FAIL, name, "is the Moodle install complete?",
		       "%s", moodle_error(m));
	} else if (p->site && strcmp(p->site, site.siteidentifier) != 0 &&
		   strcasecmp(p->site, site.site_hash) != 0) {
		report(d, LVL_FAIL, name,
		       "this is another Moodle site than 'site' names: fix "
		       "'site', or the database settings",
		       "Moodle %s (version %lld), site %s, not the "
		       "configured one",
		       site.release, (long long)site.version, site.site_hash);
	} else {
		report(d, LVL_OK, name, NULL,
		       "Moodle %s (version %lld), site %s%s", site.release,
		       (long long)site.version, site.site_hash,
		       p->site ? ", as configured" : "");
		seen->opened = true;
		seen->release = xstrdup(site.release);
		seen->version = site.version;
	}
	moodle_site_release(&site);
	moodle_free(m);
out:
	free(name);
}

static void check_platform(struct doctor *d, const struct config_platform *p,
			   struct platform_seen *seen)
{
	bool php_ok, cfgphp_ok = true;

	if (p->moodle) {
		char *cfgphp = xasprintf("%s/config.php", p->moodle);
		char *name = check_name(seen->section, "config_php");

		cfgphp_ok = access(cfgphp, R_OK) == 0;
		if (cfgphp_ok)
			report(d, LVL_OK, name, NULL, "'%s' readable", cfgphp);
		else
			report(d, LVL_FAIL, name,
			       "is 'moodle' the Moodle code directory?",
			       "cannot read '%s': %s", cfgphp,
			       strerror(errno));
		free(name);
		free(cfgphp);
	}
	php_ok = check_php(d, p, seen->section);
	/* without php or config.php the database settings are unknown */
	if (p->db.set || (cfgphp_ok && php_ok))
		check_database(d, p, seen);
	/* a wrong 'moodle' folder is one cause: one FAIL, not two */
	if (p->moodle && cfgphp_ok)
		check_scripts(d, p, seen->section);
	/* a worker needs the database, the code and the user to be right */
	if (check_user(d, p, seen->section) && seen->opened && p->moodle &&
	    cfgphp_ok)
		check_bridge_worker(d, p, seen->section);
	if (p->url && p->token_file)
		check_webservice(d, p, seen->section);
}

/* restore refuses backups of another Moodle version, older or newer */
static void check_versions(struct doctor *d, const struct platform_seen *src,
			   const struct platform_seen *arc)
{
	static const char name[] = "platforms.moodle_version";

	if (!src->opened || !arc->opened)
		return;
	if (src->version == arc->version)
		report(d, LVL_OK, name, NULL,
		       "source and archive both run Moodle %s (version %lld)",
		       src->release, (long long)src->version);
	else
		report(d, LVL_FAIL, name,
		       "upgrade one platform so that both run the same "
		       "Moodle version: restore refuses backups of another "
		       "version (unless --allow-version-mismatch)",
		       "source runs Moodle %s (%lld), archive %s (%lld)",
		       src->release, (long long)src->version, arc->release,
		       (long long)arc->version);
}

/* ---- tool versions in the store ------------------------------------------ */

struct versions {
	const char *session;
	struct strbuf others; /* "session: version" of lines not ours */
	long lines, foreign;
};

static void saw_version(struct versions *v, const char *version)
{
	v->lines++;
	if (!version || strcmp(version, SA_VERSION) == 0)
		return;
	if (v->foreign++ == 0 || !strstr(v->others.buf, version))
		sb_printf(&v->others, "%s%s %s", v->others.len ? ", " : "",
			  v->session, version);
}

static int on_line(void *ctx, long line_no, json_t *obj)
{
	(void)line_no;
	saw_version(ctx, journal_str(obj, "tool_version"));
	return 0;
}

static void scan_session_versions(struct store *st, const char *session,
				  struct versions *v)
{
	char *meta = xasprintf("%s/" SESSION_META_DIR, session), *shown;
	int fd = openat(store_dirfd(st), meta,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;
	DIR *dir;

	v->session = session;
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		free(meta);
		return;
	}
	while ((e = readdir(dir))) {
		off_t off = 0;
		long lines = 0;

		if (!journal_is_manifest(e->d_name) &&
		    strncmp(e->d_name, JOURNAL_PREFIX,
			    strlen(JOURNAL_PREFIX)) != 0)
			continue;
		shown = xasprintf("%s/%s", meta, e->d_name);
		journal_read(dirfd(dir), e->d_name, shown, &off, &lines,
			     on_line, v);
		free(shown);
	}
	closedir(dir);
	free(meta);
}

static void check_tool_versions(struct doctor *d, struct store *st)
{
	static const char name[] = "store.tool_versions";
	struct versions v = { 0 };
	struct dirent *e;
	long sessions = 0;
	DIR *dir;
	int fd = openat(store_dirfd(st), ".", O_RDONLY | O_DIRECTORY |
						      O_CLOEXEC);

	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		report(d, LVL_FAIL, name, NULL, "cannot list '%s': %s",
		       store_path(st), strerror(errno));
		return;
	}
	sb_init(&v.others, 4096);
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.' || store_name_is_hidden(e->d_name))
			continue;
		if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
			continue;
		sessions++;
		scan_session_versions(st, e->d_name, &v);
	}
	closedir(dir);
	if (v.foreign)
		report(d, LVL_WARN, name,
		       "both platforms should run the same sessionarchiver "
		       "version: upgrade the older one (restore refuses "
		       "backups of another version unless "
		       "--allow-version-mismatch)",
		       "%ld of %ld manifest and journal lines were written "
		       "by another version than %s: %s",
		       v.foreign, v.lines, SA_VERSION, v.others.buf);
	else
		report(d, LVL_OK, name, NULL,
		       "%ld session(s), %ld manifest and journal lines, none "
		       "from another version than %s",
		       sessions, v.lines, SA_VERSION);
	sb_release(&v.others);
}

/* ---- mail, FUSE, hooks, window --------------------------------------------- */

static void check_mail(struct doctor *d, const struct config_mail *m,
		       bool send_test)
{
	char err[512];
	int rc;

	if (!m->url)
		return;
	rc = mail_probe(m, err, sizeof(err));
	if (rc == MAIL_ERR_SECRET) {
		report(d, LVL_FAIL, "mail",
		       "write the SMTP password in [mail] password_file, "
		       "mode 0600",
		       "%s", err);
		return;
	}
	if (rc < 0) {
		report(d, LVL_FAIL, "mail",
		       "is the mail server up and reachable from here? check "
		       "[mail] url, starttls and the credentials",
		       "%s", err);
		return;
	}
	report(d, LVL_OK, "mail", NULL, "'%s' answered EHLO%s%s%s", m->url,
	       m->starttls && !strncasecmp(m->url, "smtp://", 7)
		       ? ", STARTTLS"
		       : "",
	       m->username ? ", authenticated as " : "",
	       m->username ? m->username : "");
	if (send_test) {
		char host[256] = "?", *body;

		gethostname(host, sizeof(host) - 1);
		body = xasprintf("This is a test mail of 'sessionarchiver "
				 "doctor --send-test-mail' on %s "
				 "(sessionarchiver %s).\n\nProgress mails of "
				 "archive, restore, verify and purge runs "
				 "will come the same way.\n",
				 host, SA_VERSION);
		if (mail_send(m, "sessionarchiver: test mail", body, err,
			      sizeof(err)) < 0)
			report(d, LVL_FAIL, "mail.test",
			       "the server accepted the connection but not "
			       "the mail: check [mail] from and to",
			       "%s", err);
		else
			report(d, LVL_OK, "mail.test", NULL,
			       "test mail sent to %zu recipient(s)", m->n_to);
		free(body);
	}
}

/* A program's absolute path on PATH, or NULL; caller frees. */
static char *on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *found = NULL;

	copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		char *cand = xasprintf("%s/%s", dir, prog);

		if (access(cand, X_OK) == 0)
			found = cand;
		else
			free(cand);
	}
	free(copy);
	return found;
}

static void check_fuse(struct doctor *d)
{
	struct stat st;
	char *fm;

	if (stat("/dev/fuse", &st) < 0)
		report(d, LVL_FAIL, "fuse.device",
		       "modprobe fuse; in a container, pass --device "
		       "/dev/fuse",
		       "/dev/fuse: %s", strerror(errno));
	else if (!S_ISCHR(st.st_mode))
		report(d, LVL_FAIL, "fuse.device",
		       "remove it and load the fuse module (modprobe fuse)",
		       "/dev/fuse is not a character device");
	else
		report(d, LVL_OK, "fuse.device", NULL,
		       "/dev/fuse is a character device (%u:%u)",
		       major(st.st_rdev), minor(st.st_rdev));
	fm = on_path("fusermount3");
	if (fm)
		report(d, LVL_OK, "fuse.fusermount3", NULL, "'%s'", fm);
	else
		report(d, LVL_FAIL, "fuse.fusermount3",
		       "install the Debian package fuse3",
		       "fusermount3 not found on PATH: sessionarchiverfs "
		       "cannot mount nor unmount");
	free(fm);
}

static void check_hook(struct doctor *d, const char *name, const char *path)
{
	struct stat st;
	const char *why = NULL;

	if (!path)
		return;
	if (stat(path, &st) < 0 || access(path, X_OK) < 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	if (why)
		report(d, LVL_FAIL, name, "install it, and chmod +x it",
		       "'%s' cannot be run: %s", path, why);
	else if (st.st_mode & 022)
		report(d, LVL_FAIL, name,
		       "chmod go-w it: it runs with this tool's rights",
		       "'%s' is writable by group or others (mode %04o)",
		       path, (unsigned)(st.st_mode & 07777));
	else
		report(d, LVL_OK, name, NULL, "'%s' is executable", path);
}

static void check_window(struct doctor *d, const struct config_window *w)
{
	time_t now = time(NULL), next;
	char when[64];
	struct tm tm;

	if (config_window_contains(w, now)) {
		report(d, LVL_OK, "window", NULL,
		       "%02u:%02u-%02u:%02u: open now", w->start_min / 60,
		       w->start_min % 60, w->end_min / 60, w->end_min % 60);
		return;
	}
	next = config_window_next_open(w, now);
	if (next == (time_t)-1) {
		report(d, LVL_FAIL, "window", "set [window] days",
		       "the window never opens");
		return;
	}
	localtime_r(&next, &tm);
	strftime(when, sizeof(when), "%a %Y-%m-%d %H:%M", &tm);
	report(d, LVL_OK, "window", NULL,
	       "%02u:%02u-%02u:%02u: closed now, opens %s", w->start_min / 60,
	       w->start_min % 60, w->end_min / 60, w->end_min % 60, when);
}

/* ---- the command -------------------------------------------------------- */

static bool platform_configured(const struct config_platform *p)
{
	return p->moodle || p->db.set;
}

int cmd_doctor(struct cli *cli, int argc, char **argv)
{
	static const char synopsis[] = "[--json] [--send-test-mail]";
	static const struct option opts[] = {
		{ "send-test-mail", no_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	struct platform_seen src = { .section = "source" };
	struct platform_seen arc = { .section = "archive" };
	struct doctor d = { .cli = cli };
	bool send_test = false;
	struct config *cfg;
	struct store *st;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "", opts, true)) != -1) {
		if (c == 'M') {
			send_test = true;
			continue;
		}
		if (c == 'h') {
			printf("usage: sessionarchiver doctor %s\n\n"
			       "Check the configuration, the store, the "
			       "index, each configured Moodle\nplatform "
			       "(config.php, php, database, tables, "
			       "release, CLI scripts,\nuser, web services), "
			       "that both platforms and the store agree on\n"
			       "versions, the mail server and FUSE. One line "
			       "per check: OK, WARN or\nFAIL, with a hint. "
			       "Exit 0 when nothing FAILs.\n"
			       "  --json            {\"ok\": bool, \"checks\": "
			       "[{name, status, detail, hint}]}\n"
			       "  --send-test-mail  also send a test mail "
			       "through [mail]\n",
			       synopsis);
			return SA_EXIT_OK;
		}
		return cli_usage(cli, synopsis);
	}
	if (optind != argc)
		return cli_usage(cli, synopsis);
	d.json = cli->json;
	d.checks = json_array();

	cfg = load_config(&d);
	st = check_store(&d, cfg);
	check_index(&d, cfg, st);
	if (cfg) {
		if (platform_configured(&cfg->source))
			check_platform(&d, &cfg->source, &src);
		if (platform_configured(&cfg->archive))
			check_platform(&d, &cfg->archive, &arc);
		if (!platform_configured(&cfg->source) &&
		    !platform_configured(&cfg->archive))
			report(&d, LVL_WARN, "platforms",
			       "set [source] and/or [archive] moodle",
			       "no Moodle platform configured");
		check_versions(&d, &src, &arc);
	}
	if (st)
		check_tool_versions(&d, st);
	if (cfg) {
		check_hook(&d, "hooks.pre_backup", cfg->hooks.pre_backup);
		check_hook(&d, "hooks.post_restore", cfg->hooks.post_restore);
		check_window(&d, &cfg->window);
		check_mail(&d, &cfg->mail, send_test);
	}
	check_fuse(&d);

	if (d.json) {
		json_t *out = json_pack("{s:b, s:o}", "ok",
					d.count[LVL_FAIL] == 0, "checks",
					d.checks);

		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(out);
	} else {
		printf("%d checks: %d OK, %d WARN, %d FAIL\n",
		       d.count[LVL_OK] + d.count[LVL_WARN] +
			       d.count[LVL_FAIL],
		       d.count[LVL_OK], d.count[LVL_WARN], d.count[LVL_FAIL]);
		json_decref(d.checks);
	}
	free(src.release);
	free(arc.release);
	store_free(st);
	return d.count[LVL_FAIL] ? SA_EXIT_FAILURE : SA_EXIT_OK;
}
