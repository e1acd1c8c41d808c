/*
 * report: what the index knows, rendered for people and for scripts.
 *
 * The same data gives `sessionarchiver status` (text and --json) and the
 * mount's status and status.json files: it is built once here, as JSON,
 * and the text form is rendered from that JSON, so the two never disagree.
 * Functions take the caller's index handle; they only read.
 */
#ifndef SA_REPORT_H
#define SA_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct idx;

/* A time as status shows it: local "YYYY-MM-DD HH:MM:SS", null for none. */
json_t *report_time_json(int64_t t);

/*
 * {"running": bool, "sessions": [ {session status}, ... ]} for every
 * session, or for the one named (NULL when it is unknown: logged).
 * Caller frees with json_decref().
 */
json_t *report_status(struct idx *idx, const char *session);

/*
 * Text of a status: with one session and detailed, "key: value" lines
 * (operation, state, started, done, failed, remaining, total, bytes, eta,
 * current, window, last_error, courses); otherwise one line per session.
 * Strings from the index (names, errors) are escaped (printable.h).
 * Caller frees.
 */
char *report_status_text(json_t *status, bool detailed);

/*
 * The courses of a session, one object each (file, size, sha256,
 * source_course_id, archive_course_id, shortname, fullname, state, error,
 * ...), ordered by file. NULL when the session is unknown (logged).
 */
json_t *report_list(struct idx *idx, const char *session);

/*
 * Text of report_list(): one line per course, tab-separated (state, source
 * course id, size, file, shortname, then "error: ..." for a failed one),
 * each field escaped with PRINTABLE_TSV so that a name with a tab or a
 * newline keeps the line whole. Caller frees.
 */
char *report_list_text(json_t *list);

#endif
