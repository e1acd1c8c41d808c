/*
 * outage: telling a course's failure from the failure of what is under
 * every course, the platform or the store. A course that failed because
 * the database is gone or the store is full did nothing wrong: it stays
 * pending, and the engine stops the run after a few such courses in a row
 * (engine.h) instead of failing every course left.
 */
#ifndef SA_OUTAGE_H
#define SA_OUTAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

struct moodle;

/* What the store-side check needs of a course that failed. */
struct outage_store_case {
	const char *store_dir;  /* the store's root */
	int64_t need;           /* bytes the course needs on the store */
	int sys_errno;          /* of a failed write into the store, or 0 */
	const char *output;     /* what Moodle printed, or NULL */
	const char *dataroot;   /* Moodle's, for the message, or NULL */
};

/*
 * Any thread, after the course's leftovers were removed: ENGINE_STORE_DOWN
 * with err rewritten when the store has less room than the course needs,
 * a write into it failed with no space or no write access, or Moodle ran
 * out of space ("No space left on device", its temp folder included); the
 * free space is in the message. Else ENGINE_FAILED, err untouched.
 */
enum engine_outcome outage_store(const struct outage_store_case *c,
				 char *err, size_t errlen);

/* Whether Moodle's output says it ran out of space (ENOSPC, quota). */
bool outage_out_of_space(const char *output);

/*
 * Calling thread, with m used by no other thread meanwhile: when a course
 * failed and moodle_check() finds the platform down, ENGINE_PLATFORM_DOWN
 * with err rewritten ("Moodle cannot be reached: why; the course's
 * error"). Any other outcome comes back unchanged.
 */
enum engine_outcome outage_platform(struct moodle *m,
				    enum engine_outcome outcome, char *err,
				    size_t errlen);

#endif
