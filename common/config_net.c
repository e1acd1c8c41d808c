/*
 * config_net: the parsers of network values of the configuration: http(s)
 * and smtp(s) URLs (no credentials in them: secrets live in files), the
 * mysql:// and postgresql:// database URLs, mail addresses. Rows of
 * config.c's key table.
 */
#include "config_values.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

void cfg_free_db(struct config_db *db)
{
	free(db->user);
	free(db->host);
	free(db->name);
	free(db->socket);
	memset(db, 0, sizeof(*db));
}

void cfg_free_addrs(struct config_mail *m)
{
	for (size_t i = 0; i < m->n_to; i++)
		free(m->to[i]);
	free(m->to);
	m->to = NULL;
	m->n_to = 0;
}

/*
 * Checks "scheme://host[:port][/rest]" for one of the schemes; no
 * user:password@ part, since secrets live in files.
 */
static const char *url_problem(const char *value, const char *const *schemes)
{
	const char *p = NULL, *host, *end, *colon;
	unsigned long long port;

	for (size_t i = 0; schemes[i]; i++) {
		size_t n = strlen(schemes[i]);
		if (!strncasecmp(value, schemes[i], n) &&
		    !strncmp(value + n, "://", 3)) {
			p = value + n + 3;
			break;
		}
	}
	if (!p)
		return "unsupported scheme";
	for (const char *q = value; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return "blank or control character";
	host = p;
	end = host + strcspn(host, "/?#");
	if (memchr(host, '@', (size_t)(end - host)))
		return "credentials in the URL (use a *_file key)";
	colon = host;
	if (*host == '[') {
		colon = memchr(host, ']', (size_t)(end - host));
		if (!colon)
			return "bad host";
	}
	colon = memchr(colon, ':', (size_t)(end - colon));
	if (colon) {
		if (cfg_uint_n(colon + 1, (size_t)(end - colon - 1), 1, 65535,
				 &port) < 0)
			return "bad port";
		end = colon;
	}
	if (end == host)
		return "missing host";
	return NULL;
}

int parse_http_url(const struct key_def *def, void *field,
			  const char *value, char *why, size_t whylen)
{
	static const char *const schemes[] = { "https", "http", NULL };
	const char *problem = *value ? url_problem(value, schemes) : NULL;
	char *url;
	size_t n;

	if (problem)
		return cfg_bad(def, value, why, whylen,
			   "expected http(s)://host[:port][/path]: %s",
			   problem);
	cfg_set_string(field, value);
	url = *(char **)field;
	/* Moodle's wwwroot has no trailing slash; paths get appended */
	n = url ? strlen(url) : 0;
	while (n > 0 && url[n - 1] == '/' && url[n - 2] != '/')
		url[--n] = '\0';
	return 0;
}

int parse_smtp_url(const struct key_def *def, void *field,
			  const char *value, char *why, size_t whylen)
{
	static const char *const schemes[] = { "smtps", "smtp", NULL };
	const char *problem = *value ? url_problem(value, schemes) : NULL;

	if (problem)
		return cfg_bad(def, value, why, whylen,
			   "expected smtp://host[:port] or smtps://: %s",
			   problem);
	cfg_set_string(field, value);
	return 0;
}

/* A bare addr-spec, local@domain, as it may appear in a header. */
static bool address_ok(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	size_t local, domain;

	if (!at || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
		return false;
	local = (size_t)(at - s);
	domain = n - local - 1;
	if (local == 0 || local > 64 || domain == 0 || domain > 253)
		return false;
	for (size_t i = 0; i < local; i++)
		if (!strchr(ALNUM "!#$%&'*+/=?^_`{|}~.-", s[i]) || !s[i])
			return false;
	for (size_t i = local + 1; i < n; i++)
		if (!strchr(ALNUM ".-", s[i]) || !s[i])
			return false;
	return s[0] != '.' && at[-1] != '.' && at[1] != '.' && at[1] != '-' &&
	       s[n - 1] != '.' && s[n - 1] != '-';
}

int parse_address(const struct key_def *def, void *field,
			 const char *value, char *why, size_t whylen)
{
	if (*value && !address_ok(value, strlen(value)))
		return cfg_bad(def, value, why, whylen,
			   "expected an address like user@example.org");
	cfg_set_string(field, value);
	return 0;
}

int parse_addrs(const struct key_def *def, void *field,
		       const char *value, char *why, size_t whylen)
{
	struct config_mail *m = field;
	char **to = NULL;
	size_t n_to = 0;

	for (const char *p = value; *value; p++) {
		const char *item = p;
		size_t len, n = strcspn(p, ",");

		len = n;
		cfg_trim(&item, &len);
		if (!address_ok(item, len) || n_to == CONFIG_MAIL_MAX_RCPT) {
			for (size_t i = 0; i < n_to; i++)
				free(to[i]);
			free(to);
			if (n_to == CONFIG_MAIL_MAX_RCPT)
				return cfg_bad(def, value, why, whylen,
					   "more than %d recipients",
					   CONFIG_MAIL_MAX_RCPT);
			return cfg_bad(def, value, why, whylen,
				   "expected addresses like a@example.org, "
				   "b@example.org");
		}
		to = xrealloc(to, (n_to + 1) * sizeof(*to));
		to[n_to++] = xstrndup(item, len);
		p += n;
		if (!*p)
			break;
	}
	cfg_free_addrs(m);
	m->to = to;
	m->n_to = n_to;
	return 0;
}

int parse_db(const struct key_def *def, void *field,
		    const char *value, char *why, size_t whylen)
{
	static const char usage[] =
		"expected mysql://user@host[:port]/name, "
		"mysql://user@localhost/name?socket=/path, or the same with "
		"postgresql://";
	static const struct {
		const char *scheme;
		enum config_db_kind kind;
	} schemes[] = {
		{ "mysql://", CONFIG_DB_MYSQL },
		{ "postgresql://", CONFIG_DB_POSTGRESQL },
		{ "postgres://", CONFIG_DB_POSTGRESQL },
	};
	struct config_db db = { 0 };
	const char *p = NULL, *at, *slash, *q, *host_end;
	unsigned long long port = 0;

	if (!*value) {
		cfg_free_field(def, field);
		return 0;
	}
	for (size_t i = 0; !p && i < sizeof(schemes) / sizeof(schemes[0]);
	     i++) {
		if (strncmp(value, schemes[i].scheme,
			    strlen(schemes[i].scheme)) == 0) {
			p = value + strlen(schemes[i].scheme);
			db.kind = schemes[i].kind;
		}
	}
	if (!p)
		return cfg_bad(def, value, why, whylen, "%s", usage);
	at = strchr(p, '@');
	slash = strchr(p, '/');
	if (!at || !slash || at > slash)
		return cfg_bad(def, value, why, whylen, "%s", usage);
	if (memchr(p, ':', (size_t)(at - p)))
		return cfg_bad(def, value, why, whylen,
			   "no password in the URL: use db_password_file");
	db.user = xstrndup(p, (size_t)(at - p));
	host_end = slash;
	q = memchr(at + 1, ':', (size_t)(slash - at - 1));
	if (q) {
		if (cfg_uint_n(q + 1, (size_t)(slash - q - 1), 1, 65535,
				 &port) < 0)
			goto out_bad;
		host_end = q;
	}
	db.host = xstrndup(at + 1, (size_t)(host_end - at - 1));
	db.port = (unsigned)port;
	q = strchr(slash + 1, '?');
	db.name = q ? xstrndup(slash + 1, (size_t)(q - slash - 1))
		    : xstrdup(slash + 1);
	if (!cfg_chars_ok(db.user, ALNUM "._-") ||
	    !cfg_chars_ok(db.host, ALNUM ".-") ||
	    !cfg_chars_ok(db.name, ALNUM "_$") || strlen(db.user) > 80 ||
	    strlen(db.name) > 64)
		goto out_bad;
	if (q) {
		if (strncmp(q + 1, "socket=/", 8) || strchr(q + 1, '&') ||
		    strcmp(db.host, "localhost") || port)
			goto out_bad;
		db.socket = xstrdup(q + 8);
	}
	db.set = true;
	cfg_free_field(def, field);
	*(struct config_db *)field = db;
	return 0;

out_bad:
	cfg_free_db(&db);
	return cfg_bad(def, value, why, whylen, "%s", usage);
}
