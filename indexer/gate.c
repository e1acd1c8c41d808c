/*
 * Safety rules read from the journal events in the index. Refusing is the
 * default: an unreadable index refuses too.
 */
#include "gate.h"

#include <stdio.h>
#include <string.h>

#include "idx_sql.h"

int gate_purge(struct idx *idx, int64_t session_id, const char *side,
	       const char *mode, char *why, size_t whylen)
{
	/*
	 * Journal times are in seconds: a restore in the same second as the
	 * verify counts as newer unless the same journal shows it earlier.
	 */
	static const char sql[] =
		"WITH v AS (SELECT time, source, line,"
		"  coalesce(json_extract(data, '$.passed'), 0) AS passed"
		"  FROM events WHERE session_id = ?1 AND event = 'verify_report'"
		"  ORDER BY time DESC, line DESC, id DESC LIMIT 1)"
		" SELECT"
		" EXISTS(SELECT 1 FROM events r, v WHERE r.session_id = ?1"
		"  AND r.event = 'restore' AND (r.time > v.time"
		"  OR (r.time = v.time AND NOT (r.source = v.source"
		"  AND r.line < v.line)))),"
		" (SELECT time FROM v),"
		" (SELECT passed FROM v)";
	sqlite3_stmt *st;
	int rc;

	if (strcmp(side, "source") != 0 || strcmp(mode, "confirm") != 0)
		return 0;
	if (!(st = idx_stmt(idx, sql)))
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return idx_fail(idx, "cannot read verify results");
	}
	if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
		snprintf(why, whylen,
			 "purge of the source refused: the session was never "
			 "verified (run verify first)");
		rc = 1;
	} else if (!sqlite3_column_int(st, 2)) {
		snprintf(why, whylen,
			 "purge of the source refused: the latest verify of "
			 "the session failed");
		rc = 1;
	} else if (sqlite3_column_int(st, 0)) {
		snprintf(why, whylen,
			 "purge of the source refused: courses were restored "
			 "after the latest verify (run verify again)");
		rc = 1;
	} else {
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}
