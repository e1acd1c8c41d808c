/*
 * The purge operation: deleting an outgoing category and its courses,
 * through Moodle's API in the bridge's workers (delete_course() with
 * course/lib.php loaded, which Moodle 4.5's admin/cli/delete_course.php
 * lacks; then the emptied categories, bottom up).
 *
 * Source side: only courses that the latest verify saw "ok", only after a
 * passing verify newer than the last restore (gate_purge()), and each one
 * checked live on the archive platform just before it goes. Archive side:
 * the session's subtree on the archive platform (an old session past its
 * retention), no verify needed. Preview lists exactly what would go and
 * what is kept back; a dry run goes through the whole run (window, jobs,
 * status, mails, journal lines marked dry_run) deleting nothing.
 */
#include "op_purge.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive_site.h"
#include "child.h"
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "exitcode.h"
#include "gate.h"
#include "history.h"
#include "idx.h"
#include "journal.h"
#include "lifecycle.h"
#include "log.h"
#include "outage.h"
#include "manifest.h"
#include "moodle.h"
#include "printable.h"
#include "runner.h"
#include "runs.h"
#include "scan.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

enum mode { MODE_PREVIEW, MODE_DRY_RUN, MODE_CONFIRM };

struct victim {
	int64_t id;          /* the course to delete, on its platform */
	int64_t source_id;   /* its source course id (0 when unknown) */
	int64_t archive_id;  /* where it lives on the archive (source side) */
	char *shortname, *fullname;
	int64_t estimate;
	bool deleted;
};

struct kept {
	int64_t id;
	char *shortname;
	char *why;
};

struct purge {
	struct cli *cli;
	const struct config *cfg;
	const char *session;
	bool source;         /* which side */
	enum mode mode;
	bool remove_backups;
	bool no_wait;
	struct store *store;
	struct idx *idx;
	int64_t session_id;
	int metafd;
	struct manifest man;
	struct history hist; /* what the journals say of each course */
	struct moodle *m;    /* the platform purged */
	struct moodle *arc;  /* the archive, for live checks (source side) */
	pthread_mutex_t arc_lock; /* guards arc: workers check courses */
	struct moodle_site site;
	char *journal;
	int64_t root;        /* the session's category on m */
	struct moodle_category *cats;
	size_t n_cats;
	struct victim *v;
	size_t n;
	struct kept *k;
	size_t n_kept;
	bool purged_already; /* the session's category is gone from m */
	struct bridge_opts bo;
	struct bridge_pool *pool;
};

/* One request to a worker of the pool. job may be NULL. */
static json_t *ask_worker(struct purge *p, struct engine_job *job,
			  json_t *request, unsigned timeout_s, char *err,
			  size_t errlen)
{
	struct bridge_call call = { .timeout_s = timeout_s,
				    .running_pid = job ? &job->pid : NULL };

	return bridge_pool_ask(p->pool, request, &call, err, errlen);
}

