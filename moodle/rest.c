/*
 * rest: Moodle's REST server over libcurl (see rest.h). The token lives in
 * the handle, goes out only in POST bodies, and the bodies are wiped after
 * each call; answers are read into a capped buffer and parsed with
 * jansson. Errors name the URL and the function, never the token: a
 * server message or a parser message that quotes it is not shown.
 */
#include "rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "curl_setup.h"
#include "platform.h"
#include "strbuf.h"
#include "xalloc.h"

/* cap on one web-service answer */
#define WS_ANSWER_MAX (64u * 1024 * 1024)
#define WS_CONNECT_TIMEOUT_S 10L
#define WS_TIMEOUT_S 120L

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-._~", c));
}

/*
 * application/x-www-form-urlencoded, all but the unreserved characters
 * escaped: with out NULL, only the length. Two passes so that the body,
 * which holds the token, is allocated once and never left behind by a
 * realloc.
 */
static size_t form_put(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p)) {
			if (out)
				out[n] = (char)*p;
			n++;
			continue;
		}
		if (out) {
			out[n] = '%';
			out[n + 1] = hex[*p >> 4];
			out[n + 2] = hex[*p & 15];
		}
		n += 3;
	}
	return n;
}

/* "wstoken=...&wsfunction=fn&moodlewsrestformat=json&k=v..." */
static char *ws_body(const struct moodle *m, const char *fn,
		     const struct ws_param *p, size_t np, size_t *len)
{
	const char **kv = xcalloc(2 * (3 + np), sizeof(*kv));
	size_t nkv = 0, n = 0;
	char *body;

	kv[nkv++] = "wstoken";
	kv[nkv++] = m->ws->token;
	kv[nkv++] = "wsfunction";
	kv[nkv++] = fn;
	kv[nkv++] = "moodlewsrestformat";
	kv[nkv++] = "json";
	for (size_t i = 0; i < np; i++) {
		kv[nkv++] = p[i].key;
		kv[nkv++] = p[i].value;
	}
	for (size_t i = 0; i < nkv; i++)
		n += form_put(NULL, kv[i]) + 1;
	body = xmalloc(n);
	n = 0;
	for (size_t i = 0; i < nkv; i++) {
		n += form_put(body + n, kv[i]);
		body[n++] = i % 2 ? '&' : '=';
	}
	body[--n] = '\0';
	free(kv);
	*len = n;
	return body;
}

static size_t ws_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct moodle *m = userp;

	if (sb_add(m->ws->answer, data, size * nmemb) < 0) {
		m->ws->overflow = true;
		return 0;
	}
	return size * nmemb;
}

