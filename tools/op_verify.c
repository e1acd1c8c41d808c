/*
 * The verify operation: the proof that the archive is complete, and the
 * key that unlocks the purge of the source. Both platforms are read live
 * (their databases, or their web services), joined through this tool's own
 * mapping (source id -> backup -> restored id), since Moodle drops course
 * idnumbers on restore.
 *
 * The report goes to the store (.session/verify-<time>.json, and
 * .session/report.txt that the mount shows), to the journal (one "verify"
 * line per course and a "verify_report" line that gate_purge() reads) and
 * from there to the index.
 */
#include "op_verify.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive_site.h"
#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "idx.h"
#include "journal.h"
#include "history.h"
#include "log.h"
#include "manifest.h"
#include "mbz.h"
#include "moodle.h"
#include "printable.h"
#include "readpool.h"
#include "scan.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

enum result { VR_OK, VR_MISSING, VR_FAILED, VR_MISMATCH, VR_NEW, VR_EXTRA, N_VR };
static const char *const result_names[N_VR] = {
	"ok", "missing", "failed", "mismatch", "new", "extra",
};

struct verify {
	const char *session;
	struct manifest man;
	struct history hist;  /* what the journals say of each course */
	json_t *courses;      /* report lines */
	int counts[N_VR];
	int64_t total;
};

/* The story of a course, an empty one when no event names it. */
static const struct course_history *story_of(const struct verify *v,
					     int64_t source_id)
{
	static const struct course_history none;
	const struct course_history *h = history_find(&v->hist, source_id);

	return h ? h : &none;
}

static void report(struct verify *v, enum result r, int64_t source_id,
		   int64_t archive_id, const char *shortname,
		   const char *detail)
{
	json_t *o = json_object();

	v->counts[r]++;
	json_object_set_new(o, "result", json_string(result_names[r]));
	json_object_set_new(o, "source_course_id",
			    source_id ? json_integer(source_id) : json_null());
	json_object_set_new(o, "archive_course_id",
			    archive_id ? json_integer(archive_id)
				       : json_null());
	json_object_set_new(o, "shortname",
			    shortname ? json_string(shortname) : json_null());
	json_object_set_new(o, "detail",
			    detail ? json_string(detail) : json_null());
	json_array_append_new(v->courses, o);
}

/*
 * The name the archive copy must carry: the source's, or the cleaned one
 * restore recorded when the source still has the name Moodle refused.
 */
static const char *expected_name(const char *source, const char *original,
				 const char *cleaned)
{
	return original && cleaned && strcmp(source, original) == 0 ? cleaned
								     : source;
}

/*
 * What the report says of names the archive copy does not carry as the
 * source does: restore cleaned them, or Moodle renamed the copy (a
 * shortname taken on the site gets _N, the fullname " copy N": the rule
 * when the archive is a category of the source itself). NULL: neither.
 */
static char *names_note(const struct moodle_course *src,
			const struct moodle_course *arc, bool cleaned,
			bool renamed)
{
	struct strbuf sb;

	if (!cleaned && !renamed)
		return NULL;
	sb_init(&sb, 256);
	if (cleaned)
		sb_printf(&sb,
			  "names compared as restore cleaned them (Moodle "
			  "refuses tags in course names): '%s' / '%s' on the "
			  "source",
			  src->fullname, src->shortname);
	if (renamed)
		sb_printf(&sb,
			  "%srenamed by Moodle on restore (the name is taken "
			  "on the site): '%s' / '%s' on the archive",
			  cleaned ? "; " : "", arc->fullname, arc->shortname);
	return sb_detach(&sb, NULL);
}

/*
 * Compares a restored course with its source; NULL when they agree. *note:
 * what the report says of a name restore cleaned (caller frees).
 */
