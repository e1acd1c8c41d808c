/*
 * Safety rules read from the session's history (history.c), the one fold
 * of its events that restore, verify and purge read too. Refusing is the
 * default: an unreadable index refuses too.
 */
#include "gate.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "history.h"

int gate_purge_folded(const struct history *h, const char *side,
		      const char *mode, char *why, size_t whylen)
{
	const struct history_verify *v = &h->verify;

	if (strcmp(side, "source") != 0 || strcmp(mode, "confirm") != 0)
		return 0;
	if (!v->seen) {
		snprintf(why, whylen,
			 "purge of the source refused: the session was never "
			 "verified (run verify first)");
		return 1;
	}
	if (!v->passed) {
		snprintf(why, whylen,
			 "purge of the source refused: the latest verify of "
			 "the session failed");
		return 1;
	}
	if (v->restore_after) {
		snprintf(why, whylen,
			 "purge of the source refused: courses were restored "
			 "after the latest verify (run verify again)");
		return 1;
	}
	return 0;
}

int gate_purge(struct idx *idx, int64_t session_id, const char *side,
	       const char *mode, char *why, size_t whylen)
{
	struct history h;
	int rc;

	if (strcmp(side, "source") != 0 || strcmp(mode, "confirm") != 0)
		return 0;
	if (history_load(idx, session_id, &h) < 0)
		return -1;
	rc = gate_purge_folded(&h, side, mode, why, whylen);
	history_release(&h);
	return rc;
}
