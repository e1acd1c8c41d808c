/*
 * config: reads sessionarchiver.conf into struct config.
 *
 * Everything a key needs is one row of keys[]: its section, name, type, the
 * field it fills and the parser that checks and converts the value. The
 * file, the command line (config_set) and config_free() all walk that one
 * table, so a new key is one row plus its field. inih splits the text into
 * lines; our own line reader feeds it so that we know the line number of
 * every key, can refuse over-long lines instead of having inih split them,
 * and can strip leading blanks so that inih never glues an indented line
 * onto the previous value. Parsing stops at the first error.
 */
#include "config.h"
#include "config_values.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"
#include "xalloc.h"

#define CONFIG_FILE_MAX (1024 * 1024)
/* command-line values are not bounded by inih's line length */
#define VALUE_MAX 1024
#define DURATION_MAX (365u * 24 * 3600)

static int parse_string(const struct key_def *, void *, const char *, char *,
			size_t);
static int parse_path(const struct key_def *, void *, const char *, char *,
		      size_t);
static int parse_bool(const struct key_def *, void *, const char *, char *,
		      size_t);
static int parse_uint(const struct key_def *, void *, const char *, char *,
		      size_t);
static int parse_duration(const struct key_def *, void *, const char *,
			  char *, size_t);
static int parse_enum(const struct key_def *, void *, const char *, char *,
		      size_t);
static int parse_selector(const struct key_def *, void *, const char *,
			  char *, size_t);
static int parse_prefix(const struct key_def *, void *, const char *, char *,
			size_t);
static int parse_sysuser(const struct key_def *, void *, const char *, char *,
			 size_t);
static int parse_site(const struct key_def *, void *, const char *, char *,
		      size_t);
static int parse_every(const struct key_def *, void *, const char *, char *,
		       size_t);
static int parse_hours(const struct key_def *, void *, const char *, char *,
		       size_t);
static int parse_days(const struct key_def *, void *, const char *, char *,
		      size_t);
static int parse_monthday(const struct key_def *, void *, const char *,
			  char *, size_t);
static int parse_name_pattern(const struct key_def *, void *, const char *,
			      char *, size_t);
static int parse_host_name(const struct key_def *, void *, const char *,
			   char *, size_t);

static const char *const at_end_names[] = { "finish", "abort", NULL };
_Static_assert(sizeof(enum config_at_end) == sizeof(int),
	       "parse_enum stores an int");
static const char *const runner_names[] = { "worker", "cli", NULL };
static const char *const platform_mode_names[] = { "other", "same", NULL };
_Static_assert(sizeof(enum config_platform_mode) == sizeof(int),
	       "parse_enum stores an int");
_Static_assert(sizeof(enum config_runner) == sizeof(int),
	       "parse_enum stores an int");

#define K(sec, name, t, field, fn)                                      \
	.section = (sec), .key = (name), .type = (t),                  \
	.offset = offsetof(struct config, field), .parse = (fn)

#define PLATFORM_KEYS(sec, p)                                           \
	{ K(sec, "moodle", KT_PATH, p.moodle, parse_path) },            \
	{ K(sec, "php", KT_PATH, p.php, parse_path), .flags = F_NONEMPTY }, \
	{ K(sec, "user", KT_STRING, p.user, parse_sysuser) },           \
	{ K(sec, "db", KT_DB, p.db, parse_db) },                        \
	{ K(sec, "db_password_file", KT_PATH, p.db_password_file,       \
	    parse_path), .flags = F_SECRET },                           \
	{ K(sec, "prefix", KT_STRING, p.prefix, parse_prefix) },        \
	{ K(sec, "site", KT_STRING, p.site, parse_site) },              \
	{ K(sec, "url", KT_STRING, p.url, parse_http_url) },            \
	{ K(sec, "token_file", KT_PATH, p.token_file, parse_path),      \
	  .flags = F_SECRET }