static char *compare(const struct moodle_course *src,
		     const struct moodle_course *arc,
		     const struct course_history *m,
		     char **note)
{
	const char *want_short = expected_name(src->shortname,
					       m->original_shortname,
					       m->cleaned_shortname);
	const char *want_full = expected_name(src->fullname,
					      m->original_fullname,
					      m->cleaned_fullname);
	int64_t category = m->category_id;

	*note = names_note(src, arc, want_full != src->fullname ||
					     want_short != src->shortname,
			   strcmp(arc->shortname, want_short) != 0 ||
				   strcmp(arc->fullname, want_full) != 0);
	if (category && arc->category != category)
		return xasprintf("in category %lld on the archive, restored "
				 "into %lld",
				 (long long)arc->category, (long long)category);
	if (!manifest_name_matches(arc->shortname, want_short, "_"))
		return xasprintf("shortname '%s' on the archive, '%s' on the "
				 "source",
				 arc->shortname, want_short);
	if (!manifest_name_matches(arc->fullname, want_full, " copy "))
		return xasprintf("fullname '%s' on the archive, '%s' on the "
				 "source",
				 arc->fullname, want_full);
	if (arc->sections != src->sections)
		return xasprintf("%d sections on the archive, %d on the source",
				 arc->sections, src->sections);
	if (arc->activities != src->activities)
		return xasprintf("%d activities on the archive, %d on the "
				 "source",
				 arc->activities, src->activities);
	return NULL;
}

/*
 * The session's category on the archive: the ancestor of the categories
 * restore used that carries the session's name.
 */
static int64_t mirrored_root(const struct moodle_category *cats, size_t n,
			     const struct verify *v)
{
	int64_t root = 0;

	for (size_t k = 0; k < v->hist.n && !root; k++)
		root = moodle_category_ancestor_named(cats, n,
						      v->hist.v[k].category_id,
						      v->man.root_name);
	return root;
}

/*
 * The session's category on the archive (*root, -1 when the categories
 * cannot be read), from one read of them; with [archive] platform = same
 * the tree rule is held against it too. 0, SA_EXIT_REFUSED or
 * SA_EXIT_UNREACHABLE (logged).
 */
static int archive_tree(const struct config *cfg, struct moodle *arc,
			const struct verify *v, int64_t *root)
{
	struct moodle_category *cats = NULL;
	size_t n = 0;
	int rc = 0;

	*root = -1;
	if (moodle_categories(arc, &cats, &n) < 0) {
		if (!config_same_platform(cfg))
			return 0; /* the extra courses go unlisted */
		log_err("cannot read the categories: %s", moodle_error(arc));
		return SA_EXIT_UNREACHABLE;
	}
	*root = mirrored_root(cats, n, v);
	if (config_same_platform(cfg))
		rc = archive_site_check_mirror(cats, n, v->session,
					       v->man.root_id, *root);
	moodle_categories_free(cats, n);
	return rc;
}

static bool category_exists(struct moodle *m, int64_t id)
{
	struct moodle_category *cats = NULL;
	size_t n = 0;
	bool found = false;

	/* an unreadable list is not "gone": let the real call report it */
	if (moodle_categories(m, &cats, &n) < 0)
		return true;
	found = moodle_category_find(cats, n, id) != NULL;
	moodle_categories_free(cats, n);
	return found;
}

/* Where a course is on each side: the trees must match one for one. */
struct placed {
	int64_t course, source_category, archive_category;
};

/*
 * NULL when the course's categories keep the source's tree so far: one
 * source category is one archive category, and the other way round (two
 * sibling categories of the same name merged into one break this).
 */
static char *tree_mismatch(const struct placed *seen, size_t n,
			   const struct placed *p)
{
	for (size_t i = 0; i < n; i++) {
		const struct placed *o = &seen[i];

		if (o->source_category == p->source_category &&
		    o->archive_category != p->archive_category)
			return xasprintf("in archive category %lld, but "
					 "course %lld of the same source "
					 "category %lld is in %lld",
					 (long long)p->archive_category,
					 (long long)o->course,
					 (long long)p->source_category,
					 (long long)o->archive_category);
		if (o->archive_category == p->archive_category &&
		    o->source_category != p->source_category)
			return xasprintf("in archive category %lld with course "
					 "%lld, but they are in two source "
					 "categories (%lld and %lld)",
					 (long long)p->archive_category,
					 (long long)o->course,
					 (long long)p->source_category,
					 (long long)o->source_category);
	}
	return NULL;
}

