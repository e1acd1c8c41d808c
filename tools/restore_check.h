/*
 * restore_check: before a restore creates anything on the archive
 * platform, each backup it is about to restore is read once, on one thread
 * per CPU, and held against the manifest: readable to its end, the SHA-256
 * the manifest recorded, a backup of the course and of the source site the
 * manifest names. A bad store is found before a half-made tree is.
 */
#ifndef SA_RESTORE_CHECK_H
#define SA_RESTORE_CHECK_H

#include <stddef.h>

struct manifest_course;

struct restore_check_item {
	const struct manifest_course *mc;
	char *path;             /* the backup in the store, caller's */
	char *problem;          /* set by restore_check(), free()d by caller */
};

/*
 * Checks v[0..n). source_site: the md5 of the source's siteidentifier the
 * manifest recorded, NULL when unknown (no site check then). Returns how
 * many items got a problem.
 */
size_t restore_check(struct restore_check_item *v, size_t n,
		   const char *source_site);

#endif