static const struct key_def keys[] = {
	{ K("store", "path", KT_PATH, store.path, parse_path) },
	{ K("store", "index", KT_PATH, store.index, parse_path),
	  .flags = F_NONEMPTY },
	{ K("store", "host", KT_STRING, store.host, parse_host_name) },
	{ K("store", "lease_grace", KT_DURATION, store.lease_grace,
	    parse_duration), .min = 10, .max = 24 * 3600 },
	PLATFORM_KEYS("source", source),
	PLATFORM_KEYS("archive", archive),
	{ K("archive", "target", KT_SELECTOR, archive.target,
	    parse_selector) },
	{ K("archive", "platform", KT_ENUM, archive.mode, parse_enum),
	  .names = platform_mode_names },
	{ K("session", "year_start", KT_MONTHDAY, session, parse_monthday) },
	{ K("session", "category", KT_SELECTOR, session.category,
	    parse_selector), .flags = F_PATTERN },
	{ K("session", "name", KT_STRING, session.name, parse_name_pattern),
	  .flags = F_NONEMPTY | F_PATTERN },
	{ K("window", "hours", KT_HOURS, window, parse_hours) },
	{ K("window", "days", KT_DAYS, window.days_mask, parse_days) },
	{ K("window", "at_end", KT_ENUM, window.at_end, parse_enum),
	  .names = at_end_names },
	{ K("jobs", "parallel", KT_UINT, jobs.parallel, parse_uint),
	  .min = 1, .max = 64 },
	{ K("jobs", "timeout", KT_DURATION, jobs.timeout, parse_duration),
	  .min = 1, .max = 7 * 24 * 3600 },
	{ K("jobs", "stop_after", KT_UINT, jobs.stop_after, parse_uint),
	  .min = 1, .max = 1000 },
	{ K("jobs", "share", KT_BOOL, jobs.share, parse_bool) },
	{ K("jobs", "runner", KT_ENUM, jobs.runner, parse_enum),
	  .names = runner_names },
	{ K("jobs", "worker_courses", KT_UINT, jobs.worker_courses,
	    parse_uint), .min = 1, .max = 1000000 },
	{ K("jobs", "worker_memory", KT_UINT, jobs.worker_memory, parse_uint),
	  .min = 64, .max = 1024 * 1024 },
	{ K("mail", "url", KT_STRING, mail.url, parse_smtp_url) },
	{ K("mail", "from", KT_STRING, mail.from, parse_address) },
	{ K("mail", "to", KT_ADDRS, mail, parse_addrs) },
	{ K("mail", "every", KT_EVERY, mail, parse_every) },
	{ K("mail", "username", KT_STRING, mail.username, parse_string) },
	{ K("mail", "password_file", KT_PATH, mail.password_file,
	    parse_path), .flags = F_SECRET },
	{ K("mail", "starttls", KT_BOOL, mail.starttls, parse_bool) },
	{ K("hooks", "pre_backup", KT_PATH, hooks.pre_backup, parse_path) },
	{ K("hooks", "post_restore", KT_PATH, hooks.post_restore,
	    parse_path) },
	{ K("hooks", "timeout", KT_DURATION, hooks.timeout, parse_duration),
	  .min = 1, .max = 24 * 3600 },
	{ K("purge", "recyclebin", KT_BOOL, purge.recyclebin, parse_bool) },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {
	"store", "source", "archive", "session", "window", "jobs", "mail",
	"hooks", "purge",
};

/* ---- small helpers ---------------------------------------------------- */

static void *field_of(const struct key_def *def, struct config *cfg)
{
	return (char *)cfg + def->offset;
}

static const struct key_def *find_key(const char *section, const char *key)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (!strcmp(keys[i].section, section) &&
		    !strcmp(keys[i].key, key))
			return &keys[i];
	return NULL;
}

static bool section_known(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strlen(sections[i]) == len &&
		    !memcmp(sections[i], name, len))
			return true;
	return false;
}

int cfg_bad(const struct key_def *def, const char *value, char *why,
	    size_t whylen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	if (value && n >= 0 && (size_t)n < whylen &&
	    !(def->flags & F_SECRET))
		snprintf(why + n, whylen - (size_t)n, ", got '%s'", value);
	return -1;
}

