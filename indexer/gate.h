/*
 * gate: the safety rules that stand between a request and a destructive
 * operation, decided from the index alone so that the mount (EPERM on a
 * control write) and the command line refuse the same things.
 */
#ifndef SA_GATE_H
#define SA_GATE_H

#include <stddef.h>
#include <stdint.h>

struct history;
struct idx;

/*
 * May a purge of side ("source" or "archive") in mode ("preview",
 * "dry-run", "confirm") run on the session whose events h folded? A real
 * purge of the source side needs a passing verify of the session newer
 * than its last restore (h->verify). Returns 0 when allowed, 1 when
 * refused (the reason in why).
 */
int gate_purge_folded(const struct history *h, const char *side,
		      const char *mode, char *why, size_t whylen);

/* The same, folding the session's events first: -1 on error (logged). */
int gate_purge(struct idx *idx, int64_t session_id, const char *side,
	       const char *mode, char *why, size_t whylen);

#endif
