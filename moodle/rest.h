/*
 * rest: the REST client under the web-service backend: one libcurl handle
 * per platform, POST <url>/webservice/rest/server.php with the token in
 * the body, JSON answers with Moodle's error object made an error, and the
 * typed reading of their members. Internal to moodle/.
 */
#ifndef SA_MOODLE_REST_H
#define SA_MOODLE_REST_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct moodle;
struct strbuf;

#define WS_PATH "/webservice/rest/server.php"

struct ws_conn {
	CURL *curl;
	char *url;     /* the configured url, for messages */
	char *ws_url;  /* url + WS_PATH */
	char *token;   /* secret: wiped by ws_close() */
	char *release; /* from core_webservice_get_site_info */
	char *sitename, *username; /* likewise: the site, the token's user */
	int64_t version;
	struct strbuf *answer; /* the answer being read, capped */
	bool overflow;         /* it hit WS_ANSWER_MAX */
	char curl_err[CURL_ERROR_SIZE];
};

struct ws_param {
	const char *key;
	const char *value;
};

/* Sets up m->ws's handle (url, ws_url and token set): 0 or -1. */
int ws_start(struct moodle *m);
/*
 * Calls fn with params p: its JSON answer (caller json_decref()s it), or
 * NULL with moodle_error() set. Moodle's error object is an error.
 */
json_t *ws_call(struct moodle *m, const char *fn, const struct ws_param *p,
		size_t np);
/* "bad answer of URL to fn: 'key' why": -1 with moodle_error() set. */
int ws_bad(struct moodle *m, const char *fn, const char *key,
	   const char *why);
/*
 * An integer member: a JSON integer or a string of digits (Moodle's
 * PARAM_INT comes as a number, but its versions are strings). Absent or
 * null: 0, an error when required.
 */
int ws_int(struct moodle *m, const char *fn, json_t *o, const char *key,
	   bool required, int64_t *out);
/*
 * A string member, HTML-decoded when html (what Moodle's
 * external_format_string escapes): caller frees. Absent or null: "", an
 * error when required.
 */
int ws_str(struct moodle *m, const char *fn, json_t *o, const char *key,
	   bool required, bool html, char **out);

#endif