void cfg_free_field(const struct key_def *def, void *field)
{
	switch (def->type) {
	case KT_STRING:
	case KT_PATH:
		free(*(char **)field);
		*(char **)field = NULL;
		break;
	case KT_DB:
		cfg_free_db(field);
		break;
	case KT_SELECTOR: {
		struct config_selector *sel = field;
		free(sel->value);
		sel->value = NULL;
		sel->kind = CONFIG_SEL_NONE;
		sel->id = 0;
		break;
	}
	case KT_ADDRS:
		cfg_free_addrs(field);
		break;
	default:
		break;
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

void cfg_trim(const char **s, size_t *n)
{
	while (*n > 0 && is_blank(**s))
		(*s)++, (*n)--;
	while (*n > 0 && is_blank((*s)[*n - 1]))
		(*n)--;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int cfg_uint_n(const char *s, size_t n, unsigned long long min,
	       unsigned long long max, unsigned long long *out)
{
	char buf[24];
	unsigned long long v;
	char *end;

	/* strtoull alone would take blanks, a sign and an empty string */
	if (n == 0 || n >= sizeof(buf))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int config_parse_uint(const char *s, unsigned long long min,
		      unsigned long long max, unsigned long long *out)
{
	return cfg_uint_n(s, strlen(s), min, max, out);
}

int config_parse_duration(const char *s, unsigned *seconds)
{
	unsigned long long total = 0, v, unit;
	const char *p = s;

	if (*p == '\0')
		return -1;
	while (*p) {
		size_t n = strspn(p, "0123456789");

		if (cfg_uint_n(p, n, 0, DURATION_MAX, &v) < 0)
			return -1;
		switch (p[n]) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default: return -1;
		}
		total += v * unit;
		if (total > DURATION_MAX)
			return -1;
		p += n + 1;
	}
	*seconds = (unsigned)total;
	return 0;
}

/* Checks that braces hold only {Y} or {Y+1}. */
static bool pattern_ok(const char *s)
{
	for (; *s; s++) {
		if (*s == '{') {
			if (!strncmp(s, "{Y}", 3))
				s += 2;
			else if (!strncmp(s, "{Y+1}", 5))
				s += 4;
			else
				return false;
		} else if (*s == '}') {
			return false;
		}
	}
	return true;
}

/* ---- value parsers ---------------------------------------------------- */

void cfg_set_string(void *field, const char *value)
{
	free(*(char **)field);
	*(char **)field = *value ? xstrdup(value) : NULL;
}

static int parse_string(const struct key_def *def, void *field,
			const char *value, char *why, size_t whylen)
{
	(void)def, (void)why, (void)whylen;
	cfg_set_string(field, value);
	return 0;
}

static int parse_path(const struct key_def *def, void *field,
		      const char *value, char *why, size_t whylen)
{
	if (*value && *value != '/')
		return cfg_bad(def, value, why, whylen,
			   "expected an absolute path");
	cfg_set_string(field, value);
	return 0;
}

static int parse_bool(const struct key_def *def, void *field,
		      const char *value, char *why, size_t whylen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(value, yes[i])) {
			*(bool *)field = true;
			return 0;
		}
		if (!strcasecmp(value, no[i])) {
			*(bool *)field = false;
			return 0;
		}
	}
	return cfg_bad(def, value, why, whylen,
		   "expected yes/no, true/false, on/off or 1/0");
}

static int parse_uint(const struct key_def *def, void *field,
		      const char *value, char *why, size_t whylen)
{
	unsigned long long v;

	if (config_parse_uint(value, def->min, def->max, &v) < 0)
		return cfg_bad(def, value, why, whylen,
			   "expected an integer from %llu to %llu", def->min,
			   def->max);
	*(unsigned *)field = (unsigned)v;
	return 0;
}

static int parse_duration(const struct key_def *def, void *field,
			  const char *value, char *why, size_t whylen)
{
	unsigned v;

	if (config_parse_duration(value, &v) < 0)
		return cfg_bad(def, value, why, whylen,
			   "expected a duration like 90s, 30m, 2h or 1h30m");
	if (v < def->min || v > def->max)
		return cfg_bad(def, value, why, whylen,
			   "expected a duration from %llus to %llus",
			   def->min, def->max);
	*(unsigned *)field = v;
	return 0;
}

static int parse_enum(const struct key_def *def, void *field,
		      const char *value, char *why, size_t whylen)
{
	char list[128] = "";

	for (int i = 0; def->names[i]; i++) {
		if (!strcmp(value, def->names[i])) {
			*(int *)field = i;
			return 0;
		}
		if (i > 0)
			strncat(list, " or ", sizeof(list) - strlen(list) - 1);
		strncat(list, def->names[i], sizeof(list) - strlen(list) - 1);
	}
	return cfg_bad(def, value, why, whylen, "expected %s", list);
}

bool cfg_chars_ok(const char *s, const char *allowed)
{
	return *s && strspn(s, allowed) == strlen(s);
}

static int parse_prefix(const struct key_def *def, void *field,
			const char *value, char *why, size_t whylen)
{
	/* table names cannot be bound in SQL: the prefix is pasted in */
	if (*value && (!cfg_chars_ok(value, LOWER_DIGITS "_") ||
		       strlen(value) > 32))
		return cfg_bad(def, value, why, whylen,
			   "expected [a-z0-9_]+, at most 32 characters");
	cfg_set_string(field, value);
	return 0;
}

static int parse_sysuser(const struct key_def *def, void *field,
			 const char *value, char *why, size_t whylen)
{
	if (*value && (!cfg_chars_ok(value, ALNUM "._-") ||
		       *value == '-' || strlen(value) > 32))
		return cfg_bad(def, value, why, whylen,
			   "expected a system user name");
	cfg_set_string(field, value);
	return 0;
}

static int parse_site(const struct key_def *def, void *field,
		      const char *value, char *why, size_t whylen)
{
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return cfg_bad(def, value, why, whylen,
				   "expected a site identifier or its md5");
	if (strlen(value) > 255)
		return cfg_bad(def, value, why, whylen, "too long");
	cfg_set_string(field, value);
	return 0;
}

static int parse_every(const struct key_def *def, void *field,
		       const char *value, char *why, size_t whylen)
{
	struct config_mail *m = field;
	size_t n = strlen(value);
	unsigned long long pct;
	unsigned secs;

	if (n == 0 || !strcmp(value, "off")) {
		m->every_kind = CONFIG_EVERY_NONE;
		m->every = 0;
		return 0;
	}
	if (value[n - 1] == '%') {
		if (cfg_uint_n(value, n - 1, 1, 100, &pct) < 0)
			return cfg_bad(def, value, why, whylen,
				   "expected a percentage from 1%% to 100%%");
		m->every_kind = CONFIG_EVERY_PERCENT;
		m->every = (unsigned)pct;
		return 0;
	}
	if (config_parse_duration(value, &secs) < 0 || secs < 60 ||
	    secs > 7 * 24 * 3600)
		return cfg_bad(def, value, why, whylen,
			   "expected N%% or a duration from 1m to 7d, "
			   "e.g. 10%% or 30m");
	m->every_kind = CONFIG_EVERY_SECONDS;
	m->every = secs;
	return 0;
}

/* "HH:MM" into minutes since midnight; 24:00 only when end is true */
static int parse_hhmm(const char *s, size_t n, bool end, unsigned *out)
{
	const char *colon;
	unsigned long long h, m;

	cfg_trim(&s, &n);
	colon = memchr(s, ':', n);
	if (!colon || colon == s || colon - s > 2 ||
	    cfg_uint_n(s, (size_t)(colon - s), 0, 24, &h) < 0 ||
	    n - (size_t)(colon - s) - 1 != 2 ||
	    cfg_uint_n(colon + 1, 2, 0, 59, &m) < 0)
		return -1;
	if (h == 24 && (m != 0 || !end))
		return -1;
	*out = (unsigned)(h * 60 + m);
	return 0;
}

static int parse_hours(const struct key_def *def, void *field,
		       const char *value, char *why, size_t whylen)
{
	struct config_window *w = field;
	const char *dash = strchr(value, '-');
	unsigned start, end;

	if (!dash ||
	    parse_hhmm(value, (size_t)(dash - value), false, &start) < 0 ||
	    parse_hhmm(dash + 1, strlen(dash + 1), true, &end) < 0)
		return cfg_bad(def, value, why, whylen,
			   "expected HH:MM-HH:MM, e.g. 20:00-06:30");
	if (end == 0)
		end = 1440; /* 22:00-00:00 ends at midnight */
	if (start == end)
		return cfg_bad(def, value, why, whylen,
			   "empty window (00:00-24:00 is the whole day)");
	w->start_min = start;
	w->end_min = end;
	return 0;
}

static int day_index(const char *s, size_t n)
{
	static const char *const names[] = { "sun", "mon", "tue", "wed",
					      "thu", "fri", "sat" };

	cfg_trim(&s, &n);
	for (int i = 0; i < 7; i++)
		if (n == 3 && !strncasecmp(s, names[i], 3))
			return i;
	return -1;
}

static int parse_days(const struct key_def *def, void *field,
		      const char *value, char *why, size_t whylen)
{
	unsigned mask = 0;
	const char *p = value;

	for (;;) {
		size_t n = strcspn(p, ",");
		const char *dash = memchr(p, '-', n);
		int a, b;

		if (dash) {
			a = day_index(p, (size_t)(dash - p));
			b = day_index(dash + 1, n - (size_t)(dash - p) - 1);
		} else {
			a = b = day_index(p, n);
		}
		if (a < 0 || b < 0)
			return cfg_bad(def, value, why, whylen,
				   "expected days like mon-fri,sun");
		/* a range may wrap: fri-mon is fri, sat, sun, mon */
		for (int d = a;; d = (d + 1) % 7) {
			mask |= 1u << d;
			if (d == b)
				break;
		}
		if (!p[n])
			break;
		p += n + 1;
	}
	*(unsigned *)field = mask;
	return 0;
}

static int parse_monthday(const struct key_def *def, void *field,
			  const char *value, char *why, size_t whylen)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30,
					  31, 31, 30, 31, 30, 31 };
	struct config_session *s = field;
	unsigned long long m, d;

	if (strlen(value) != 5 || value[2] != '-' ||
	    cfg_uint_n(value, 2, 1, 12, &m) < 0 ||
	    cfg_uint_n(value + 3, 2, 1, mdays[m - 1], &d) < 0)
		return cfg_bad(def, value, why, whylen,
			   "expected MM-DD, a day every year has, e.g. 09-01");
	s->year_month = (unsigned)m;
	s->year_day = (unsigned)d;
	return 0;
}

