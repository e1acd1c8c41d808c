/*
 * share: one session's archive shared by the hosts that run it at once
 * (archive --share or [jobs] share). No coordinator: each course is
 * claimed (lease_claim) before its backup starts and the claim is left
 * with the course's outcome once the manifest and the journal say it, so
 * a fast host simply claims more. A course claimed by a live member is
 * left to it and looked at again later; one claimed by a member silent
 * for longer than [store] lease_grace is taken over.
 *
 * A member joins under the session lease (which restore, verify and purge
 * hold for their whole run, and refuse while a member is live); the first
 * member of a round, finding no live member, clears the last round's
 * outcomes, temporary folders and dead members.
 */
#ifndef SA_SHARE_H
#define SA_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "lease.h"

struct cli;
struct share;

enum share_claim {
	SHARE_CLAIMED,          /* ours: do the course */
	SHARE_TAKEN_OVER,       /* ours, from the silent member in who */
	SHARE_BUSY,             /* a live member in who has it: later */
	SHARE_DONE_ELSEWHERE,   /* archived by the member in who */
	SHARE_FAILED_ELSEWHERE, /* failed on the member in who */
	SHARE_ERROR,            /* logged */
};

/*
 * Joins the shared archive of session (metafd: its .session folder).
 * NULL with the exit code in *exit_code when refused (an operation that
 * runs alone holds the session: exit 8) or on an error. *taken_from is
 * filled when the session lease had to be taken over to join (for
 * cli_note_takeover).
 */
struct share *share_join(struct cli *cli, int metafd, const char *session,
			 struct lease_holder *taken_from, int *exit_code);

/* Leaves (the member's lease goes); share_leave(NULL) does nothing. */
void share_leave(struct share *s);

/* "<host>-<pid>": the member's name, and its temporary folder's. */
const char *share_member(const struct share *s);

/* What status shows of this member. */
void share_counts(struct share *s, int64_t done, int64_t failed,
		  int64_t elsewhere, int64_t left);

/*
 * Claims course, whose backup is file in the session. For SHARE_CLAIMED
 * and SHARE_TAKEN_OVER *claim is ours: lease_finish() it with "done" or
 * "failed" once recorded, or lease_release() it to leave the course
 * pending. who gets the other member's name when there is one; for
 * SHARE_DONE_ELSEWHERE *their_file the file it wrote (caller frees).
 */
enum share_claim share_claim(struct share *s, int64_t course,
			     const char *file, struct lease **claim,
			     char *who, size_t wholen, char **their_file);

#endif