int ws_start(struct moodle *m)
{
	CURLcode rc = CURLE_OK;

	m->ws->curl = curl_easy_init();
	if (!m->ws->curl)
		return moodle_fail(m,
				   "cannot reach '%s': curl_easy_init failed",
				   m->ws->url);
	rc = curl_setup(m->ws->curl, m->ws->ws_url, "http,https",
			WS_CONNECT_TIMEOUT_S, WS_TIMEOUT_S, m->ws->curl_err);
	SETOPT(rc, m->ws->curl, CURLOPT_POST, 1L);
	/* a redirect would carry the token elsewhere, or turn POST to GET */
	SETOPT(rc, m->ws->curl, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(rc, m->ws->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(rc, m->ws->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(rc, m->ws->curl, CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(rc, m->ws->curl, CURLOPT_USERAGENT,
	       "sessionarchiver/" SA_VERSION);
	SETOPT(rc, m->ws->curl, CURLOPT_WRITEFUNCTION, ws_write);
	SETOPT(rc, m->ws->curl, CURLOPT_WRITEDATA, m);
	if (rc != CURLE_OK)
		return moodle_fail(m, "cannot reach '%s': %s", m->ws->url,
				   curl_easy_strerror(rc));
	return 0;
}

/* text from the server, shown only when it does not quote the token */
static const char *ws_safe(const struct moodle *m, const char *text)
{
	return text && !strstr(text, m->ws->token) ? text : "(not shown)";
}

json_t *ws_call(struct moodle *m, const char *fn,
		       const struct ws_param *p, size_t np)
{
	struct strbuf answer;
	json_error_t jerr;
	json_t *root = NULL;
	long status = 0;
	CURLcode rc = CURLE_OK;
	size_t len;
	char *body = ws_body(m, fn, p, np, &len);

	sb_init(&answer, WS_ANSWER_MAX);
	m->ws->overflow = false;
	m->ws->curl_err[0] = '\0';
	SETOPT(rc, m->ws->curl, CURLOPT_POSTFIELDS, body);
	SETOPT(rc, m->ws->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	m->ws->answer = &answer;
	if (rc == CURLE_OK)
		rc = curl_easy_perform(m->ws->curl);
	m->ws->answer = NULL;
	/* the handle keeps the pointer: the next call sets it before use */
	explicit_bzero(body, len);
	free(body);
	if (m->ws->overflow) {
		moodle_fail(m, "the answer of '%s' to %s is larger than %u MiB",
			    m->ws->url, fn, WS_ANSWER_MAX >> 20);
		goto out;
	}
	if (rc != CURLE_OK) {
		moodle_fail(m, "cannot reach '%s' (%s): %s", m->ws->url, fn,
			    m->ws->curl_err[0] ? m->ws->curl_err
					       : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(m->ws->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		moodle_fail(m, "'%s' answered %s with HTTP status %ld%s",
			    m->ws->ws_url, fn, status,
			    status / 100 == 3 ? " (redirects are not followed: "
						"check 'url')"
					      : "");
		goto out;
	}
	if (!answer.len) {
		moodle_fail(m, "'%s' answered %s with nothing", m->ws->url, fn);
		goto out;
	}
	root = json_loadb(answer.buf, answer.len, 0, &jerr);
	if (!root) {
		moodle_fail(m, "cannot read the answer of '%s' to %s: not JSON "
			    "(line %d: %s)", m->ws->url, fn, jerr.line,
			    ws_safe(m, jerr.text));
		goto out;
	}
	/* Moodle reports errors as HTTP 200 with this object */
	if (json_is_object(root) && json_object_get(root, "exception")) {
		const char *msg, *code;

		msg = json_string_value(json_object_get(root, "message"));
		code = json_string_value(json_object_get(root, "errorcode"));
		if (!code)
			code = json_string_value(
				json_object_get(root, "exception"));
		m->refused = true;
		moodle_fail(m, "'%s' refused %s: %s (%s)", m->ws->url, fn,
			    ws_safe(m, msg), ws_safe(m, code));
		json_decref(root);
		root = NULL;
	}
out:
	sb_release(&answer);
	return root;
}

/* Moodle's external_format_string escapes these; nothing else is undone */
static char *html_decode(const char *s)
{
	static const struct {
		const char *entity;
		char c;
	} ents[] = { { "&amp;", '&' },	 { "&lt;", '<' },   { "&gt;", '>' },
		     { "&quot;", '"' }, { "&#39;", '\'' }, { "&#039;", '\'' } };
	struct strbuf sb;

	sb_init(&sb, 0);
	for (; *s; s++) {
		size_t i, n = sizeof(ents) / sizeof(ents[0]);

		for (i = 0; *s == '&' && i < n; i++)
			if (!strncmp(s, ents[i].entity, strlen(ents[i].entity)))
				break;
		if (*s == '&' && i < n) {
			sb_addch(&sb, ents[i].c);
			s += strlen(ents[i].entity) - 1;
		} else {
			sb_addch(&sb, *s);
		}
	}
	return sb_detach(&sb, NULL);
}

int ws_bad(struct moodle *m, const char *fn, const char *key, const char *why)
{
	return moodle_fail(m, "bad answer of '%s' to %s: '%s' %s", m->ws->url,
			   fn, key, why);
}

int ws_int(struct moodle *m, const char *fn, json_t *o, const char *key,
	   bool required, int64_t *out)
{
	json_t *v = json_object_get(o, key);
	unsigned long long u;
	const char *s;

	*out = 0;
	if (!v || json_is_null(v))
		return required ? ws_bad(m, fn, key, "is missing") : 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	s = json_string_value(v);
	if (s && *s == '-' && config_parse_uint(s + 1, 0, INT64_MAX, &u) == 0) {
		*out = -(int64_t)u;
		return 0;
	}
	if (s && config_parse_uint(s, 0, INT64_MAX, &u) == 0) {
		*out = (int64_t)u;
		return 0;
	}
	return ws_bad(m, fn, key, "is not a number");
}

int ws_str(struct moodle *m, const char *fn, json_t *o, const char *key,
	   bool required, bool html, char **out)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return ws_bad(m, fn, key, "is missing");
		*out = xstrdup("");
		return 0;
	}
	s = json_string_value(v);
	if (!s)
		return ws_bad(m, fn, key, "is not a string");
	*out = html ? html_decode(s) : xstrdup(s);
	return 0;
}