static bool category_path_ok(const char *p)
{
	size_t n = strlen(p);

	return n > 1 && p[0] == '/' && p[n - 1] != '/' && !strstr(p, "//");
}

static int parse_selector(const struct key_def *def, void *field,
			  const char *value, char *why, size_t whylen)
{
	struct config_selector *sel = field, s = { CONFIG_SEL_NONE, 0, NULL };
	const char *arg;

	if (!*value) {
		cfg_free_field(def, field);
		return 0;
	}
	if (!strncmp(value, "id:", 3)) {
		s.kind = CONFIG_SEL_ID;
		if (config_parse_uint(value + 3, 1, UINT64_MAX, &s.id) < 0)
			return cfg_bad(def, value, why, whylen,
				   "expected id:N with N a category id");
	} else if (!strncmp(value, "idnumber:", 9)) {
		s.kind = CONFIG_SEL_IDNUMBER;
		arg = value + 9;
		if (!*arg || strlen(arg) > 100)
			return cfg_bad(def, value, why, whylen,
				   "expected idnumber:X, X of 1 to 100 "
				   "characters");
		s.value = xstrdup(arg);
	} else if (!strncmp(value, "path:", 5)) {
		s.kind = CONFIG_SEL_PATH;
		arg = value + 5;
		if (!category_path_ok(arg))
			return cfg_bad(def, value, why, whylen,
				   "expected path:/A/B (no empty part)");
		s.value = xstrdup(arg);
	} else {
		return cfg_bad(def, value, why, whylen,
			   "expected id:N, idnumber:X or path:/A/B");
	}
	if (s.value && (def->flags & F_PATTERN) && !pattern_ok(s.value)) {
		free(s.value);
		return cfg_bad(def, value, why, whylen,
			   "only {Y} and {Y+1} may appear in braces");
	}
	cfg_free_field(def, field);
	*sel = s;
	return 0;
}

