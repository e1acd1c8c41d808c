/*
 * The problems found are the manifest's word against the file's: the
 * manifest was written by the archive run that made the file, so any
 * difference means the store changed since (bit rot, a copy cut short, a
 * file put there by hand).
 */
#include "restore_check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "mbz.h"
#include "readpool.h"
#include "xalloc.h"

struct check_run {
	struct restore_check_item *v;
	const char *source_site;
	size_t problems;
};

static char *backup_problem(const struct check_run *cr,
			    const struct manifest_course *mc, int rc,
			    const struct mbz_info *info, const char *err)
{
	if (rc != 0)
		return xasprintf("the backup is unreadable: %s", err);
	if (mc->sha256 && strcmp(mc->sha256, info->sha256) != 0)
		return xasprintf("checksum mismatch: SHA-256 %s, the manifest "
				 "says %s",
				 info->sha256, mc->sha256);
	if (!info->have_backup_xml)
		return xstrdup("no moodle_backup.xml: not a Moodle course "
			       "backup");
	if (info->original_course_id != mc->id)
		return xasprintf("a backup of course %" PRId64 ", not of "
				 "course %" PRId64,
				 info->original_course_id, mc->id);
	if (cr->source_site && info->original_site_identifier_hash &&
	    strcmp(cr->source_site, info->original_site_identifier_hash) != 0)
		return xasprintf("made on another site (site hash %s), not on "
				 "the session's source (%s)",
				 info->original_site_identifier_hash,
				 cr->source_site);
	return NULL;
}

static int on_backup(void *ctx, size_t i, int rc, const struct mbz_info *info,
		     const char *err)
{
	struct check_run *cr = ctx;
	struct restore_check_item *it = &cr->v[i];

	it->problem = backup_problem(cr, it->mc, rc, info, err);
	cr->problems += it->problem != NULL;
	return 0;
}

size_t restore_check(struct restore_check_item *v, size_t n,
		     const char *source_site)
{
	struct check_run cr = { .v = v, .source_site = source_site };
	char **paths = xcalloc(n + 1, sizeof(*paths));

	for (size_t i = 0; i < n; i++)
		paths[i] = v[i].path;
	/* on_backup never stops the pool: every backup is read */
	readpool_run(paths, n, MBZ_FULL, 0, on_backup, &cr);
	free(paths);
	return cr.problems;
}