static bool placed_pair(const struct placed *seen, size_t n,
			const struct placed *p)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i].source_category == p->source_category &&
		    seen[i].archive_category == p->archive_category)
			return true;
	return false;
}

/*
 * root: the session's category on the archive (archive_tree()). 0, -1
 * when a platform fails, -2 when the source category is gone.
 */
static int compare_platforms(struct moodle *src, struct moodle *arc,
			     int64_t root, struct verify *v)
{
	struct moodle_course *courses = NULL, *extra = NULL;
	struct placed *placed = NULL;
	size_t n = 0, n_extra = 0, n_placed = 0;
	int rc = 0;

	if (!v->man.root_id)
		return log_err("the manifest of '%s' does not name the "
			       "session's category on the source (archived "
			       "by an older version?)",
			       v->session);
	if (!category_exists(src, v->man.root_id)) {
		log_err("the session's category (id %lld) is no longer on the "
			"source platform (purged?): nothing to compare",
			(long long)v->man.root_id);
		return -2;
	}
	if (moodle_courses_in(src, v->man.root_id, true, &courses, &n) < 0)
		return log_err("source platform: %s", moodle_error(src));
	/* the copies under the session's tree in one read, not one a course */
	if (root > 0 &&
	    moodle_courses_in(arc, root, true, &extra, &n_extra) < 0) {
		moodle_courses_free(courses, n);
		return log_err("archive platform: %s", moodle_error(arc));
	}
	placed = xcalloc(n + 1, sizeof(*placed));
	for (size_t i = 0; i < n; i++) {
		struct moodle_course *c = &courses[i];
		struct manifest_course *mc = manifest_find(&v->man, c->id);
		const struct course_history *m = story_of(v, c->id);
		const struct moodle_course *a;
		struct moodle_course fetched = { 0 };
		char *why, *note;
		int got = 0;

		v->total++;
		if (!mc && m->error) {
			report(v, VR_FAILED, c->id, 0, c->shortname, m->error);
			continue;
		}
		if (!mc) {
			report(v, VR_NEW, c->id, 0, c->shortname,
			       "in the source category, not in the archive "
			       "(created after it)");
			continue;
		}
		/* in the archive but not restored: missing, whatever the cause */
		if (!m->archive_id) {
			why = m->error ? xasprintf("backed up, not restored: "
						   "%s",
						   m->error)
				       : NULL;
			report(v, VR_MISSING, c->id, 0, c->shortname,
			       why ? why : "backed up but never restored");
			free(why);
			continue;
		}
		/* a copy moved out of the tree is read on its own */
		a = moodle_courses_find(extra, n_extra, m->archive_id);
		if (!a) {
			got = moodle_course_get(arc, m->archive_id, &fetched);
			a = &fetched;
		}
		if (got < 0) {
			rc = log_err("archive platform: %s", moodle_error(arc));
			break;
		}
		if (got == 1) {
			why = xasprintf("restored as %lld, which is gone from "
					"the archive platform",
					(long long)m->archive_id);
			report(v, VR_MISMATCH, c->id, m->archive_id,
			       c->shortname, why);
			free(why);
			continue;
		}
		why = compare(c, a, m, &note);
		if (!why) {
			struct placed *p = &placed[n_placed];

			*p = (struct placed){ .course = c->id,
					      .source_category = c->category,
					      .archive_category = a->category };
			why = tree_mismatch(placed, n_placed, p);
			/* one line per pair of categories: as many as there
			   are categories, not courses */
			if (!placed_pair(placed, n_placed, p))
				n_placed++;
		}
		report(v, why ? VR_MISMATCH : VR_OK, c->id, m->archive_id,
		       c->shortname, why ? why : note);
		free(why);
		free(note);
		moodle_course_release(&fetched);
	}
	/* backed up but no longer on the source: missing if not restored */
	for (size_t k = 0; k < v->man.n && rc == 0; k++) {
		if (!moodle_courses_find(courses, n, v->man.v[k].id) &&
		    !story_of(v, v->man.v[k].id)->archive_id) {
			v->total++;
			report(v, VR_MISSING, v->man.v[k].id, 0,
			       v->man.v[k].shortname,
			       "archived, never restored, and gone from the "
			       "source");
		}
	}
	for (size_t i = 0; i < n_extra && rc == 0; i++) {
		if (!history_find_copy(&v->hist, extra[i].id))
			report(v, VR_EXTRA, 0, extra[i].id, extra[i].shortname,
			       "under the session on the archive, restored "
			       "from no source course");
	}
	moodle_courses_free(extra, n_extra);
	free(placed);
	moodle_courses_free(courses, n);
	return rc;
}