static int parse_name_pattern(const struct key_def *def, void *field,
			      const char *value, char *why, size_t whylen)
{
	/* the expanded name becomes a directory of the store */
	if (!pattern_ok(value))
		return cfg_bad(def, value, why, whylen,
			   "only {Y} and {Y+1} may appear in braces");
	if (strchr(value, '/') || value[0] == '.' || strlen(value) > 100)
		return cfg_bad(def, value, why, whylen,
			   "expected a file name: no '/', no leading '.', "
			   "at most 100 characters");
	cfg_set_string(field, value);
	return 0;
}

static int parse_host_name(const struct key_def *def, void *field,
			   const char *value, char *why, size_t whylen)
{
	/* it names files of the store (log-<host>.txt) and lease holders */
	if (strlen(value) > 64 || strspn(value, "abcdefghijklmnopqrstuvwxyz"
				       "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789.-_") != strlen(value) ||
	    value[0] == '.')
		return cfg_bad(def, value, why, whylen,
			   "expected a host name: letters, digits, '.', '-', "
			   "'_', at most 64 characters, no leading '.'");
	cfg_set_string(field, value);
	return 0;
}

/* ---- applying a value ------------------------------------------------- */

static int apply(const struct key_def *def, struct config *cfg,
		 const char *value, char *why, size_t whylen)
{
	if (strlen(value) > VALUE_MAX)
		return cfg_bad(def, NULL, why, whylen, "longer than %d bytes",
			   VALUE_MAX);
	if (has_control(value))
		return cfg_bad(def, NULL, why, whylen,
			   "contains a control character");
	if (!*value && (def->flags & F_NONEMPTY))
		return cfg_bad(def, NULL, why, whylen, "must not be empty");
	return def->parse(def, field_of(def, cfg), value, why, whylen);
}

struct config *config_new(void)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));

	cfg->store.index = xstrdup(CONFIG_DEFAULT_INDEX);
	cfg->store.lease_grace = 300;
	cfg->source.php = xstrdup("/usr/bin/php");
	cfg->archive.php = xstrdup("/usr/bin/php");
	cfg->session.year_month = 9;
	cfg->session.year_day = 1;
	cfg->session.name = xstrdup("{Y}-{Y+1}");
	cfg->window.start_min = 0;
	cfg->window.end_min = 1440;
	cfg->window.days_mask = CONFIG_DAYS_ALL;
	cfg->window.at_end = CONFIG_AT_END_FINISH;
	cfg->jobs.parallel = 1;
	cfg->jobs.timeout = 4 * 3600;
	cfg->jobs.stop_after = 3;
	cfg->jobs.runner = CONFIG_RUNNER_WORKER;
	cfg->jobs.worker_courses = 200;
	cfg->jobs.worker_memory = 512;
	cfg->mail.every_kind = CONFIG_EVERY_NONE;
	cfg->mail.starttls = true;
	cfg->hooks.timeout = 30 * 60;
	return cfg;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < N_KEYS; i++)
		cfg_free_field(&keys[i], field_of(&keys[i], cfg));
	free(cfg);
}

int config_set(struct config *cfg, const char *key, const char *value,
	       char *err, size_t errlen)
{
	const char *dot = strchr(key, '.');
	const struct key_def *def = NULL;
	char section[32], why[512];

	if (dot && (size_t)(dot - key) < sizeof(section)) {
		memcpy(section, key, (size_t)(dot - key));
		section[dot - key] = '\0';
		def = find_key(section, dot + 1);
	}
	if (!def) {
		snprintf(err, errlen, "unknown key '%.100s'", key);
		return -1;
	}
	if (apply(def, cfg, value, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "bad value for '%s': %s", key, why);
		return -1;
	}
	return 0;
}

/* ---- loading a file --------------------------------------------------- */

struct load {
	struct config *cfg;
	const char *name; /* file name for messages */
	const char *pos;  /* next line for inih */
	int lineno;       /* line last handed to inih */
	int err_line;     /* 0: no error yet */
	char msg[768];
	int line_of[N_KEYS]; /* where each key was set; 0: not in this text */
};

__attribute__((format(printf, 2, 3))) static int
load_error(struct load *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->err_line)
		return 0;
	ld->err_line = ld->lineno;
	va_start(ap, fmt);
	vsnprintf(ld->msg, sizeof(ld->msg), fmt, ap);
	va_end(ap);
	return 0;
}

