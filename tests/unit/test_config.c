/*
 * Unit tests for common/config: every key, every type's bad values with the
 * exact FILE:LINE message, defaults < file < command line, secret file
 * permissions, window arithmetic and session names. Times are local: main()
 * pins TZ to UTC, the DST test switches to Europe/Paris.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* ---- helpers ---------------------------------------------------------- */

static struct config *load_ok(const char *text)
{
	struct config *cfg = config_new();
	char err[1024] = "";

	if (config_load_string(cfg, text, "t.conf", err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	return cfg;
}

static void expect_error(const char *text, const char *want)
{
	struct config *cfg = config_new();
	char err[1024] = "";

	assert_int_equal(config_load_string(cfg, text, "t.conf", err,
					    sizeof(err)),
			 -1);
	assert_string_equal(err, want);
	config_free(cfg);
}

static time_t local(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { 0 };

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_isdst = -1;
	return mktime(&tm);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

struct tmpdir {
	char path[64];
};

static void tmpdir_make(struct tmpdir *t)
{
	snprintf(t->path, sizeof(t->path), "/tmp/test_config.XXXXXX");
	assert_non_null(mkdtemp(t->path));
}

static char *tmpdir_file(const struct tmpdir *t, const char *name)
{
	static char buf[4][256];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, 256, "%s/%s", t->path, name);
	return p;
}

static void tmpdir_remove(struct tmpdir *t, const char *const *names)
{
	for (; *names; names++)
		unlink(tmpdir_file(t, *names));
	assert_int_equal(rmdir(t->path), 0);
}

/* ---- defaults and every key ------------------------------------------- */

static void test_defaults(void **state)
{
	struct config *cfg = config_new();
	char err[256];

	(void)state;
	assert_null(cfg->store.path);
	assert_string_equal(cfg->store.index, CONFIG_DEFAULT_INDEX);
	assert_string_equal(cfg->source.php, "/usr/bin/php");
	assert_string_equal(cfg->archive.php, "/usr/bin/php");
	assert_null(cfg->source.moodle);
	assert_false(cfg->source.db.set);
	assert_null(cfg->source.prefix);
	assert_int_equal(cfg->archive.target.kind, CONFIG_SEL_NONE);
	assert_int_equal(cfg->archive.mode, CONFIG_PLATFORM_OTHER);
	assert_int_equal(cfg->session.year_month, 9);
	assert_int_equal(cfg->session.year_day, 1);
	assert_int_equal(cfg->session.category.kind, CONFIG_SEL_NONE);
	assert_string_equal(cfg->session.name, "{Y}-{Y+1}");
	assert_int_equal(cfg->window.start_min, 0);
	assert_int_equal(cfg->window.end_min, 1440);
	assert_int_equal(cfg->window.days_mask, CONFIG_DAYS_ALL);
	assert_int_equal(cfg->window.at_end, CONFIG_AT_END_FINISH);
	assert_int_equal(cfg->jobs.parallel, 1);
	assert_int_equal(cfg->jobs.timeout, 4 * 3600);
	assert_null(cfg->mail.url);
	assert_int_equal(cfg->mail.n_to, 0);
	assert_int_equal(cfg->mail.every_kind, CONFIG_EVERY_NONE);
	assert_true(cfg->mail.starttls);
	assert_null(cfg->hooks.pre_backup);
	assert_int_equal(cfg->hooks.timeout, 30 * 60);
	assert_int_equal(config_check(cfg, err, sizeof(err)), 0);
	config_free(cfg);
	config_free(NULL);
}

static const char full_text[] =
	"; every key\n"
	"[store]\n"
	"path = /srv/store\n"
	"index = /var/lib/sa/index.db\n"
	"[source]\n"
	"moodle = /var/www/moodle\n"
	"php = /usr/bin/php8.2\n"
	"user = www-data\n"
	"db = mysql://moodle@db.example.org:3307/moodle_prod\n"
	"db_password_file = /etc/sa/db.pw\n"
	"prefix = mdl_\n"
	"site = 0123456789abcdef0123456789abcdef\n"
	"url = https://moodle.example.org/\n"
	"token_file = /etc/sa/ws.token\n"
	"[archive]\n"
	"moodle = /var/www/archive\n"
	"php = /usr/bin/php\n"
	"user = moodle\n"
	"db = mysql://arch@localhost/moodle_arch?socket=/run/mysqld/m.sock\n"
	"db_password_file = /etc/sa/arch.pw\n"
	"prefix = arch_2\n"
	"site = abcdefghij1234567890moodle.example.org\n"
	"url = http://archive.example.org:8080/moodle\n"
	"token_file = /etc/sa/arch.token\n"
	"target = path:/Archives/Old sessions\n"
	"platform = other\n"
	"[session]\n"
	"year_start = 08-15\n"
	"category = idnumber:SESSION-{Y}-{Y+1}\n"
	"name = session-{Y}\n"
	"[window]\n"
	"hours = 22:00-06:30\n"
	"days = mon-fri,sun\n"
	"at_end = abort\n"
	"[jobs]\n"
	"parallel = 8\n"
	"timeout = 1h30m\n"
	"[mail]\n"
	"url = smtps://mail.example.org:465\n"
	"from = sa@example.org\n"
	"to = a@example.org, b@example.net\n"
	"every = 30m\n"
	"username = sa\n"
	"password_file = /etc/sa/smtp.pw\n"
	"starttls = off\n"
	"[hooks]\n"
	"pre_backup = /usr/local/bin/pre\n"
	"post_restore = /usr/local/bin/post\n"
	"timeout = 90s\n";

static void test_every_key(void **state)
{
	struct config *cfg = load_ok(full_text);
	char err[256];

	(void)state;
	assert_string_equal(cfg->store.path, "/srv/store");
	assert_string_equal(cfg->store.index, "/var/lib/sa/index.db");
	assert_string_equal(cfg->source.moodle, "/var/www/moodle");
	assert_string_equal(cfg->source.php, "/usr/bin/php8.2");
	assert_string_equal(cfg->source.user, "www-data");
	assert_true(cfg->source.db.set);
	assert_string_equal(cfg->source.db.user, "moodle");
	assert_string_equal(cfg->source.db.host, "db.example.org");
	assert_int_equal(cfg->source.db.port, 3307);
	assert_string_equal(cfg->source.db.name, "moodle_prod");
	assert_null(cfg->source.db.socket);
	assert_string_equal(cfg->source.db_password_file, "/etc/sa/db.pw");
	assert_string_equal(cfg->source.prefix, "mdl_");
	assert_string_equal(cfg->source.site,
			    "0123456789abcdef0123456789abcdef");
	assert_string_equal(cfg->source.url, "https://moodle.example.org");
	assert_string_equal(cfg->source.token_file, "/etc/sa/ws.token");
	assert_int_equal(cfg->source.target.kind, CONFIG_SEL_NONE);

	assert_string_equal(cfg->archive.moodle, "/var/www/archive");
	assert_string_equal(cfg->archive.php, "/usr/bin/php");
	assert_string_equal(cfg->archive.user, "moodle");
	assert_string_equal(cfg->archive.db.user, "arch");
	assert_string_equal(cfg->archive.db.host, "localhost");
	assert_int_equal(cfg->archive.db.port, 0);
	assert_string_equal(cfg->archive.db.name, "moodle_arch");
	assert_string_equal(cfg->archive.db.socket, "/run/mysqld/m.sock");
	assert_string_equal(cfg->archive.db_password_file, "/etc/sa/arch.pw");
	assert_string_equal(cfg->archive.prefix, "arch_2");
	assert_string_equal(cfg->archive.site,
			    "abcdefghij1234567890moodle.example.org");
	assert_string_equal(cfg->archive.url,
			    "http://archive.example.org:8080/moodle");
	assert_string_equal(cfg->archive.token_file, "/etc/sa/arch.token");
	assert_int_equal(cfg->archive.target.kind, CONFIG_SEL_PATH);
	assert_int_equal(cfg->archive.mode, CONFIG_PLATFORM_OTHER);
	assert_string_equal(cfg->archive.target.value,
			    "/Archives/Old sessions");

	assert_int_equal(cfg->session.year_month, 8);
	assert_int_equal(cfg->session.year_day, 15);
	assert_int_equal(cfg->session.category.kind, CONFIG_SEL_IDNUMBER);
	assert_string_equal(cfg->session.category.value,
			    "SESSION-{Y}-{Y+1}");
	assert_string_equal(cfg->session.name, "session-{Y}");

	assert_int_equal(cfg->window.start_min, 22 * 60);
	assert_int_equal(cfg->window.end_min, 6 * 60 + 30);
	assert_int_equal(cfg->window.days_mask, 0x3f); /* sun..fri */
	assert_int_equal(cfg->window.at_end, CONFIG_AT_END_ABORT);

	assert_int_equal(cfg->jobs.parallel, 8);
	assert_int_equal(cfg->jobs.timeout, 5400);

	assert_string_equal(cfg->mail.url, "smtps://mail.example.org:465");
	assert_string_equal(cfg->mail.from, "sa@example.org");
	assert_int_equal(cfg->mail.n_to, 2);
	assert_string_equal(cfg->mail.to[0], "a@example.org");
	assert_string_equal(cfg->mail.to[1], "b@example.net");
	assert_int_equal(cfg->mail.every_kind, CONFIG_EVERY_SECONDS);
	assert_int_equal(cfg->mail.every, 1800);
	assert_string_equal(cfg->mail.username, "sa");
	assert_string_equal(cfg->mail.password_file, "/etc/sa/smtp.pw");
	assert_false(cfg->mail.starttls);

	assert_string_equal(cfg->hooks.pre_backup, "/usr/local/bin/pre");
	assert_string_equal(cfg->hooks.post_restore, "/usr/local/bin/post");
	assert_int_equal(cfg->hooks.timeout, 90);
	/* smtps:// is encrypted even with starttls off */
	assert_int_equal(config_check(cfg, err, sizeof(err)), 0);
	config_free(cfg);
}

static void test_value_forms(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("[mail]\nstarttls = YES\nevery = 10%\n"
		      "[window]\nhours = 08:00-24:00\ndays = Sat-Mon\n"
		      "[session]\ncategory = id:42\n"
		      "[archive]\ntarget = idnumber:ARCHIVES\n");
	assert_true(cfg->mail.starttls);
	assert_int_equal(cfg->mail.every_kind, CONFIG_EVERY_PERCENT);
	assert_int_equal(cfg->mail.every, 10);
	assert_int_equal(cfg->window.start_min, 480);
	assert_int_equal(cfg->window.end_min, 1440);
	assert_int_equal(cfg->window.days_mask, 0x43); /* sat, sun, mon */
	assert_int_equal(cfg->session.category.kind, CONFIG_SEL_ID);
	assert_int_equal(cfg->session.category.id, 42);
	assert_int_equal(cfg->archive.target.kind, CONFIG_SEL_IDNUMBER);
	assert_string_equal(cfg->archive.target.value, "ARCHIVES");
	config_free(cfg);

	/* booleans, every spelling; inline comments; blanks; key: value */
	cfg = load_ok("  [mail]\n  starttls=0 ; plain relay\n");
	assert_false(cfg->mail.starttls);
	config_free(cfg);
	cfg = load_ok("[mail]\nstarttls: true\n[window]\nhours = 22:00-00:00\n"
		      "days = fri-mon\n");
	assert_true(cfg->mail.starttls);
	assert_int_equal(cfg->window.end_min, 1440);
	assert_int_equal(cfg->window.days_mask, 0x63); /* fri..mon */
	config_free(cfg);

	/* an empty value unsets an optional key */
	cfg = load_ok("[hooks]\npre_backup =\n[source]\nuser =\n"
		      "[mail]\nevery = off\nto =\n");
	assert_null(cfg->hooks.pre_backup);
	assert_null(cfg->source.user);
	assert_int_equal(cfg->mail.every_kind, CONFIG_EVERY_NONE);
	assert_int_equal(cfg->mail.n_to, 0);
	config_free(cfg);

	/* a UTF-8 BOM and CRLF line ends */
	cfg = load_ok("\xef\xbb\xbf[jobs]\r\nparallel = 3\r\n");
	assert_int_equal(cfg->jobs.parallel, 3);
	config_free(cfg);
}

/* ---- errors ----------------------------------------------------------- */

struct bad_case {
	const char *text;
	const char *err;
};

static const struct bad_case bad_cases[] = {
	/* uint */
	{ "[jobs]\nparallel = 0\n",
	  "t.conf:2: bad value for 'parallel': expected an integer from 1 to "
	  "64, got '0'" },
	{ "[jobs]\nparallel = 65\n",
	  "t.conf:2: bad value for 'parallel': expected an integer from 1 to "
	  "64, got '65'" },
	{ "[jobs]\nparallel = -1\n",
	  "t.conf:2: bad value for 'parallel': expected an integer from 1 to "
	  "64, got '-1'" },
	{ "[jobs]\nparallel = 4x\n",
	  "t.conf:2: bad value for 'parallel': expected an integer from 1 to "
	  "64, got '4x'" },
	{ "[jobs]\nparallel = +4\n",
	  "t.conf:2: bad value for 'parallel': expected an integer from 1 to "
	  "64, got '+4'" },
	{ "[jobs]\nparallel =\n",
	  "t.conf:2: bad value for 'parallel': expected an integer from 1 to "
	  "64, got ''" },
	{ "[jobs]\nparallel = 99999999999999999999999\n",
	  "t.conf:2: bad value for 'parallel': expected an integer from 1 to "
	  "64, got '99999999999999999999999'" },
	/* duration */
	{ "[jobs]\ntimeout = 5\n",
	  "t.conf:2: bad value for 'timeout': expected a duration like 90s, "
	  "30m, 2h or 1h30m, got '5'" },
	{ "[jobs]\ntimeout = 2x\n",
	  "t.conf:2: bad value for 'timeout': expected a duration like 90s, "
	  "30m, 2h or 1h30m, got '2x'" },
	{ "[jobs]\ntimeout = h\n",
	  "t.conf:2: bad value for 'timeout': expected a duration like 90s, "
	  "30m, 2h or 1h30m, got 'h'" },
	{ "[jobs]\ntimeout = 0s\n",
	  "t.conf:2: bad value for 'timeout': expected a duration from 1s to "
	  "604800s, got '0s'" },
	{ "[jobs]\ntimeout = 8d\n",
	  "t.conf:2: bad value for 'timeout': expected a duration from 1s to "
	  "604800s, got '8d'" },
	{ "[hooks]\ntimeout = 25h\n",
	  "t.conf:2: bad value for 'timeout': expected a duration from 1s to "
	  "86400s, got '25h'" },
	/* bool, enum */
	{ "[mail]\nstarttls = maybe\n",
	  "t.conf:2: bad value for 'starttls': expected yes/no, true/false, "
	  "on/off or 1/0, got 'maybe'" },
	{ "[archive]\nplatform = local\n",
	  "t.conf:2: bad value for 'platform': expected other or same, got "
	  "'local'" },
	{ "[window]\nat_end = later\n",
	  "t.conf:2: bad value for 'at_end': expected finish or abort, got "
	  "'later'" },
	/* path */
	{ "[store]\npath = srv/store\n",
	  "t.conf:2: bad value for 'path': expected an absolute path, got "
	  "'srv/store'" },
	{ "[store]\nindex =\n",
	  "t.conf:2: bad value for 'index': must not be empty" },
	{ "[source]\nphp =\n",
	  "t.conf:2: bad value for 'php': must not be empty" },
	/* secret keys never echo their value */
	{ "[mail]\npassword_file = hunter2\n",
	  "t.conf:2: bad value for 'password_file': expected an absolute "
	  "path" },
	{ "[archive]\ntoken_file = abcdef0123\n",
	  "t.conf:2: bad value for 'token_file': expected an absolute path" },
	{ "[source]\ndb_password_file = s3cret\n",
	  "t.conf:2: bad value for 'db_password_file': expected an absolute "
	  "path" },
	/* hours, days, year_start */
	{ "[window]\nhours = 25:00-01:00\n",
	  "t.conf:2: bad value for 'hours': expected HH:MM-HH:MM, e.g. "
	  "20:00-06:30, got '25:00-01:00'" },
	{ "[window]\nhours = 24:00-01:00\n",
	  "t.conf:2: bad value for 'hours': expected HH:MM-HH:MM, e.g. "
	  "20:00-06:30, got '24:00-01:00'" },
	{ "[window]\nhours = 10:0-11:00\n",
	  "t.conf:2: bad value for 'hours': expected HH:MM-HH:MM, e.g. "
	  "20:00-06:30, got '10:0-11:00'" },
	{ "[window]\nhours = 10:00\n",
	  "t.conf:2: bad value for 'hours': expected HH:MM-HH:MM, e.g. "
	  "20:00-06:30, got '10:00'" },
	{ "[window]\nhours = 10:00-10:00\n",
	  "t.conf:2: bad value for 'hours': empty window (00:00-24:00 is the "
	  "whole day), got '10:00-10:00'" },
	{ "[window]\ndays = mon-funday\n",
	  "t.conf:2: bad value for 'days': expected days like mon-fri,sun, "
	  "got 'mon-funday'" },
	{ "[window]\ndays = mon,,tue\n",
	  "t.conf:2: bad value for 'days': expected days like mon-fri,sun, "
	  "got 'mon,,tue'" },
	{ "[window]\ndays =\n",
	  "t.conf:2: bad value for 'days': expected days like mon-fri,sun, "
	  "got ''" },
	{ "[session]\nyear_start = 02-29\n",
	  "t.conf:2: bad value for 'year_start': expected MM-DD, a day every "
	  "year has, e.g. 09-01, got '02-29'" },
	{ "[session]\nyear_start = 13-01\n",
	  "t.conf:2: bad value for 'year_start': expected MM-DD, a day every "
	  "year has, e.g. 09-01, got '13-01'" },
	{ "[session]\nyear_start = 9-1\n",
	  "t.conf:2: bad value for 'year_start': expected MM-DD, a day every "
	  "year has, e.g. 09-01, got '9-1'" },
	/* selectors and patterns */
	{ "[session]\ncategory = id:abc\n",
	  "t.conf:2: bad value for 'category': expected id:N with N a "
	  "category id, got 'id:abc'" },
	{ "[session]\ncategory = id:0\n",
	  "t.conf:2: bad value for 'category': expected id:N with N a "
	  "category id, got 'id:0'" },
	{ "[session]\ncategory = path:/A//B\n",
	  "t.conf:2: bad value for 'category': expected path:/A/B (no empty "
	  "part), got 'path:/A//B'" },
	{ "[session]\ncategory = path:A/B\n",
	  "t.conf:2: bad value for 'category': expected path:/A/B (no empty "
	  "part), got 'path:A/B'" },
	{ "[session]\ncategory = idnumber:S-{X}\n",
	  "t.conf:2: bad value for 'category': only {Y} and {Y+1} may appear "
	  "in braces, got 'idnumber:S-{X}'" },
	{ "[archive]\ntarget = name:Archives\n",
	  "t.conf:2: bad value for 'target': expected id:N, idnumber:X or "
	  "path:/A/B, got 'name:Archives'" },
	{ "[session]\nname = {Y}/{Y+1}\n",
	  "t.conf:2: bad value for 'name': expected a file name: no '/', no "
	  "leading '.', at most 100 characters, got '{Y}/{Y+1}'" },
	{ "[session]\nname = {Y-1}\n",
	  "t.conf:2: bad value for 'name': only {Y} and {Y+1} may appear in "
	  "braces, got '{Y-1}'" },
	/* db */
	{ "[source]\ndb = mysql://u:pw@h/n\n",
	  "t.conf:2: bad value for 'db': no password in the URL: use "
	  "db_password_file, got 'mysql://u:pw@h/n'" },
	{ "[source]\ndb = mysql://h/n\n",
	  "t.conf:2: bad value for 'db': expected mysql://user@host[:port]/name,"
	  " mysql://user@localhost/name?socket=/path, or the same with "
	  "postgresql://, got 'mysql://h/n'" },
	{ "[source]\ndb = pgsql://u@h/n\n",
	  "t.conf:2: bad value for 'db': expected mysql://user@host[:port]/name,"
	  " mysql://user@localhost/name?socket=/path, or the same with "
	  "postgresql://, got "
	  "'pgsql://u@h/n'" },
	{ "[source]\ndb = postgresql://u:pw@h/n\n",
	  "t.conf:2: bad value for 'db': no password in the URL: use "
	  "db_password_file, got 'postgresql://u:pw@h/n'" },
	{ "[source]\ndb = mysql://u@h:0/n\n",
	  "t.conf:2: bad value for 'db': expected mysql://user@host[:port]/name,"
	  " mysql://user@localhost/name?socket=/path, or the same with "
	  "postgresql://, got "
	  "'mysql://u@h:0/n'" },
	{ "[source]\ndb = mysql://u@db1/n?socket=/run/m.sock\n",
	  "t.conf:2: bad value for 'db': expected mysql://user@host[:port]/name,"
	  " mysql://user@localhost/name?socket=/path, or the same with "
	  "postgresql://, got "
	  "'mysql://u@db1/n?socket=/run/m.sock'" },
	{ "[source]\ndb = mysql://u@localhost/n;drop\n",
	  "t.conf:2: bad value for 'db': expected mysql://user@host[:port]/name,"
	  " mysql://user@localhost/name?socket=/path, or the same with "
	  "postgresql://, got "
	  "'mysql://u@localhost/n;drop'" },
	/* other strings */
	{ "[source]\nprefix = MDL_\n",
	  "t.conf:2: bad value for 'prefix': expected [a-z0-9_]+, at most 32 "
	  "characters, got 'MDL_'" },
	{ "[source]\nprefix = mdl-\n",
	  "t.conf:2: bad value for 'prefix': expected [a-z0-9_]+, at most 32 "
	  "characters, got 'mdl-'" },
	{ "[source]\nuser = -rf\n",
	  "t.conf:2: bad value for 'user': expected a system user name, got "
	  "'-rf'" },
	{ "[source]\nurl = ftp://x\n",
	  "t.conf:2: bad value for 'url': expected http(s)://host[:port][/path]"
	  ": unsupported scheme, got 'ftp://x'" },
	{ "[mail]\nurl = http://mail.example.org\n",
	  "t.conf:2: bad value for 'url': expected smtp://host[:port] or "
	  "smtps://: unsupported scheme, got 'http://mail.example.org'" },
	{ "[mail]\nurl = smtp://u:p@mail.example.org\n",
	  "t.conf:2: bad value for 'url': expected smtp://host[:port] or "
	  "smtps://: credentials in the URL (use a *_file key), got "
	  "'smtp://u:p@mail.example.org'" },
	{ "[mail]\nurl = smtp://:25\n",
	  "t.conf:2: bad value for 'url': expected smtp://host[:port] or "
	  "smtps://: missing host, got 'smtp://:25'" },
	{ "[mail]\nurl = smtp://mail:99999\n",
	  "t.conf:2: bad value for 'url': expected smtp://host[:port] or "
	  "smtps://: bad port, got 'smtp://mail:99999'" },
	{ "[mail]\nfrom = not-an-address\n",
	  "t.conf:2: bad value for 'from': expected an address like "
	  "user@example.org, got 'not-an-address'" },
	{ "[mail]\nfrom = Archiver <sa@example.org>\n",
	  "t.conf:2: bad value for 'from': expected an address like "
	  "user@example.org, got 'Archiver <sa@example.org>'" },
	{ "[mail]\nto = a@example.org,,b@example.org\n",
	  "t.conf:2: bad value for 'to': expected addresses like a@example.org"
	  ", b@example.org, got 'a@example.org,,b@example.org'" },
	{ "[mail]\nto = a@example.org,\n",
	  "t.conf:2: bad value for 'to': expected addresses like a@example.org"
	  ", b@example.org, got 'a@example.org,'" },
	{ "[mail]\nevery = 0%\n",
	  "t.conf:2: bad value for 'every': expected a percentage from 1% to "
	  "100%, got '0%'" },
	{ "[mail]\nevery = 101%\n",
	  "t.conf:2: bad value for 'every': expected a percentage from 1% to "
	  "100%, got '101%'" },
	{ "[mail]\nevery = 30s\n",
	  "t.conf:2: bad value for 'every': expected N% or a duration from 1m "
	  "to 7d, e.g. 10% or 30m, got '30s'" },
	{ "[mail]\nusername = a\tb\n",
	  "t.conf:2: bad value for 'username': contains a control character" },
	/* structure */
	{ "[jobs]\nparallel = 2\nthreads = 4\n",
	  "t.conf:3: unknown key 'threads' in [jobs]" },
	{ "[source]\ntarget = id:3\n",
	  "t.conf:2: unknown key 'target' in [source]" },
	{ "# comment\n[jobz]\nparallel = 2\n",
	  "t.conf:2: unknown section [jobz]" },
	{ "[jobs]\n[empty-unknown]\n",
	  "t.conf:2: unknown section [empty-unknown]" },
	{ "parallel = 2\n[jobs]\n",
	  "t.conf:1: key 'parallel' outside a [section]" },
	{ "[jobs]\nparallel = 2\n\nparallel = 3\n",
	  "t.conf:4: duplicate key 'parallel' in [jobs] (first on line 2)" },
	{ "[jobs]\nparallel\n",
	  "t.conf:2: syntax error: expected [section] or key = value" },
	{ "[jobs\nparallel = 2\n",
	  "t.conf:1: syntax error: expected [section] or key = value" },
	/* the first error wins, even when it is a syntax error */
	{ "[jobs]\noops\nparallel = 0\n",
	  "t.conf:2: syntax error: expected [section] or key = value" },
	{ "[jobs]\nparallel = 0\noops\n",
	  "t.conf:2: bad value for 'parallel': expected an integer from 1 to "
	  "64, got '0'" },
};

static void test_bad_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		expect_error(bad_cases[i].text, bad_cases[i].err);
}

static void test_long_line(void **state)
{
	char text[512];

	(void)state;
	snprintf(text, sizeof(text), "[store]\npath = /%0*d\n", 300, 0);
	expect_error(text, "t.conf:2: line longer than 198 bytes");
	/* 198 bytes exactly is fine */
	snprintf(text, sizeof(text), "[store]\npath = /%0*d\n", 198 - 8, 0);
	config_free(load_ok(text));
}

/* ---- command line ----------------------------------------------------- */

static void test_override(void **state)
{
	struct config *cfg;
	char err[512];

	(void)state;
	cfg = load_ok("[jobs]\nparallel = 4\ntimeout = 2h\n[mail]\n"
		      "to = a@example.org\n");
	assert_int_equal(cfg->jobs.parallel, 4);
	assert_int_equal(config_set(cfg, "jobs.parallel", "16", err,
				    sizeof(err)),
			 0);
	assert_int_equal(cfg->jobs.parallel, 16);
	assert_int_equal(cfg->jobs.timeout, 7200); /* file */
	assert_int_equal(cfg->window.days_mask, CONFIG_DAYS_ALL); /* default */
	assert_int_equal(config_set(cfg, "mail.to", "x@example.org,y@b.org",
				    err, sizeof(err)),
			 0);
	assert_int_equal(cfg->mail.n_to, 2);
	assert_string_equal(cfg->mail.to[1], "y@b.org");
	assert_int_equal(config_set(cfg, "window.hours", "20:00-06:00", err,
				    sizeof(err)),
			 0);
	assert_int_equal(cfg->window.start_min, 1200);
	assert_int_equal(config_set(cfg, "source.db",
				    "mysql://u@localhost/m?socket=/s", err,
				    sizeof(err)),
			 0);
	assert_int_equal(config_set(cfg, "source.db", "mysql://v@h:1/n", err,
				    sizeof(err)),
			 0);
	assert_string_equal(cfg->source.db.user, "v");
	assert_null(cfg->source.db.socket);

	assert_int_equal(config_set(cfg, "jobs.parallel", "100", err,
				    sizeof(err)),
			 -1);
	assert_string_equal(err, "bad value for 'jobs.parallel': expected an "
				 "integer from 1 to 64, got '100'");
	assert_int_equal(cfg->jobs.parallel, 16); /* unchanged */
	assert_int_equal(config_set(cfg, "jobs.threads", "1", err,
				    sizeof(err)),
			 -1);
	assert_string_equal(err, "unknown key 'jobs.threads'");
	assert_int_equal(config_set(cfg, "parallel", "1", err, sizeof(err)),
			 -1);
	assert_string_equal(err, "unknown key 'parallel'");
	assert_int_equal(config_set(cfg, "source.target", "id:1", err,
				    sizeof(err)),
			 -1);
	assert_int_equal(config_set(cfg, "mail.password_file", "hunter2", err,
				    sizeof(err)),
			 -1);
	assert_string_equal(err, "bad value for 'mail.password_file': "
				 "expected an absolute path");
	assert_int_equal(config_set(cfg, "mail.username", "a\nb", err,
				    sizeof(err)),
			 -1);
	config_free(cfg);
}

static void test_check(void **state)
{
	struct config *cfg;
	char err[512];

	(void)state;
	cfg = load_ok("[mail]\nurl = smtp://mail.example.org\n");
	assert_int_equal(config_check(cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "[mail] url is set but 'from' is missing");
	assert_int_equal(config_set(cfg, "mail.from", "a@b.org", err,
				    sizeof(err)),
			 0);
	assert_int_equal(config_check(cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "[mail] url is set but 'to' is missing");
	config_set(cfg, "mail.to", "c@d.org", err, sizeof(err));
	assert_int_equal(config_check(cfg, err, sizeof(err)), 0);
	config_set(cfg, "mail.username", "u", err, sizeof(err));
	assert_int_equal(config_check(cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "[mail] username needs password_file");
	config_set(cfg, "mail.password_file", "/p", err, sizeof(err));
	assert_int_equal(config_check(cfg, err, sizeof(err)), 0);
	config_set(cfg, "mail.starttls", "no", err, sizeof(err));
	assert_int_equal(config_check(cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "[mail] refusing to send the password "
				 "unencrypted: set starttls = yes or use "
				 "smtps://");
	config_free(cfg);
}

/*
 * [archive] platform = same: the archive is [source]; a connection of its
 * own is refused by name, the same values repeated are not, and the check
 * copies [source]'s connection (twice: the same result).
 */
static void test_same_platform(void **state)
{
	static const char base[] =
		"[source]\n"
		"moodle = /var/www/moodle\n"
		"php = /usr/bin/php8.2\n"
		"user = www-data\n"
		"db = mysql://moodle@db.example.org:3307/moodle_prod\n"
		"db_password_file = /etc/sa/db.pw\n"
		"prefix = mdl_\n"
		"[archive]\n"
		"platform = same\n"
		"target = idnumber:ARCH\n";
	static const struct {
		const char *line, *key;
	} own[] = {
		{ "moodle = /var/www/archive\n", "moodle" },
		{ "db = mysql://moodle@db.example.org:3308/moodle_prod\n",
		  "db" },
		{ "db = mysql://other@db.example.org:3307/moodle_prod\n",
		  "db" },
		{ "url = https://archive.example.org/\n", "url" },
		{ "site = 0123456789abcdef0123456789abcdef\n", "site" },
		{ "token_file = /etc/sa/t\n", "token_file" },
		{ "db_password_file = /etc/sa/other.pw\n",
		  "db_password_file" },
		{ "prefix = arch_\n", "prefix" },
		{ "user = moodle\n", "user" },
	};
	struct config *cfg;
	char err[512], text[1024], want[256];

	(void)state;
	cfg = load_ok("[archive]\nmoodle = /a\n");
	assert_false(config_same_platform(cfg));
	config_free(cfg);
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", base, own[i].line);
		cfg = load_ok(text);
		assert_true(config_same_platform(cfg));
		assert_int_equal(config_check(cfg, err, sizeof(err)), -1);
		snprintf(want, sizeof(want),
			 "[archive] platform = same: the archive platform is "
			 "the [source] one, so [archive] %s must not name "
			 "another",
			 own[i].key);
		assert_string_equal(err, want);
		config_free(cfg);
	}
	snprintf(text, sizeof(text), "%smoodle = /var/www/moodle\n"
		 "prefix = mdl_\n", base);
	cfg = load_ok(text);
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(config_check(cfg, err, sizeof(err)), 0);
		assert_string_equal(cfg->archive.moodle, "/var/www/moodle");
		assert_string_equal(cfg->archive.php, "/usr/bin/php8.2");
		assert_string_equal(cfg->archive.user, "www-data");
		assert_true(cfg->archive.db.set);
		assert_string_equal(cfg->archive.db.user, "moodle");
		assert_string_equal(cfg->archive.db.host, "db.example.org");
		assert_int_equal(cfg->archive.db.port, 3307);
		assert_string_equal(cfg->archive.db.name, "moodle_prod");
		assert_null(cfg->archive.db.socket);
		assert_string_equal(cfg->archive.db_password_file,
				    "/etc/sa/db.pw");
		assert_string_equal(cfg->archive.prefix, "mdl_");
		assert_null(cfg->archive.url);
		assert_int_equal(cfg->archive.target.kind,
				 CONFIG_SEL_IDNUMBER);
	}
	config_free(cfg);
}

/* The database URL names its server: MySQL/MariaDB or PostgreSQL. */
static void test_db_urls(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("[source]\ndb = mysql://moodle@db1:3307/moodle\n"
		      "[archive]\ndb = postgresql://arch@pg.example.org:6432/"
		      "moodle_arch\n");
	assert_int_equal(cfg->source.db.kind, CONFIG_DB_MYSQL);
	assert_int_equal(cfg->archive.db.kind, CONFIG_DB_POSTGRESQL);
	assert_string_equal(cfg->archive.db.user, "arch");
	assert_string_equal(cfg->archive.db.host, "pg.example.org");
	assert_int_equal(cfg->archive.db.port, 6432);
	assert_string_equal(cfg->archive.db.name, "moodle_arch");
	config_free(cfg);
	cfg = load_ok("[source]\ndb = postgres://moodle@localhost/moodle"
		      "?socket=/var/run/postgresql\n");
	assert_int_equal(cfg->source.db.kind, CONFIG_DB_POSTGRESQL);
	assert_string_equal(cfg->source.db.socket, "/var/run/postgresql");
	assert_int_equal(cfg->source.db.port, 0);
	config_free(cfg);
}

/* ---- numbers ---------------------------------------------------------- */

static void test_numbers(void **state)
{
	unsigned long long v;
	unsigned s;

	(void)state;
	assert_int_equal(config_parse_uint("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_uint("18446744073709551615", 0,
					   UINT64_MAX, &v),
			 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(config_parse_uint("18446744073709551616", 0,
					   UINT64_MAX, &v),
			 -1);
	assert_int_equal(config_parse_uint("", 0, 10, &v), -1);
	assert_int_equal(config_parse_uint(" 1", 0, 10, &v), -1);
	assert_int_equal(config_parse_uint("1 ", 0, 10, &v), -1);
	assert_int_equal(config_parse_uint("-0", 0, 10, &v), -1);
	assert_int_equal(config_parse_uint("0x1", 0, 10, &v), -1);
	assert_int_equal(config_parse_uint("11", 0, 10, &v), -1);
	assert_int_equal(config_parse_uint("4", 5, 10, &v), -1);

	assert_int_equal(config_parse_duration("90s", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(config_parse_duration("30m", &s), 0);
	assert_int_equal(s, 1800);
	assert_int_equal(config_parse_duration("2h", &s), 0);
	assert_int_equal(s, 7200);
	assert_int_equal(config_parse_duration("1d2h3m4s", &s), 0);
	assert_int_equal(s, 86400 + 7200 + 180 + 4);
	assert_int_equal(config_parse_duration("365d", &s), 0);
	assert_int_equal(config_parse_duration("366d", &s), -1);
	assert_int_equal(config_parse_duration("99999999999h", &s), -1);
	assert_int_equal(config_parse_duration("", &s), -1);
	assert_int_equal(config_parse_duration("10", &s), -1);
	assert_int_equal(config_parse_duration("1h 30m", &s), -1);
	assert_int_equal(config_parse_duration("-1s", &s), -1);
	assert_int_equal(config_parse_duration("1w", &s), -1);
}

/* ---- files and secrets ------------------------------------------------ */

static void test_load_file(void **state)
{
	static const char *const names[] = { "sa.conf", "pw", "plain.conf",
					     NULL };
	struct tmpdir t;
	struct config *cfg;
	char text[512], err[512], want[1024];
	char *conf, *pw, *plain;

	(void)state;
	tmpdir_make(&t);
	conf = tmpdir_file(&t, "sa.conf");
	pw = tmpdir_file(&t, "pw");
	plain = tmpdir_file(&t, "plain.conf");
	snprintf(text, sizeof(text),
		 "[mail]\nusername = u\npassword_file = %s\n", pw);
	write_file(pw, "secret\n", 0600);

	/* 0600 config naming a 0600 secret: fine */
	write_file(conf, text, 0600);
	cfg = config_new();
	assert_int_equal(config_load_file(cfg, conf, err, sizeof(err)), 0);
	assert_string_equal(cfg->mail.password_file, pw);
	config_free(cfg);

	/* the same config readable by others: refused */
	assert_int_equal(chmod(conf, 0644), 0);
	cfg = config_new();
	assert_int_equal(config_load_file(cfg, conf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s: names a secret file ('password_file' in [mail]) and is "
		 "accessible by group or others (mode 0644): chmod 600 it",
		 conf);
	assert_string_equal(err, want);
	config_free(cfg);

	/* a 0600 config naming a group-readable secret: refused */
	assert_int_equal(chmod(conf, 0600), 0);
	assert_int_equal(chmod(pw, 0640), 0);
	cfg = config_new();
	assert_int_equal(config_load_file(cfg, conf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s:3: secret file '%s' is accessible by group or others "
		 "(mode 0640): chmod 600 it",
		 conf, pw);
	assert_string_equal(err, want);
	config_free(cfg);

	/* a secret file missing here (the other platform's) is no error */
	unlink(pw);
	cfg = config_new();
	assert_int_equal(config_load_file(cfg, conf, err, sizeof(err)), 0);
	config_free(cfg);

	/* a config without secrets may be world-readable */
	write_file(plain, "[jobs]\nparallel = 2\n", 0644);
	cfg = config_new();
	assert_int_equal(config_load_file(cfg, plain, err, sizeof(err)), 0);
	assert_int_equal(cfg->jobs.parallel, 2);
	config_free(cfg);

	/* errors carry the file name */
	write_file(plain, "[jobs]\nparallel = 2\nbogus = 1\n", 0644);
	cfg = config_new();
	assert_int_equal(config_load_file(cfg, plain, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: unknown key 'bogus' in [jobs]",
		 plain);
	assert_string_equal(err, want);
	config_free(cfg);

	cfg = config_new();
	assert_int_equal(config_load_file(cfg, "/nonexistent/sa.conf", err,
					  sizeof(err)),
			 -1);
	assert_string_equal(err, "cannot open '/nonexistent/sa.conf': No such "
				 "file or directory");
	assert_int_equal(config_load_file(cfg, "/tmp", err, sizeof(err)), -1);
	assert_string_equal(err, "cannot read '/tmp': not a regular file");
	config_free(cfg);
	tmpdir_remove(&t, names);
}

static void test_read_secret(void **state)
{
	static const char *const names[] = { "s", NULL };
	struct tmpdir t;
	char err[512], want[1024], *secret, *path, *big;

	(void)state;
	tmpdir_make(&t);
	path = tmpdir_file(&t, "s");

	write_file(path, "p@ss word\r\nsecond line\n", 0600);
	assert_int_equal(config_read_secret(path, &secret, err, sizeof(err)),
			 0);
	assert_string_equal(secret, "p@ss word");
	explicit_bzero(secret, strlen(secret));
	free(secret);

	write_file(path, "no newline", 0400);
	assert_int_equal(config_read_secret(path, &secret, err, sizeof(err)),
			 0);
	assert_string_equal(secret, "no newline");
	free(secret);

	write_file(path, "hunter2\n", 0644);
	assert_int_equal(config_read_secret(path, &secret, err, sizeof(err)),
			 -1);
	assert_null(secret);
	snprintf(want, sizeof(want),
		 "secret file '%s' is accessible by group or others (mode "
		 "0644): chmod 600 it",
		 path);
	assert_string_equal(err, want);
	assert_null(strstr(err, "hunter2"));

	write_file(path, "\nafter an empty line\n", 0600);
	assert_int_equal(config_read_secret(path, &secret, err, sizeof(err)),
			 -1);
	snprintf(want, sizeof(want), "secret file '%s' is empty", path);
	assert_string_equal(err, want);

	big = malloc(CONFIG_SECRET_MAX + 3);
	memset(big, 'x', CONFIG_SECRET_MAX);
	strcpy(big + CONFIG_SECRET_MAX, "\n");
	write_file(path, big, 0600);
	assert_int_equal(config_read_secret(path, &secret, err, sizeof(err)),
			 0);
	assert_int_equal(strlen(secret), CONFIG_SECRET_MAX);
	free(secret);
	strcpy(big + CONFIG_SECRET_MAX, "y");
	write_file(path, big, 0600);
	assert_int_equal(config_read_secret(path, &secret, err, sizeof(err)),
			 -1);
	snprintf(want, sizeof(want),
		 "secret file '%s': first line longer than 4096 bytes", path);
	assert_string_equal(err, want);
	free(big);

	unlink(path);
	assert_int_equal(config_read_secret(path, &secret, err, sizeof(err)),
			 -1);
	snprintf(want, sizeof(want),
		 "cannot open secret file '%s': No such file or directory",
		 path);
	assert_string_equal(err, want);
	assert_int_equal(config_read_secret("/tmp", &secret, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "secret file '/tmp' is not a regular file");
	tmpdir_remove(&t, names);
}

static const char *const all_keys[] = {
	"path", "index", "moodle", "php", "user", "db", "db_password_file",
	"prefix", "site", "url", "token_file", "target", "year_start",
	"category", "name", "hours", "days", "at_end", "parallel", "timeout",
	"from", "to", "every", "username", "password_file", "starttls",
	"pre_backup", "post_restore",
};

/* The shipped example: every key, and it must load. */
static void test_example(void **state)
{
	const char *src = getenv("SA_SOURCE_DIR");
	char path[1024], err[1024];
	struct config *cfg;
	FILE *f;
	char *text;
	long n;

	(void)state;
	if (src)
		snprintf(path, sizeof(path), "%s/examples/sessionarchiver.conf",
			 src);
	else
		snprintf(path, sizeof(path),
			 "%.*s/../../examples/sessionarchiver.conf",
			 (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
	f = fopen(path, "r");
	if (!f) {
		/* __FILE__ is relative to the repo when built by make */
		snprintf(path, sizeof(path), "examples/sessionarchiver.conf");
		f = fopen(path, "r");
	}
	if (!f)
		fail_msg("cannot open the example config (set SA_SOURCE_DIR)");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);

	/* as a string: the checked-out mode of the file is not ours to test */
	cfg = config_new();
	if (config_load_string(cfg, text, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(config_check(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->store.path, "/srv/moodle-archive");
	assert_int_equal(cfg->jobs.parallel, 4);
	assert_int_equal(cfg->mail.n_to, 2);
	assert_int_equal(cfg->archive.target.kind, CONFIG_SEL_PATH);
	assert_string_equal(cfg->archive.db.socket,
			    "/run/mysqld/mysqld.sock");
	assert_int_equal(cfg->window.days_mask, 0x3f);
	/* every key name appears, uncommented, in the example */
	for (size_t i = 0; i < sizeof(all_keys) / sizeof(all_keys[0]); i++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "\n%s = ", all_keys[i]);
		if (!strstr(text, needle))
			fail_msg("key '%s' missing from %s", all_keys[i],
				 path);
	}
	config_free(cfg);
	free(text);
}

/* ---- window ----------------------------------------------------------- */

static struct config_window window(const char *hours, const char *days)
{
	struct config *cfg = config_new();
	struct config_window w;
	char err[256];

	assert_int_equal(config_set(cfg, "window.hours", hours, err,
				    sizeof(err)),
			 0);
	assert_int_equal(config_set(cfg, "window.days", days, err,
				    sizeof(err)),
			 0);
	w = cfg->window;
	config_free(cfg);
	return w;
}

static void test_window_overnight(void **state)
{
	/* opens Friday 22:00 only, closes Saturday 06:00 */
	struct config_window w = window("22:00-06:00", "fri");

	(void)state;
	assert_true(config_window_contains(&w, local(2026, 11, 27, 22, 0)));
	assert_true(config_window_contains(&w, local(2026, 11, 27, 23, 59)));
	assert_true(config_window_contains(&w, local(2026, 11, 28, 0, 0)));
	assert_true(config_window_contains(&w, local(2026, 11, 28, 5, 59)));
	assert_false(config_window_contains(&w, local(2026, 11, 28, 6, 0)));
	assert_false(config_window_contains(&w, local(2026, 11, 28, 23, 0)));
	assert_false(config_window_contains(&w, local(2026, 11, 27, 21, 59)));
	/* Friday early morning belongs to Thursday's night: closed */
	assert_false(config_window_contains(&w, local(2026, 11, 27, 5, 0)));
	assert_false(config_window_contains(&w, local(2026, 11, 26, 23, 0)));

	assert_true(config_window_next_open(&w, local(2026, 11, 27, 21, 0)) ==
		    local(2026, 11, 27, 22, 0));
	assert_true(config_window_next_open(&w, local(2026, 11, 27, 23, 0)) ==
		    local(2026, 11, 27, 23, 0));
	assert_true(config_window_next_open(&w, local(2026, 11, 28, 7, 0)) ==
		    local(2026, 12, 4, 22, 0));
	assert_true(config_window_next_open(&w, local(2026, 11, 28, 6, 0)) ==
		    local(2026, 12, 4, 22, 0));
	assert_true(config_window_next_close(&w, local(2026, 11, 27, 23, 0)) ==
		    local(2026, 11, 28, 6, 0));
	assert_true(config_window_next_close(&w, local(2026, 11, 28, 3, 0)) ==
		    local(2026, 11, 28, 6, 0));
	assert_true(config_window_next_close(&w, local(2026, 11, 28, 7, 0)) ==
		    (time_t)-1);
}

static void test_window_days(void **state)
{
	struct config_window w = window("08:00-18:00", "mon-fri");
	struct config_window all = window("00:00-24:00", "mon-sun");
	struct config_window weekdays = window("00:00-24:00", "mon-fri");
	struct config_window nightly = window("20:00-06:30", "mon-sun");
	struct config_window none = w;

	(void)state;
	/* 2026-11-26 is a Thursday */
	assert_true(config_window_contains(&w, local(2026, 11, 26, 8, 0)));
	assert_true(config_window_contains(&w, local(2026, 11, 26, 17, 59)));
	assert_false(config_window_contains(&w, local(2026, 11, 26, 18, 0)));
	assert_false(config_window_contains(&w, local(2026, 11, 28, 10, 0)));
	assert_false(config_window_contains(&w, local(2026, 11, 29, 10, 0)));
	assert_true(config_window_next_open(&w, local(2026, 11, 27, 18, 30)) ==
		    local(2026, 11, 30, 8, 0));
	assert_true(config_window_next_open(&w, local(2026, 11, 26, 7, 0)) ==
		    local(2026, 11, 26, 8, 0));
	assert_true(config_window_next_close(&w, local(2026, 11, 26, 9, 0)) ==
		    local(2026, 11, 26, 18, 0));

	assert_true(config_window_contains(&all, local(2026, 11, 29, 23, 59)));
	assert_true(config_window_next_close(&all,
					     local(2026, 11, 29, 12, 0)) ==
		    (time_t)-1);
	assert_true(config_window_next_close(&weekdays,
					     local(2026, 11, 23, 10, 0)) ==
		    local(2026, 11, 28, 0, 0));
	assert_true(config_window_next_open(&weekdays,
					    local(2026, 11, 28, 10, 0)) ==
		    local(2026, 11, 30, 0, 0));
	/* back-to-back nights still close in the morning */
	assert_true(config_window_next_close(&nightly,
					     local(2026, 11, 26, 23, 0)) ==
		    local(2026, 11, 27, 6, 30));
	assert_true(config_window_next_close(&nightly,
					     local(2026, 11, 27, 2, 0)) ==
		    local(2026, 11, 27, 6, 30));

	none.days_mask = 0;
	assert_false(config_window_contains(&none, local(2026, 11, 26, 9, 0)));
	assert_true(config_window_next_open(&none, local(2026, 11, 26, 9, 0)) ==
		    (time_t)-1);
}

static void test_window_dst(void **state)
{
	struct config_window w = window("02:30-04:00", "sun");
	time_t t;

	(void)state;
	if (access("/usr/share/zoneinfo/Europe/Paris", R_OK) != 0)
		skip();
	setenv("TZ", "Europe/Paris", 1);
	tzset();
	/* 2026-03-29 02:30 does not exist in Paris: the window opens at
	 * 03:30 summer time, the same instant as 02:30 winter time would */
	t = config_window_next_open(&w, local(2026, 3, 28, 12, 0));
	assert_true(t > local(2026, 3, 28, 12, 0));
	assert_true(t <= local(2026, 3, 29, 4, 0));
	assert_true(config_window_contains(&w, t));
	assert_true(config_window_next_close(&w, t) ==
		    local(2026, 3, 29, 4, 0));
	setenv("TZ", "UTC", 1);
	tzset();
}

/* ---- session ---------------------------------------------------------- */

static void expect_session(struct config *cfg, time_t now, const char *want)
{
	char out[64];

	assert_int_equal(config_session_name_for(cfg, now, out, sizeof(out)),
			 0);
	assert_string_equal(out, want);
}

static void test_session_name(void **state)
{
	struct config *cfg = config_new();
	char out[16], err[256];

	(void)state;
	expect_session(cfg, local(2026, 11, 26, 12, 0), "2025-2026");
	expect_session(cfg, local(2026, 8, 31, 23, 59), "2024-2025");
	expect_session(cfg, local(2026, 9, 1, 0, 0), "2025-2026");
	expect_session(cfg, local(2026, 9, 2, 0, 0), "2025-2026");
	expect_session(cfg, local(2027, 1, 15, 9, 0), "2025-2026");
	expect_session(cfg, local(2027, 8, 31, 9, 0), "2025-2026");
	expect_session(cfg, local(2027, 9, 1, 9, 0), "2026-2027");
	assert_int_equal(config_session_year(cfg, local(2026, 11, 26, 0, 0)),
			 2025);

	assert_int_equal(config_set(cfg, "session.year_start", "01-01", err,
				    sizeof(err)),
			 0);
	assert_int_equal(config_set(cfg, "session.name", "Y{Y}", err,
				    sizeof(err)),
			 0);
	expect_session(cfg, local(2026, 3, 1, 0, 0), "Y2025");
	expect_session(cfg, local(2026, 1, 1, 0, 0), "Y2025");
	expect_session(cfg, local(2025, 12, 31, 23, 59), "Y2024");

	config_set(cfg, "session.name", "{Y}-{Y+1}", err, sizeof(err));
	assert_int_equal(config_session_name_for(cfg, local(2026, 3, 1, 0, 0),
						 out, 9),
			 -1);
	assert_int_equal(config_session_name_for(cfg, local(2026, 3, 1, 0, 0),
						 out, 10),
			 0);
	assert_int_equal(config_pattern_expand("path:/Archives/{Y}-{Y+1}/x",
					       2025, out, sizeof(out)),
			 -1);
	assert_int_equal(config_pattern_expand("/A/{Y}/{Y+1}", 2025, out,
					       sizeof(out)),
			 0);
	assert_string_equal(out, "/A/2025/2026");
	assert_int_equal(config_pattern_expand("{Z}", 2025, out, sizeof(out)),
			 -1);
	assert_int_equal(config_pattern_expand("", 2025, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_value_forms),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_read_secret),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_window_overnight),
		cmocka_unit_test(test_window_days),
		cmocka_unit_test(test_window_dst),
		cmocka_unit_test(test_session_name),
		cmocka_unit_test(test_same_platform),
		cmocka_unit_test(test_db_urls),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