struct deep {
	struct verify *v;
	char **paths;
};

static int on_deep(void *ctx, size_t i, int rc, const struct mbz_info *info,
		   const char *err)
{
	struct deep *d = ctx;
	struct manifest_course *mc = &d->v->man.v[i];
	char *why = NULL;

	if (rc != 0)
		why = xasprintf("backup '%s' unreadable: %s", mc->file, err);
	else if (strcmp(info->sha256, mc->sha256) != 0)
		why = xasprintf("backup '%s' differs from the manifest "
				"(SHA-256)",
				mc->file);
	if (why) {
		/*
		 * A course already counted ok is downgraded; one already
		 * counted otherwise gets the reason added, not a second line.
		 */
		json_t *o;
		size_t k;
		bool seen = false;

		json_array_foreach(d->v->courses, k, o) {
			const char *det;
			char *both;

			if (json_integer_value(json_object_get(
				    o, "source_course_id")) != mc->id)
				continue;
			seen = true;
			if (strcmp(json_string_value(json_object_get(
					   o, "result")),
				   "ok") == 0) {
				json_object_set_new(o, "result",
						    json_string("mismatch"));
				json_object_set_new(o, "detail",
						    json_string(why));
				d->v->counts[VR_OK]--;
				d->v->counts[VR_MISMATCH]++;
				continue;
			}
			det = json_string_value(json_object_get(o, "detail"));
			both = xasprintf("%s; %s", det ? det : "", why);
			json_object_set_new(o, "detail", json_string(both));
			free(both);
		}
		if (!seen) {
			d->v->total++;
			report(d->v, VR_MISMATCH, mc->id, 0, mc->shortname,
			       why);
		}
		free(why);
	}
	return 0;
}

static int deep_check(struct store *st, struct verify *v)
{
	struct deep d = { .v = v };
	int rc;

	d.paths = xcalloc(v->man.n + 1, sizeof(*d.paths));
	for (size_t i = 0; i < v->man.n; i++)
		d.paths[i] = xasprintf("%s/%s/%s", store_path(st), v->session,
				       v->man.v[i].file);
	rc = readpool_run(d.paths, v->man.n, MBZ_FULL, 0, on_deep, &d);
	for (size_t i = 0; i < v->man.n; i++)
		free(d.paths[i]);
	free(d.paths);
	return rc;
}

static char *report_text(struct verify *v, bool passed)
{
	struct strbuf sb;
	json_t *o;
	size_t i;
	bool first = true;

	sb_init(&sb, 0);
	if (passed) {
		sb_printf(&sb, "PASS %d/%lld\n", v->counts[VR_OK],
			  (long long)v->total);
	} else {
		sb_adds(&sb, "FAIL:");
		for (int r = VR_MISSING; r < N_VR; r++) {
			if (!v->counts[r])
				continue;
			sb_printf(&sb, "%s %d %s", first ? "" : ",",
				  v->counts[r], result_names[r]);
			first = false;
		}
		sb_addch(&sb, '\n');
	}
	json_array_foreach(v->courses, i, o) {
		const char *r = json_string_value(json_object_get(o, "result"));
		json_t *sid = json_object_get(o, "source_course_id");
		json_t *aid = json_object_get(o, "archive_course_id");
		json_t *sn = json_object_get(o, "shortname");
		json_t *det = json_object_get(o, "detail");

		char s_id[32] = "-", a_id[32] = "-";

		/* an ok course is listed only when it has a note */
		if (strcmp(r, "ok") == 0 && !json_is_string(det))
			continue;
		if (json_is_integer(sid))
			snprintf(s_id, sizeof(s_id), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(sid));
		if (json_is_integer(aid))
			snprintf(a_id, sizeof(a_id), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(aid));
		sb_printf(&sb, "%-8s source %s archive %s  ", r, s_id, a_id);
		/* names and details come from both Moodles: escaped */
		printable_add(&sb, json_is_string(sn) ? json_string_value(sn)
						      : "-", 0);
		sb_adds(&sb, ": ");
		if (json_is_string(det))
			printable_add(&sb, json_string_value(det), 0);
		sb_addch(&sb, '\n');
	}
	return sb_detach(&sb, NULL);
}