static char *read_line(char *str, int num, void *stream)
{
	struct load *ld = stream;
	const char *p = ld->pos;
	size_t n;

	if (!*p || ld->err_line)
		return NULL;
	n = strcspn(p, "\n");
	ld->pos = p[n] ? p + n + 1 : p + n;
	ld->lineno++;
	while (n > 0 && is_blank(*p))
		p++, n--;
	/* inih needs room for the newline and the NUL */
	if (n + 2 > (size_t)num) {
		load_error(ld, "line longer than %d bytes", num - 2);
		return NULL;
	}
	if (*p == '[') {
		const char *close = memchr(p, ']', n);
		if (close && !section_known(p + 1, (size_t)(close - p - 1))) {
			load_error(ld, "unknown section [%.*s]",
				   (int)(close - p - 1 > 64 ? 64
							    : close - p - 1),
				   p + 1);
			return NULL;
		}
	}
	memcpy(str, p, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

static int on_key(void *user, const char *section, const char *key,
		  const char *value)
{
	struct load *ld = user;
	const struct key_def *def = find_key(section, key);
	char why[512];
	size_t i;

	if (ld->err_line)
		return 0;
	if (!def) {
		if (!*section)
			return load_error(ld, "key '%.64s' outside a [section]",
					  key);
		return load_error(ld, "unknown key '%.64s' in [%s]", key,
				  section);
	}
	i = (size_t)(def - keys);
	if (ld->line_of[i])
		return load_error(ld, "duplicate key '%s' in [%s] (first "
				      "on line %d)",
				  key, section, ld->line_of[i]);
	ld->line_of[i] = ld->lineno;
	if (apply(def, ld->cfg, value, why, sizeof(why)) < 0)
		return load_error(ld, "bad value for '%s': %s", key, why);
	return 1;
}

/*
 * Parses text; when check_mode, refuses secrets next to a loose mode (of
 * the file itself, mode, or of the secret files that exist).
 */
static int load_text(struct config *cfg, const char *text, const char *name,
		     bool check_mode, mode_t mode, char *err, size_t errlen)
{
	struct load *ld = xcalloc(1, sizeof(*ld));
	int r, ret = -1;

	ld->cfg = cfg;
	ld->name = name;
	ld->pos = text;
	r = ini_parse_stream(read_line, ld, on_key, ld);
	if (ld->err_line && (r <= 0 || r >= ld->err_line)) {
		snprintf(err, errlen, "%s:%d: %s", name, ld->err_line, ld->msg);
		goto out;
	}
	if (r > 0) {
		snprintf(err, errlen,
			 "%s:%d: syntax error: expected [section] or "
			 "key = value",
			 name, r);
		goto out;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot parse", name);
		goto out;
	}
	for (size_t i = 0; check_mode && i < N_KEYS; i++) {
		const char *path;
		struct stat st;

		if (!(keys[i].flags & F_SECRET) || !ld->line_of[i])
			continue;
		path = *(char **)field_of(&keys[i], cfg);
		if (!path)
			continue;
		if (mode & 077) {
			snprintf(err, errlen,
				 "%s: names a secret file ('%s' in [%s]) and "
				 "is accessible by group or others "
				 "(mode %04o): chmod 600 it",
				 name, keys[i].key, keys[i].section,
				 (unsigned)(mode & 07777));
			goto out;
		}
		/* a missing file may live on the other platform only */
		if (stat(path, &st) == 0 && (st.st_mode & 077)) {
			snprintf(err, errlen,
				 "%s:%d: secret file '%s' is accessible by "
				 "group or others (mode %04o): chmod 600 it",
				 name, ld->line_of[i], path,
				 (unsigned)(st.st_mode & 07777));
			goto out;
		}
	}
	ret = 0;
out:
	free(ld);
	return ret;
}

int config_load_string(struct config *cfg, const char *text, const char *name,
		       char *err, size_t errlen)
{
	return load_text(cfg, text, name ? name : "<string>", false, 0, err,
			 errlen);
}

int config_load_file(struct config *cfg, const char *path, char *err,
		     size_t errlen)
{
	struct strbuf sb;
	struct stat st;
	char chunk[8192];
	int fd, ret = -1;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 strerror(errno));
		return -1;
	}
	sb_init(&sb, CONFIG_FILE_MAX);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot read '%s': not a regular file",
			 path);
		goto out_release;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path,
				 strerror(errno));
			goto out_release;
		}
		if (sb_add(&sb, chunk, (size_t)n) < 0) {
			snprintf(err, errlen, "cannot read '%s': larger than "
					      "%d bytes",
				 path, CONFIG_FILE_MAX);
			goto out_release;
		}
	}
	if (strlen(sb.buf) != sb.len) {
		snprintf(err, errlen, "cannot read '%s': contains a NUL byte",
			 path);
		goto out_release;
	}
	ret = load_text(cfg, sb.buf, path, true, st.st_mode, err, errlen);
out_release:
	sb_release(&sb);
	close(fd);
	return ret;
}

/* ---- cross-key checks ------------------------------------------------- */

