/*
 * Which Moodle the archive platform is, and the rules when it is the
 * session's source itself ([archive] platform = same): restore, verify and
 * purge check them before they touch anything.
 */
#ifndef SA_ARCHIVE_SITE_H
#define SA_ARCHIVE_SITE_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct moodle_category;
struct moodle_site;

/*
 * Is arc (the archive platform, read live) the one the configuration
 * means? A second platform must not be the session's source (source_site,
 * from the manifest); with [archive] platform = same, it must be. Returns
 * 0, or SA_EXIT_REFUSED (logged).
 */
int archive_site_check(const struct config *cfg, const char *session,
		       const char *source_site, const struct moodle_site *arc);

/*
 * The tree rule of one platform: the archive category target (where the
 * session's tree is mirrored) is not inside the session's category tree
 * (session_root, from the manifest) and the session's tree is not inside
 * target. cats: the site's categories. Returns 0, or SA_EXIT_REFUSED
 * (logged).
 */
int archive_site_check_tree(const struct moodle_category *cats, size_t n,
			    const char *session, int64_t session_root,
			    int64_t target);

/*
 * The tree rule held against where restore put the session: the target
 * is the parent of its mirrored root (the category restore was given), or
 * that root when it has none. 0 when nothing is mirrored (mirrored_root
 * <= 0 or gone), else archive_site_check_tree()'s answer.
 */
int archive_site_check_mirror(const struct moodle_category *cats, size_t n,
			      const char *session, int64_t session_root,
			      int64_t mirrored_root);

#endif