static const char verify_help[] =
	"Compare the session's category on the source platform with the\n"
	"courses restored on the archive platform, both read live.\n"
	"  --deep  also re-hash every backup in the store against the manifest\n"
	"  --json  the report as JSON\n"
	"Exit 0 only when the verify passes.\n";

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "deep", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	static const char synopsis[] = "SESSION [--deep] [--json]";
	const struct config *cfg;
	struct verify v = { 0 };
	struct scan_options so = { .quiet = true };
	struct lease_holder taken_from = { 0 };
	struct lease *lease = NULL;
	struct scan_stats stats;
	struct moodle *src = NULL, *arc = NULL;
	struct moodle_site site = { 0 };
	struct store *st;
	struct idx *idx = NULL;
	bool deep = false, passed;
	char err[1024], name[64], *text = NULL, *journal = NULL, *js;
	char *summary = NULL;
	json_t *out = NULL;
	int c, rc, code, metafd = -1, logfd = -1;
	int64_t session_id, arc_root;
	time_t now = time(NULL);
	struct tm tm;

	while ((c = cli_getopt(cli, argc, argv, "", opts, true)) != -1) {
		if (c == 'h') {
			printf("usage: sessionarchiver verify %s\n\n%s",
			       synopsis, verify_help);
			return SA_EXIT_OK;
		}
		if (c != 'D')
			return cli_usage(cli, synopsis);
		deep = true;
	}
	if (argc - optind != 1)
		return cli_usage(cli, synopsis);
	v.session = argv[optind];
	if (!(cfg = cli_config(cli)))
		return SA_EXIT_USAGE;
	if (!(st = cli_open_store(cli, &rc)))
		return rc;
	rc = SA_EXIT_FAILURE;
	if (!(idx = cli_open_index(cli, st)))
		goto out_free;
	/* the lease first: a restore or purge must not move under it */
	metafd = journal_open_meta(store_dirfd(st), v.session);
	if (metafd >= 0 &&
	    !(lease = cli_session_lease(cli, metafd, v.session, "verify",
					&taken_from, &rc)))
		goto out_free;
	rc = SA_EXIT_FAILURE;
	so.only = v.session;
	if (scan_store(idx, st, &so, &stats) < 0)
		goto out_free;
	session_id = idx_session_find(idx, v.session);
	if (session_id <= 0 || metafd < 0 ||
	    manifest_load(metafd, v.session, &v.man) < 0 || v.man.n == 0) {
		log_err("no archived session '%s' in the store", v.session);
		goto out_free;
	}
	logfd = cli_session_log(metafd);
	if (history_load(idx, session_id, &v.hist) < 0)
		goto out_free;
	src = moodle_open(&cfg->source, &code, err, sizeof(err));
	if (!src) {
		log_err("source platform: %s", err);
		rc = code == MOODLE_ERR_CONFIG ? SA_EXIT_USAGE
					       : SA_EXIT_UNREACHABLE;
		goto out_free;
	}
	arc = moodle_open(&cfg->archive, &code, err, sizeof(err));
	if (!arc) {
		log_err("archive platform: %s", err);
		rc = code == MOODLE_ERR_CONFIG ? SA_EXIT_USAGE
					       : SA_EXIT_UNREACHABLE;
		goto out_free;
	}
	if (moodle_site(arc, &site) == 0 && site.site_hash &&
	    (rc = archive_site_check(cfg, v.session, v.man.source_site,
				     &site)) != 0)
		goto out_free;
	if ((rc = archive_tree(cfg, arc, &v, &arc_root)) != 0)
		goto out_free;
	rc = SA_EXIT_FAILURE;
	v.courses = json_array();
	if ((code = compare_platforms(src, arc, arc_root, &v)) < 0) {
		rc = code == -2 ? SA_EXIT_FAILURE : SA_EXIT_UNREACHABLE;
		goto out_free;
	}
	if (deep && deep_check(st, &v) < 0)
		goto out_free;
	passed = v.counts[VR_OK] == v.total && !v.counts[VR_EXTRA] &&
		 !v.counts[VR_MISMATCH];
	text = report_text(&v, passed);
	summary = xstrndup(text, strcspn(text, "\n"));

	/* the journal of the platform that ran it */
	if (!site.site_hash) {
		moodle_site_release(&site);
		moodle_site(src, &site);
	}
	journal = journal_archive_name(site.site_hash ? site.site_hash
						      : "verify",
				       config_same_platform(cfg));
	cli_note_takeover(metafd, journal, "verify", &taken_from);
	out = json_pack("{s:s, s:I, s:b, s:b, s:I, s:{s:i, s:i, s:i, s:i,"
			" s:i, s:i}, s:s, s:O}",
			"session", v.session, "time", (json_int_t)now, "passed",
			passed, "deep", deep, "total", (json_int_t)v.total,
			"counts", "ok", v.counts[VR_OK], "missing",
			v.counts[VR_MISSING], "failed", v.counts[VR_FAILED],
			"mismatch", v.counts[VR_MISMATCH], "new",
			v.counts[VR_NEW], "extra", v.counts[VR_EXTRA], "summary",
			summary, "courses", v.courses);
	localtime_r(&now, &tm);
	strftime(name, sizeof(name), "verify-%Y%m%dT%H%M%S.json", &tm);
	js = json_dumps(out, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (store_write_atomic(metafd, name, js, strlen(js), 0644) < 0 ||
	    store_write_atomic(metafd, "report.txt", text, strlen(text),
			       0644) < 0)
		log_err("cannot write the report into the store: %s",
			strerror(errno));
	free(js);
	{
		json_t *o;
		size_t i;

		json_array_foreach(v.courses, i, o) {
			json_t *sid = json_object_get(o, "source_course_id");

			if (!json_is_integer(sid))
				continue;
			json_t *ev = json_pack(
				"{s:s, s:s?, s:O, s:O}", "event", "verify",
				"site", site.site_hash, "source_course_id", sid,
				"result", json_object_get(o, "result"));
			journal_append(metafd, journal, ev);
			json_decref(ev);
		}
		json_t *ev = json_pack("{s:s, s:s?, s:b, s:s, s:O}", "event",
				       "verify_report", "site", site.site_hash,
				       "passed", passed, "report", name,
				       "counts", json_object_get(out, "counts"));
		if (journal_append(metafd, journal, ev) < 0)
			log_err("cannot write the journal: %s",
				strerror(errno));
		json_decref(ev);
	}
	scan_session_feeds(idx, st, v.session, 0);
	if (cli->json) {
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		fputs(text, stdout);
	}
	rc = passed ? SA_EXIT_OK : SA_EXIT_FAILURE;

out_free:
	free(summary);
	json_decref(out);
	json_decref(v.courses);
	free(text);
	free(journal);
	moodle_site_release(&site);
	history_release(&v.hist);
	manifest_release(&v.man);
	moodle_free(src);
	moodle_free(arc);
	cli_session_log_close(logfd);
	lease_holder_release(&taken_from);
	lease_release(lease);
	if (metafd >= 0)
		close(metafd);
	idx_free(idx);
	store_free(st);
	return rc;
}