static void copy_string(char **to, const char *from)
{
	free(*to);
	*to = xstrdup_or_null(from);
}

/* Is a set, to something else than b? */
static bool own_value(const char *a, const char *b)
{
	return a && (!b || strcmp(a, b) != 0);
}

static bool own_db(const struct config_db *a, const struct config_db *b)
{
	return a->set &&
	       (!b->set || a->kind != b->kind || own_value(a->user, b->user) ||
		own_value(a->host, b->host) || own_value(a->name, b->name) ||
		own_value(a->socket, b->socket) || a->port != b->port);
}

/*
 * [archive] platform = same: the archive platform is [source]'s. A value
 * [archive] repeats from [source] is harmless (and a second check finds
 * the copy); another value would mean a second platform.
 */
static int archive_is_source(struct config *cfg, char *err, size_t errlen)
{
	struct config_platform *a = &cfg->archive;
	const struct config_platform *s = &cfg->source;
	const char *own = own_value(a->moodle, s->moodle) ? "moodle"
			  : own_db(&a->db, &s->db) ? "db"
			  : own_value(a->url, s->url) ? "url"
			  : own_value(a->site, s->site) ? "site"
			  : own_value(a->token_file, s->token_file) ? "token_file"
			  : own_value(a->db_password_file, s->db_password_file)
				  ? "db_password_file"
			  : own_value(a->prefix, s->prefix) ? "prefix"
			  : own_value(a->user, s->user) ? "user" : NULL;

	if (own) {
		snprintf(err, errlen,
			 "[archive] platform = same: the archive platform is "
			 "the [source] one, so [archive] %s must not name "
			 "another",
			 own);
		return -1;
	}
	cfg_free_db(&a->db);
	copy_string(&a->moodle, s->moodle);
	copy_string(&a->php, s->php);
	copy_string(&a->user, s->user);
	copy_string(&a->db_password_file, s->db_password_file);
	copy_string(&a->prefix, s->prefix);
	copy_string(&a->site, s->site);
	copy_string(&a->url, s->url);
	copy_string(&a->token_file, s->token_file);
	a->db = (struct config_db){ .set = s->db.set,
				    .kind = s->db.kind,
				    .user = xstrdup_or_null(s->db.user),
				    .host = xstrdup_or_null(s->db.host),
				    .port = s->db.port,
				    .name = xstrdup_or_null(s->db.name),
				    .socket = xstrdup_or_null(s->db.socket) };
	return 0;
}

bool config_same_platform(const struct config *cfg)
{
	return cfg->archive.mode == CONFIG_PLATFORM_SAME;
}

int config_check(struct config *cfg, char *err, size_t errlen)
{
	const struct config_mail *m = &cfg->mail;

	if (m->url && (!m->from || m->n_to == 0)) {
		snprintf(err, errlen, "[mail] url is set but %s missing",
			 !m->from ? "'from' is" : "'to' is");
		return -1;
	}
	if (!m->username != !m->password_file) {
		snprintf(err, errlen, "[mail] %s",
			 m->username ? "username needs password_file"
				     : "password_file needs username");
		return -1;
	}
	if (m->url && m->username && !m->starttls &&
	    !strncasecmp(m->url, "smtp://", 7)) {
		snprintf(err, errlen,
			 "[mail] refusing to send the password unencrypted: "
			 "set starttls = yes or use smtps://");
		return -1;
	}
	if (config_same_platform(cfg))
		return archive_is_source(cfg, err, errlen);
	return 0;
}

/* ---- secrets ---------------------------------------------------------- */

int config_read_secret(const char *path, char **out, char *err, size_t errlen)
{
	char buf[CONFIG_SECRET_MAX + 2];
	size_t len = 0, line;
	struct stat st;
	ssize_t n;
	int fd, ret = -1;
	char *nl;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open secret file '%s': %s", path,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "secret file '%s' is not a regular file",
			 path);
		goto out_close;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "secret file '%s' is accessible by group or others "
			 "(mode %04o): chmod 600 it",
			 path, (unsigned)(st.st_mode & 07777));
		goto out_close;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen,
				 "cannot read secret file '%s': %s", path,
				 strerror(errno));
			goto out_wipe;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	nl = memchr(buf, '\n', len);
	if (!nl && len == sizeof(buf))
		line = len;
	else
		line = nl ? (size_t)(nl - buf) : len;
	if (line > 0 && buf[line - 1] == '\r')
		line--;
	if (line > CONFIG_SECRET_MAX) {
		snprintf(err, errlen,
			 "secret file '%s': first line longer than %d bytes",
			 path, CONFIG_SECRET_MAX);
		goto out_wipe;
	}
	if (line == 0 || memchr(buf, '\0', line)) {
		snprintf(err, errlen, "secret file '%s' is %s", path,
			 line ? "binary (NUL byte)" : "empty");
		goto out_wipe;
	}
	*out = xstrndup(buf, line);
	ret = 0;
out_wipe:
	explicit_bzero(buf, sizeof(buf));