static void keep(struct purge *p, int64_t id, const char *shortname,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void keep(struct purge *p, int64_t id, const char *shortname,
		 const char *fmt, ...)
{
	struct kept *k;
	va_list ap;

	p->k = xrealloc(p->k, (p->n_kept + 1) * sizeof(*p->k));
	k = &p->k[p->n_kept++];
	k->id = id;
	k->shortname = xstrdup(shortname ? shortname : "");
	va_start(ap, fmt);
	if (vasprintf(&k->why, fmt, ap) < 0)
		k->why = xstrdup("?");
	va_end(ap);
}

static void add_victim(struct purge *p, const struct moodle_course *c,
		       int64_t source_id, int64_t archive_id)
{
	struct victim *v;

	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	v = &p->v[p->n++];
	memset(v, 0, sizeof(*v));
	v->id = c->id;
	v->source_id = source_id;
	v->archive_id = archive_id;
	v->shortname = xstrdup(c->shortname);
	v->fullname = xstrdup(c->fullname);
	v->estimate = c->estimate;
}

/* This side's purge is recorded for the course. */
static bool purged_here(const struct purge *p, const struct course_history *h)
{
	return p->source ? h->purged_source : h->purged_archive;
}

/*
 * The session's category on the archive: where restore put it. *recorded:
 * the category a restore recorded (0: none), which may be gone.
 */
static int64_t find_archive_root(struct purge *p, int64_t *recorded)
{
	*recorded = p->hist.latest_category;
	/* climb to the ancestor that carries the session's name */
	return moodle_category_ancestor_named(p->cats, p->n_cats, *recorded,
					      p->man.root_name);
}

/*
 * [archive] platform = same: the tree rule, held against where restore
 * put the session (nothing to hold it against before a restore). 0 or
 * SA_EXIT_REFUSED (logged).
 */
static int check_same_tree(struct purge *p)
{
	int64_t recorded;

	return archive_site_check_mirror(p->cats, p->n_cats, p->session,
					 p->man.root_id,
					 find_archive_root(p, &recorded));
}

static int select_source(struct purge *p)
{
	struct moodle_course *list = NULL;
	const struct history *h = &p->hist;
	int64_t *copies = NULL;
	size_t n = 0, n_copies = 0;

	p->root = p->man.root_id;
	if (!p->root)
		return log_err("the manifest of '%s' does not name the "
			       "session's category on the source",
			       p->session);
	if (history_copies_on_site(p->idx, p->site.site_hash, &copies,
				   &n_copies) < 0)
		return -1;
	p->purged_already = !moodle_category_find(p->cats, p->n_cats, p->root);
	if (!p->purged_already &&
	    moodle_courses_in(p->m, p->root, true, &list, &n) < 0) {
		free(copies);
		return log_err("source platform: %s", moodle_error(p->m));
	}
	for (size_t i = 0; i < n; i++) {
		const struct moodle_course *c = &list[i];
		const struct course_history *s = history_find(h, c->id);

		if (history_is_copy(copies, n_copies, c->id))
			keep(p, c->id, c->shortname,
			     "a restored copy (a restore made it on this "
			     "site), not an original");
		else if (!manifest_find(&p->man, c->id) && s && s->backup_failed)
			keep(p, c->id, c->shortname,
			     "not in the archive: its backup failed");
		else if (!manifest_find(&p->man, c->id))
			keep(p, c->id, c->shortname,
			     "new: not in the archive (created after it)");
		else if (!s || !s->verify_result[0])
			keep(p, c->id, c->shortname,
			     "never verified: run verify first");
		else if (strcmp(s->verify_result, "ok") != 0)
			keep(p, c->id, c->shortname,
			     "the latest verify saw it '%s'", s->verify_result);
		else if (!s->archive_id)
			keep(p, c->id, c->shortname,
			     "no restored copy is recorded");
		else
			add_victim(p, c, c->id, s->archive_id);
	}
	/*
	 * Verified, gone from the source, no purge recorded: a run killed
	 * between the delete and its journal line. Deleting it again finds
	 * nothing ("gone"), and records it.
	 */
	for (size_t k = 0; k < h->n; k++) {
		const struct course_history *s = &h->v[k];
		const struct manifest_course *mc;
		struct moodle_course gone = { 0 };

		mc = manifest_find(&p->man, s->source_id);
		if (!mc || purged_here(p, s) || !s->archive_id ||
		    strcmp(s->verify_result, "ok") != 0 ||
		    moodle_courses_find(list, n, s->source_id) ||
		    history_is_copy(copies, n_copies, mc->id))
			continue;
		gone.id = mc->id;
		gone.shortname = mc->shortname ? mc->shortname : "";
		gone.fullname = mc->fullname ? mc->fullname : "";
		add_victim(p, &gone, mc->id, s->archive_id);
	}
	moodle_courses_free(list, n);
	free(copies);
	return 0;
}

static int select_archive(struct purge *p)
{
	struct moodle_course *list = NULL;
	const struct history *h = &p->hist;
	size_t n = 0;
	int64_t recorded;

	p->root = find_archive_root(p, &recorded);
	if (p->root <= 0 && !recorded)
		return log_err("cannot find session '%s' on the archive "
			       "platform (no restore recorded)",
			       p->session);
	p->purged_already = p->root <= 0;
	if (!p->purged_already &&
	    moodle_courses_in(p->m, p->root, true, &list, &n) < 0)
		return log_err("archive platform: %s", moodle_error(p->m));
	for (size_t i = 0; i < n; i++) {
		const struct course_history *s =
			history_find_copy(h, list[i].id);

		/* on its own source, the archive side holds copies only */
		if (!s && config_same_platform(p->cfg))
			keep(p, list[i].id, list[i].shortname,
			     "not a restored copy of session '%s'",
			     p->session);
		else
			add_victim(p, &list[i], s ? s->source_id : 0,
				   list[i].id);
	}
	/*
	 * Restored copies gone already but never recorded as purged (a run
	 * killed between the delete and its journal line): the bridge answers
	 * "gone", which records them.
	 */
	for (size_t k = 0; k < h->n; k++) {
		const struct course_history *s = &h->v[k];
		const struct manifest_course *mc;
		struct moodle_course gone = { 0 };

		if (!s->archive_id || purged_here(p, s) ||
		    moodle_courses_find(list, n, s->archive_id))
			continue;
		/* moved out of the session's tree is not gone: it stays */
		if (moodle_course_get(p->m, s->archive_id, &gone) != 1) {
			moodle_course_release(&gone);
			continue;
		}
		memset(&gone, 0, sizeof(gone));
		mc = manifest_find(&p->man, s->source_id);
		gone.id = s->archive_id;
		gone.shortname = mc && mc->shortname ? mc->shortname : "?";
		gone.fullname = mc && mc->fullname ? mc->fullname : "?";
		add_victim(p, &gone, s->source_id, s->archive_id);
	}
	moodle_courses_free(list, n);
	return 0;
}

/* The session's categories on m, deepest first. */
static size_t subtree(struct purge *p, int64_t **out)
{
	size_t n = 0;

	*out = xcalloc(p->n_cats + 1, sizeof(**out));
	for (int depth = 64; depth >= 0; depth--) {
		for (size_t i = 0; i < p->n_cats; i++) {
			int64_t id = p->cats[i].id;
			bool inside = false;

			if (p->cats[i].depth != depth)
				continue;
			for (int guard = 0; id && guard < 64 && !inside;
			     guard++) {
				size_t k;

				inside = id == p->root;
				for (k = 0; k < p->n_cats && p->cats[k].id != id;
				     k++)
					;
				id = k < p->n_cats ? p->cats[k].parent : 0;
			}
			if (inside)
				(*out)[n++] = p->cats[i].id;
		}
	}
	return n;
}

static const char *cat_name(const struct purge *p, int64_t id)
{
	const struct moodle_category *c =
		moodle_category_find(p->cats, p->n_cats, id);

	return c ? c->name_path : "?";
}

static json_t *preview_json(struct purge *p)
{
	json_t *o = json_object(), *del = json_array(), *kept = json_array(),
	       *cats = json_array();
	int64_t *ids, total = 0;
	size_t n = subtree(p, &ids);

	for (size_t i = 0; i < p->n; i++) {
		json_array_append_new(
			del, json_pack("{s:I, s:I, s:s, s:s, s:I}", "id",
				       (json_int_t)p->v[i].id,
				       "source_course_id",
				       (json_int_t)p->v[i].source_id,
				       "shortname", p->v[i].shortname,
				       "fullname", p->v[i].fullname, "size",
				       (json_int_t)p->v[i].estimate));
		total += p->v[i].estimate;
	}
	for (size_t i = 0; i < p->n_kept; i++)
		json_array_append_new(
			kept, json_pack("{s:I, s:s, s:s}", "id",
					(json_int_t)p->k[i].id, "shortname",
					p->k[i].shortname, "reason",
					p->k[i].why));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			cats, json_pack("{s:I, s:s}", "id", (json_int_t)ids[i],
					"path", cat_name(p, ids[i])));
	free(ids);
	json_object_set_new(o, "session", json_string(p->session));
	json_object_set_new(o, "side",
			    json_string(p->source ? "source" : "archive"));
	json_object_set_new(o, "courses", del);
	json_object_set_new(o, "bytes", json_integer(total));
	json_object_set_new(o, "kept", kept);
	json_object_set_new(o, "categories", cats);
	json_object_set_new(o, "note",
			    json_string("categories are deleted last, bottom "
					"up, and only when empty"));
	return o;
}

