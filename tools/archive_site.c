#include "archive_site.h"

#include <string.h>

#include "config.h"
#include "exitcode.h"
#include "log.h"
#include "moodle.h"

static const char *site_label(const struct moodle_site *s)
{
	return s->wwwroot ? s->wwwroot : s->site_hash ? s->site_hash : "?";
}

int archive_site_check(const struct config *cfg, const char *session,
		       const char *source_site, const struct moodle_site *arc)
{
	bool is_source = source_site && arc->site_hash &&
			 strcmp(source_site, arc->site_hash) == 0;

	if (!config_same_platform(cfg) && is_source) {
		log_err("refused: the archive platform (%s) is the source of "
			"session '%s'; to keep the archive in a category of "
			"this same site, set [archive] platform = same",
			site_label(arc), session);
		return SA_EXIT_REFUSED;
	}
	if (config_same_platform(cfg) && !is_source) {
		log_err("refused: [archive] platform = same, but this platform "
			"(%s) is not the one session '%s' was archived from "
			"(site %s)",
			site_label(arc), session,
			source_site ? source_site : "unknown: an old manifest");
		return SA_EXIT_REFUSED;
	}
	return 0;
}

static const char *cat_label(const struct moodle_category *cats, size_t n,
			     int64_t id)
{
	const struct moodle_category *c = moodle_category_find(cats, n, id);

	return c && c->name ? c->name : "?";
}

int archive_site_check_tree(const struct moodle_category *cats, size_t n,
			    const char *session, int64_t session_root,
			    int64_t target)
{
	if (!session_root || !moodle_category_find(cats, n, session_root))
		return 0; /* no source tree on this site to run into */
	if (moodle_category_within(cats, n, target, session_root)) {
		log_err("refused: the archive category %lld '%s' is inside "
			"session '%s''s own category tree (%lld '%s'): the "
			"archive must be outside what it archives",
			(long long)target, cat_label(cats, n, target), session,
			(long long)session_root,
			cat_label(cats, n, session_root));
		return SA_EXIT_REFUSED;
	}
	if (moodle_category_within(cats, n, session_root, target)) {
		log_err("refused: session '%s''s category tree (%lld '%s') is "
			"inside the archive category %lld '%s': originals and "
			"copies would share one tree",
			session, (long long)session_root,
			cat_label(cats, n, session_root), (long long)target,
			cat_label(cats, n, target));
		return SA_EXIT_REFUSED;
	}
	return 0;
}

int archive_site_check_mirror(const struct moodle_category *cats, size_t n,
			      const char *session, int64_t session_root,
			      int64_t mirrored_root)
{
	const struct moodle_category *c =
		mirrored_root > 0 ? moodle_category_find(cats, n, mirrored_root)
				  : NULL;

	if (!c)
		return 0;
	return archive_site_check_tree(cats, n, session, session_root,
				       c->parent ? c->parent : c->id);
}