out_close:
	close(fd);
	return ret;
}

/* ---- window ----------------------------------------------------------- */

static bool day_on(const struct config_window *w, int wday)
{
	return w->days_mask & (1u << wday);
}

bool config_window_contains(const struct config_window *w, time_t t)
{
	struct tm tm;
	unsigned m;

	if (!localtime_r(&t, &tm))
		return false;
	m = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
	if (w->start_min < w->end_min)
		return day_on(w, tm.tm_wday) && m >= w->start_min &&
		       m < w->end_min;
	return (day_on(w, tm.tm_wday) && m >= w->start_min) ||
	       (day_on(w, (tm.tm_wday + 6) % 7) && m < w->end_min);
}

/* Local time on the day of base plus days, at minute min. */
static time_t at_minute(const struct tm *base, int days, unsigned min)
{
	struct tm c = { 0 };

	c.tm_year = base->tm_year;
	c.tm_mon = base->tm_mon;
	c.tm_mday = base->tm_mday + days;
	c.tm_hour = (int)(min / 60);
	c.tm_min = (int)(min % 60);
	c.tm_isdst = -1;
	return mktime(&c);
}

time_t config_window_next_open(const struct config_window *w, time_t now)
{
	struct tm tm;

	if (!(w->days_mask & CONFIG_DAYS_ALL) || !localtime_r(&now, &tm))
		return (time_t)-1;
	if (config_window_contains(w, now))
		return now;
	for (int d = 0; d <= 7; d++) {
		time_t t = at_minute(&tm, d, w->start_min);

		/* the opening day is the day asked for, even past a DST gap */
		if (t != (time_t)-1 && t > now &&
		    day_on(w, (tm.tm_wday + d) % 7))
			return t;
	}
	return (time_t)-1;
}

time_t config_window_next_close(const struct config_window *w, time_t now)
{
	time_t t = now;

	if (!config_window_contains(w, now))
		return (time_t)-1;
	/* 8 steps: back-to-back days can chain for at most a week */
	for (int i = 0; i < 8; i++) {
		struct tm tm;
		unsigned m;
		int day = 0;
		time_t end;

		if (!localtime_r(&t, &tm))
			return (time_t)-1;
		m = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
		if (w->start_min >= w->end_min && m >= w->start_min)
			day = 1; /* opened today, closes tomorrow */
		end = at_minute(&tm, day, w->end_min);
		if (end == (time_t)-1 || end <= t)
			return (time_t)-1;
		if (!config_window_contains(w, end))
			return end;
		t = end;
	}
	return (time_t)-1;
}

/* ---- session ---------------------------------------------------------- */

int config_session_year(const struct config *cfg, time_t now)
{
	struct tm tm;
	int month, year;
	bool started;

	if (!localtime_r(&now, &tm))
		return 0;
	month = tm.tm_mon + 1;
	year = tm.tm_year + 1900;
	started = month > (int)cfg->session.year_month ||
		  (month == (int)cfg->session.year_month &&
		   tm.tm_mday >= (int)cfg->session.year_day);
	/* the running session started at the last year_start: the one
	 * before it is the last that ended */
	return (started ? year : year - 1) - 1;
}

int config_pattern_expand(const char *pattern, int y, char *out,
			  size_t outlen)
{
	size_t len = 0;

	if (outlen == 0)
		return -1;
	for (const char *p = pattern; *p;) {
		char num[16];
		const char *piece = p;
		size_t n = 1;

		if (!strncmp(p, "{Y}", 3)) {
			snprintf(num, sizeof(num), "%d", y);
			piece = num;
			n = strlen(num);
			p += 3;
		} else if (!strncmp(p, "{Y+1}", 5)) {
			snprintf(num, sizeof(num), "%d", y + 1);
			piece = num;
			n = strlen(num);
			p += 5;
		} else if (*p == '{' || *p == '}') {
			return -1;
		} else {
			p++;
		}
		if (len + n >= outlen)
			return -1;
		memcpy(out + len, piece, n);
		len += n;
	}
	out[len] = '\0';
	return 0;
}

int config_session_name_for(const struct config *cfg, time_t now, char *out,
			    size_t outlen)
{
	return config_pattern_expand(cfg->session.name,
				     config_session_year(cfg, now), out,
				     outlen);
}

int config_parse_selector(const char *value, struct config_selector *out,
			  char *err, size_t errlen)
{
	/* the [archive] target rules: no {Y} patterns on a command line */
	static const struct key_def def = { "archive", "target",
					    KT_SELECTOR, 0, parse_selector,
					    0, 0, NULL, 0 };

	*out = (struct config_selector){ CONFIG_SEL_NONE, 0, NULL };
	if (!*value || parse_selector(&def, out, value, err, errlen) < 0) {
		if (!*value)
			snprintf(err, errlen,
				 "expected id:N, idnumber:X or path:/A/B");
		return -1;
	}
	return 0;
}

void config_selector_release(struct config_selector *sel)
{
	free(sel->value);
	sel->value = NULL;
	sel->kind = CONFIG_SEL_NONE;
}