/* A string of the preview, escaped: it names Moodle's courses. */
static void add_str(struct strbuf *sb, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	printable_add(sb, v ? v : "-", 0);
}

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void print_preview(struct purge *p)
{
	json_t *o = preview_json(p), *x;
	struct strbuf sb;
	size_t i;

	if (p->cli->json) {
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
		return;
	}
	sb_init(&sb, 0);
	sb_adds(&sb, "purge preview: session ");
	printable_add(&sb, p->session, 0);
	sb_printf(&sb, ", %s side\n", p->source ? "source" : "archive");
	sb_printf(&sb, "courses to delete (%zu, %lld bytes of files):\n",
		  json_array_size(json_object_get(o, "courses")),
		  num(o, "bytes"));
	json_array_foreach(json_object_get(o, "courses"), i, x) {
		sb_printf(&sb, "  %8lld  %10lld  ", num(x, "id"),
			  num(x, "size"));
		add_str(&sb, x, "shortname");
		sb_adds(&sb, "  (");
		add_str(&sb, x, "fullname");
		sb_adds(&sb, ")\n");
	}
	sb_printf(&sb,
		  "categories to delete when empty, deepest first (%zu):\n",
		  json_array_size(json_object_get(o, "categories")));
	json_array_foreach(json_object_get(o, "categories"), i, x) {
		sb_printf(&sb, "  %8lld  ", num(x, "id"));
		add_str(&sb, x, "path");
		sb_addch(&sb, '\n');
	}
	sb_printf(&sb, "kept back (%zu):\n",
		  json_array_size(json_object_get(o, "kept")));
	json_array_foreach(json_object_get(o, "kept"), i, x) {
		sb_printf(&sb, "  %8lld  ", num(x, "id"));
		add_str(&sb, x, "shortname");
		sb_adds(&sb, ": ");
		add_str(&sb, x, "reason");
		sb_addch(&sb, '\n');
	}
	fputs(sb.buf, stdout);
	sb_release(&sb);
	json_decref(o);
}

/*
 * Moodle's words for a transaction the database rolled back on its own:
 * two deletes at once met on one lock. The delete picks up where it was
 * (delete_course() finishes a half-deleted course).
 */
static bool transient_db_error(const char *why)
{
	return strstr(why, "Deadlock found") ||
	       strstr(why, "Lock wait timeout exceeded") ||
	       strstr(why, "deadlock detected");
}

static enum engine_outcome purge_run(void *ctx, struct engine_item *it,
				     struct engine_job *job, char *err,
				     size_t errlen)
{
	struct purge *p = ctx;
	struct victim *v = it->data;
	struct moodle_course c;
	char why[1024];
	json_t *answer;
	int got;

	/* the rule of the source side, checked live, just before */
	if (p->source) {
		pthread_mutex_lock(&p->arc_lock);
		got = moodle_course_get(p->arc, v->archive_id, &c);
		pthread_mutex_unlock(&p->arc_lock);
		if (got < 0)
			return engine_fail(err, errlen,
				      "kept: cannot check the archive: %s",
				      moodle_error(p->arc));
		if (got == 1)
			return engine_fail(err, errlen,
				      "kept: its restored copy %lld is no "
				      "longer on the archive platform",
				      (long long)v->archive_id);
		moodle_course_release(&c);
	}
	if (p->mode == MODE_DRY_RUN) {
		log_msg(LOG_NOTICE, "dry run: would delete course %lld '%s'",
			(long long)v->id, v->shortname);
		return ENGINE_DONE;
	}
	for (int attempt = 1;; attempt++) {
		answer = ask_worker(p, job,
				    json_pack("{s:s, s:I}", "command",
					      "delete-course", "id",
					      (json_int_t)v->id),
				    p->cfg->jobs.timeout, why, sizeof(why));
		if (answer || attempt == 3 || atomic_load(&job->abort) ||
		    !transient_db_error(why))
			break;
		log_warn("course %lld: the database gave up a transaction "
			 "(%s): deleting it again",
			 (long long)v->id, why);
		sleep((unsigned)attempt);
	}
	if (atomic_load(&job->abort)) {
		json_decref(answer);
		return ENGINE_ABORTED;
	}
	if (!answer)
		return engine_fail(err, errlen, "Moodle did not delete it: %s",
				   why);
	/* else "gone": deleted by a run killed before its journal line */
	v->deleted = json_object_get(answer, "deleted") != NULL;
	log_info("course %lld %s", (long long)v->id,
		 v->deleted ? "deleted" : "was gone already");
	json_decref(answer);
	return ENGINE_DONE;
}

static enum engine_outcome purge_done(void *ctx, struct engine_item *it,
				      enum engine_outcome outcome, char *err,
				      size_t errlen)
{
	struct purge *p = ctx;
	struct victim *v = it->data;
	json_t *ev;

	pthread_mutex_lock(&p->arc_lock);
	outcome = outage_platform(p->m, outcome, err, errlen);
	pthread_mutex_unlock(&p->arc_lock);
	if (outcome == ENGINE_ABORTED)
		return outcome;
	if (engine_outage(outcome)) {
		log_warn("course %lld '%s' not deleted, it stays to purge: %s",
			 (long long)v->id, v->shortname, err);
		return outcome;
	}
	if (outcome == ENGINE_FAILED) {
		log_err("course %lld '%s' not deleted: %s", (long long)v->id,
			v->shortname, err);
		return outcome;
	}
	ev = json_pack("{s:s, s:s?, s:s, s:I, s:b}", "event", "purge", "site",
		       p->site.site_hash, "side",
		       p->source ? "source" : "archive", "course_id",
		       (json_int_t)v->id, "dry_run", p->mode == MODE_DRY_RUN);
	if (v->source_id)
		json_object_set_new(ev, "source_course_id",
				    json_integer(v->source_id));
	if (journal_append(p->metafd, p->journal, ev) < 0)
		log_err("cannot write the journal: %s", strerror(errno));
	json_decref(ev);
	if (v->source_id)
		scan_session_feeds(p->idx, p->store, p->session, v->source_id);
	if (p->source && p->remove_backups && v->deleted) {
		const struct manifest_course *mc =
			manifest_find(&p->man, v->source_id);
		char *path = mc ? xasprintf("%s/%s/%s", store_path(p->store),
					    p->session, mc->file)
				: NULL;

		if (path && unlink(path) < 0 && errno != ENOENT)
			log_err("cannot remove '%s': %s", path,
				strerror(errno));
		free(path);
	}
	return outcome;
}

/* Categories last, deepest first, only when empty. */
static void purge_categories(struct purge *p)
{
	int64_t *ids;
	size_t n = subtree(p, &ids);
	char why[1024];

	for (size_t i = 0; i < n; i++) {
		json_t *answer;

		if (p->mode == MODE_DRY_RUN) {
			log_msg(LOG_NOTICE,
				"dry run: would delete category %lld '%s' "
				"once empty",
				(long long)ids[i], cat_name(p, ids[i]));
			continue;
		}
		answer = ask_worker(p, NULL,
				    json_pack("{s:s, s:I}", "command",
					      "delete-category", "id",
					      (json_int_t)ids[i]),
				    600, why, sizeof(why));
		if (answer)
			log_msg(LOG_NOTICE, "deleted category %lld '%s'",
				(long long)ids[i], cat_name(p, ids[i]));
		else
			log_warn("category %lld '%s' kept: %s",
				 (long long)ids[i], cat_name(p, ids[i]), why);
		json_decref(answer);
	}
	free(ids);
}

static int run_purge(struct purge *p)
{
	struct engine_config ec = lifecycle_config(
		p->cli, p->mode == MODE_DRY_RUN ? "purge (dry run)" : "purge",
		p->session, p->idx, p->no_wait);
	struct engine_ops ops = { .run = purge_run, .done = purge_done };
	struct engine_item *items = xcalloc(p->n + 1, sizeof(*items));
	struct engine_result res;
	const char *orphan[] = { "*sessionarchiver-bridge.php", NULL, "worker",
				 NULL };
	char *session_arg;
	int rc;

	/* status must never show a dry run as a purge */
	rc = lifecycle_begin(&ec, p->session_id,
			     p->mode == MODE_DRY_RUN ? "purge-dry-run"
						     : "purge");
	if (rc != 0) {
		free(items);
		return rc;
	}
	for (size_t i = 0; i < p->n; i++)
		items[i] = (struct engine_item){ .id = p->v[i].id,
						 .label = p->v[i].shortname,
						 .bytes = p->v[i].estimate,
						 .data = &p->v[i] };
	/* a worker of a run killed before it could take it along */
	session_arg = xasprintf("--session=%s", p->session);
	orphan[1] = session_arg;
	child_wait_orphans(orphan, p->cfg->jobs.timeout,
			   "a bridge worker of an interrupted purge");
	free(session_arg);
	rc = engine_run(&ec, items, p->n, &ops, p, &res);
	free(items);
	if (rc < 0)
		return lifecycle_fail(&ec, "could not start");
	if (!res.cancelled && !res.window_closed && !res.aborted &&
	    !res.not_started && !res.outages)
		purge_categories(p);
	log_msg(LOG_NOTICE,
		"purge%s of %s (%s side): %lld %s, %lld failed, %zu kept back "
		"(see --preview)",
		p->mode == MODE_DRY_RUN ? " (dry run)" : "", p->session,
		p->source ? "source" : "archive", (long long)res.done,
		p->mode == MODE_DRY_RUN ? "would be deleted" : "deleted",
		(long long)res.failed, p->n_kept);
	return lifecycle_end(&ec, &res, false);
}

static const char purge_help[] =
	"Delete a session's courses and categories through Moodle.\n"
	"  --side source   the session just archived, on the source platform:\n"
	"                  only courses the latest verify saw ok, and only\n"
	"                  after a passing verify newer than the last restore\n"
	"  --side archive  the session's subtree on the archive platform\n"
	"  --preview       list what would be deleted and what is kept (the\n"
	"                  default)\n"
	"  --dry-run       the whole run, deleting nothing\n"
	"  --confirm       the real run\n"
	"  --remove-backups  after a source purge, remove the purged courses'\n"
	"                  backups from the store\n"
	"  --no-wait       outside the window, exit 3\n"
	"  --json          the preview as JSON\n";

int cmd_purge(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "side", required_argument, NULL, 'S' },
		{ "preview", no_argument, NULL, 'P' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "confirm", no_argument, NULL, 'C' },
		{ "remove-backups", no_argument, NULL, 'B' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	static const char synopsis[] =
		"SESSION --side source|archive [--preview | --dry-run | "
		"--confirm] [--remove-backups] [--no-wait] [--json]";
	struct purge p = { .cli = cli, .metafd = -1 };
	struct scan_options so = { .quiet = true };
	struct lease_holder taken_from = { 0 };
	struct lease *lease = NULL;
	struct scan_stats stats;
	const char *side = NULL;
	int c, rc, code, modes = 0, logfd = -1;
	char err[1024];

	while ((c = cli_getopt(cli, argc, argv, "", opts, true)) != -1) {
		switch (c) {
		case 'S': side = optarg; break;
		case 'P': p.mode = MODE_PREVIEW, modes++; break;
		case 'D': p.mode = MODE_DRY_RUN, modes++; break;
		case 'C': p.mode = MODE_CONFIRM, modes++; break;
		case 'B': p.remove_backups = true; break;
		case 'W': p.no_wait = true; break;
		case 'h':
			printf("usage: sessionarchiver purge %s\n\n%s",
			       synopsis, purge_help);
			return SA_EXIT_OK;
		default: return cli_usage(cli, synopsis);
		}
	}
	if (argc - optind != 1 || !side || modes > 1 ||
	    (strcmp(side, "source") != 0 && strcmp(side, "archive") != 0))
		return cli_usage(cli, synopsis);
	p.session = argv[optind];
	p.source = strcmp(side, "source") == 0;
	if (p.remove_backups && (!p.source || p.mode != MODE_CONFIRM)) {
		log_err("--remove-backups goes with --side source --confirm");
		return SA_EXIT_USAGE;
	}
	if (!(p.cfg = cli_config(cli)))
		return SA_EXIT_USAGE;
	if (!(p.source ? p.cfg->source.moodle : p.cfg->archive.moodle)) {
		log_err("no %s platform configured: [%s] moodle", side, side);
		return SA_EXIT_USAGE;
	}
	if (!(p.store = cli_open_store(cli, &rc)))
		return rc;
	rc = SA_EXIT_FAILURE;
	pthread_mutex_init(&p.arc_lock, NULL);
	if (!(p.idx = cli_open_index(cli, p.store)))
		goto out_free;
	/* the lease first: what the session's state says must stay true;
	   a preview only reads */
	p.metafd = journal_open_meta(store_dirfd(p.store), p.session);
	if (p.metafd >= 0 && p.mode != MODE_PREVIEW &&
	    !(lease = cli_session_lease(cli, p.metafd, p.session, "purge",
					&taken_from, &rc)))
		goto out_free;
	rc = SA_EXIT_FAILURE;
	so.only = p.session;
	if (scan_store(p.idx, p.store, &so, &stats) < 0)
		goto out_free;
	p.session_id = idx_session_find(p.idx, p.session);
	if (p.session_id <= 0 || p.metafd < 0 ||
	    manifest_load(p.metafd, p.session, &p.man) < 0) {
		log_err("no archived session '%s' in the store", p.session);
		goto out_free;
	}
	if (history_load(p.idx, p.session_id, &p.hist) < 0)
		goto out_free;
	if (p.mode != MODE_PREVIEW)
		logfd = cli_session_log(p.metafd);
	if (p.source && p.mode == MODE_CONFIRM) {
		if (gate_purge_folded(&p.hist, "source", "confirm", err,
				      sizeof(err)) != 0) {
			log_err("%s", err);
			runs_refused(p.idx, p.session_id, "purge", err);
			rc = SA_EXIT_REFUSED;
			goto out_free;
		}
	}
	p.m = moodle_open(p.source ? &p.cfg->source : &p.cfg->archive, &code,
			  err, sizeof(err));
	if (!p.m) {
		log_err("%s platform: %s", side, err);
		rc = code == MOODLE_ERR_CONFIG ? SA_EXIT_USAGE
					       : SA_EXIT_UNREACHABLE;
		goto out_free;
	}
	if (moodle_is_remote(p.m)) {
		log_err("purge deletes through Moodle's CLI: [%s] needs moodle "
			"(its code directory), not only url",
			side);
		rc = SA_EXIT_USAGE;
		goto out_free;
	}
	if (moodle_site(p.m, &p.site) < 0 ||
	    moodle_categories(p.m, &p.cats, &p.n_cats) < 0) {
		log_err("%s platform: %s", side, moodle_error(p.m));
		rc = SA_EXIT_UNREACHABLE;
		goto out_free;
	}
	/* purging the wrong platform is what this tool must never do */
	if (p.source && p.man.source_site && p.site.site_hash &&
	    strcmp(p.man.source_site, p.site.site_hash) != 0) {
		log_err("refused: the configured source platform (site %s) is "
			"not the one session '%s' was archived from (site %s)",
			p.site.site_hash, p.session, p.man.source_site);
		rc = SA_EXIT_REFUSED;
		goto out_free;
	}
	if (!p.source && p.site.site_hash &&
	    (rc = archive_site_check(p.cfg, p.session, p.man.source_site,
				     &p.site)) != 0)
		goto out_free;
	if (config_same_platform(p.cfg) && (rc = check_same_tree(&p)) != 0)
		goto out_free;
	rc = SA_EXIT_FAILURE;
	if (p.source) {
		p.arc = moodle_open(&p.cfg->archive, &code, err, sizeof(err));
		if (!p.arc) {
			log_err("archive platform (to check each course "
				"before it goes): %s",
				err);
			rc = code == MOODLE_ERR_CONFIG ? SA_EXIT_USAGE
						       : SA_EXIT_UNREACHABLE;
			goto out_free;
		}
	}
	if ((p.source ? select_source(&p) : select_archive(&p)) < 0)
		goto out_free;
	p.journal = p.source ? journal_name(p.site.site_hash
						    ? p.site.site_hash
						    : "purge",
					    false)
			     : journal_archive_name(p.site.site_hash
							    ? p.site.site_hash
							    : "purge",
						    config_same_platform(p.cfg));
	cli_note_takeover(p.metafd, p.journal, "purge", &taken_from);
	if (p.purged_already && p.n == 0) {
		log_msg(LOG_NOTICE,
			"session '%s' was purged already on the %s side (its "
			"category is gone): nothing left to do",
			p.session, side);
		rc = SA_EXIT_OK;
		goto out_free;
	}
	p.bo = (struct bridge_opts){
		.moodle_dir = p.source ? p.cfg->source.moodle
				       : p.cfg->archive.moodle,
		.no_recyclebin = !p.cfg->purge.recyclebin,
		.session = p.session
	};
	if (p.mode == MODE_PREVIEW) {
		print_preview(&p);
		rc = SA_EXIT_OK;
		goto out_free;
	}
	if (runner_pool(p.cfg, p.m, &p.bo, true, &p.pool) < 0) {
		rc = SA_EXIT_FAILURE;
		goto out_free;
	}
	rc = run_purge(&p);

out_free:
	for (size_t i = 0; i < p.n; i++) {
		free(p.v[i].shortname);
		free(p.v[i].fullname);
	}
	free(p.v);
	for (size_t i = 0; i < p.n_kept; i++) {
		free(p.k[i].shortname);
		free(p.k[i].why);
	}
	free(p.k);
	runner_pool_end(p.pool, "purge", p.session);
	moodle_categories_free(p.cats, p.n_cats);
	moodle_site_release(&p.site);
	moodle_free(p.m);
	moodle_free(p.arc);
	manifest_release(&p.man);
	history_release(&p.hist);
	free(p.journal);
	cli_session_log_close(logfd);
	lease_holder_release(&taken_from);
	lease_release(lease);
	if (p.metafd >= 0)
		close(p.metafd);
	idx_free(p.idx);
	store_free(p.store);
	pthread_mutex_destroy(&p.arc_lock);
	return rc;
}
