/*
 * The restore operation (reintegration), on the archive platform: checks
 * that this platform is the one the session is meant for, recreates the
 * session's category tree under a target category through the PHP bridge,
 * then runs Moodle's restore_backup.php for each backup through the engine.
 *
 * Exactly once: a "restore_started" journal line is written just before
 * Moodle runs, and "restore" with the new course id after. A run that finds
 * a start without its end (a crash in between) looks in the target
 * category for the course Moodle may have made: a complete one is
 * recorded, Moodle's half-made placeholder is deleted; only then is the
 * course restored again.
 */
#include "op_restore.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive_site.h"
#include "child.h"
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "history.h"
#include "hook.h"
#include "exitcode.h"
#include "idx.h"
#include "journal.h"
#include "lifecycle.h"
#include "log.h"
#include "manifest.h"
#include "mbz.h"
#include "moodle.h"
#include "outage.h"
#include "restore_check.h"
#include "runner.h"
#include "runs.h"
#include "scan.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

/* Moodle's strings restoringcourse / restoringcourseshortname (en). */
#define PLACEHOLDER_FULLNAME "Course restoration in progress"
#define PLACEHOLDER_SHORTNAME "restoring"

struct rcourse {
	const struct manifest_course *mc; /* what the manifest says */
	int64_t id;             /* source course id */
	/* from the journals */
	bool restored, failed, started;
	int64_t archive_id;
	int64_t after_id;       /* highest course id in the category before
				   Moodle ran: what it makes comes after */
	bool hook_failed;
	/* this run */
	int64_t category_id;    /* on the archive platform */
	char **argv;
	int64_t new_id;
	char *new_shortname;
	char *hook_error;
	bool leftover;          /* Moodle died: a placeholder may be left */
	bool bad_backup;        /* failed restore_check: not restored */
	struct stat checked;    /* the file as restore_check read it good */
	bool was_checked;
	/* set when Moodle's restore cleaned the names (tags stripped) */
	char *cleaned_fullname, *cleaned_shortname;
};

struct restore_ctx {
	struct cli *cli;
	const struct config *cfg;
	struct store *store;
	struct idx *idx;
	struct moodle *m;
	pthread_mutex_t m_lock; /* guards m: workers look courses up */
	const char *session;
	int64_t session_id;
	int metafd;
	char *journal;          /* journal-<archive site>.jsonl */
	struct moodle_site site;
	struct manifest man;
	struct rcourse *v;
	size_t n;
	bool rerun_hooks;
	size_t bad_backups;
	struct bridge_pool *pool; /* [jobs] runner = worker, else NULL */
};

static void rcourse_release(struct rcourse *c)
{
	moodle_argv_free(c->argv);
	free(c->new_shortname);
	free(c->hook_error);
	free(c->cleaned_fullname);
	free(c->cleaned_shortname);
}

/* What the journals (through the index) say of each course. */
static int load_events(struct restore_ctx *r, bool *complete)
{
	struct history h;

	if (history_load(r->idx, r->session_id, &h) < 0)
		return -1;
	*complete = h.archive_complete;
	for (size_t i = 0; i < r->n; i++) {
		struct rcourse *c = &r->v[i];
		const struct course_history *ch = history_find(&h, c->id);

		if (!ch)
			continue;
		c->started = ch->restore_started;
		c->after_id = ch->after_id;
		c->restored = ch->restored;
		c->failed = ch->restore_failed;
		c->archive_id = ch->archive_id;
		c->hook_failed = ch->hook_failed;
	}
	history_release(&h);
	return 0;
}

static void journal_event(struct restore_ctx *r, json_t *ev)
{
	/* O_APPEND and one write() a line: workers may append too */
	if (!ev || journal_append(r->metafd, r->journal, ev) < 0)
		log_err("cannot write the journal '%s': %s", r->journal,
			strerror(errno));
	json_decref(ev);
}


/*
 * Runs the bridge: its JSON answer or NULL with the reason in err. Caller
 * frees with json_decref(). job may be NULL.
 */
static json_t *bridge(struct restore_ctx *r, struct engine_job *job,
		      char *err, size_t errlen, const char *cmd, ...)
{
	struct bridge_opts bo = { .moodle_dir = r->cfg->archive.moodle,
				  .no_recyclebin = true };
	char *args[12], **argv;
	json_t *j;
	va_list ap;
	int n = 0;

	va_start(ap, cmd);
	for (const char *a; n < 11 && (a = va_arg(ap, const char *));)
		args[n++] = xstrdup(a);
	va_end(ap);
	args[n] = NULL;
	pthread_mutex_lock(&r->m_lock);
	argv = bridge_argv(r->m, &bo, cmd, args);
	if (!argv)
		snprintf(err, errlen, "cannot run the bridge: %s",
			 moodle_error(r->m));
	pthread_mutex_unlock(&r->m_lock);
	for (int i = 0; i < n; i++)
		free(args[i]);
	if (!argv)
		return NULL;
	j = bridge_run(argv, r->cfg->jobs.timeout, job ? &job->pid : NULL,
		       err, errlen);
	moodle_argv_free(argv);
	return j;
}

/* The id of the child category called name under parent, or 0. */
static int64_t child_category(const struct moodle_category *cats, size_t n,
			      int64_t parent, const char *name)
{
	int64_t best = 0;

	for (size_t i = 0; i < n; i++)
		if (cats[i].parent == parent && strcmp(cats[i].name, name) == 0 &&
		    (best == 0 || cats[i].id < best))
			best = cats[i].id;
	return best;
}

/*
 * One request (consumed) to the worker that makes the category tree,
 * started at the first: the answer, or NULL with the reason in err.
 */
static json_t *tree_call(struct restore_ctx *r, struct bridge_worker **w,
			 json_t *request, char *err, size_t errlen)
{
	struct bridge_opts bo = { .moodle_dir = r->cfg->archive.moodle };
	json_t *j = NULL;

	if (!*w)
		*w = bridge_worker_start(r->m, &bo, err, errlen);
	if (*w)
		j = bridge_worker_call(*w, request, r->cfg->jobs.timeout, NULL,
				       err, errlen);
	json_decref(request);
	return j;
}

/*
 * The category called name under parent, made when missing. One bridge
 * worker makes all of a tree's (*w, started at the first): one Moodle
 * set-up for the tree, not one per category.
 */
static int64_t ensure_category(struct restore_ctx *r,
			       const struct moodle_category *cats, size_t n,
			       int64_t parent, const char *name,
			       struct bridge_worker **w)
{
	int64_t id = child_category(cats, n, parent, name);
	char err[1024];
	json_t *j;

	if (id)
		return id;
	j = tree_call(r, w, json_pack("{s:s, s:s, s:I}", "command",
				      "create-category", "name", name,
				      "parent", (json_int_t)parent),
		      err, sizeof(err));
	if (!j)
		return log_err("cannot create category '%s' under %lld: %s",
			       name, (long long)parent, err);
	id = json_integer_value(json_object_get(j, "id"));
	json_decref(j);
	if (id <= 0)
		return log_err("the bridge gave no id for category '%s'", name);
	log_msg(LOG_NOTICE, "created category '%s' (id %lld) under %lld",
		name, (long long)id, (long long)parent);
	return id;
}

/*
 * A run killed while Moodle made a category leaves it without its
 * context, and Moodle's reads of its courses then fail: each category the
 * restore uses gets its context made if missing, as Moodle itself does on
 * first use (context_coursecat::instance()).
 */
static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int ensure_contexts(struct restore_ctx *r, int64_t root,
			   struct bridge_worker **w)
{
	int64_t *ids = xcalloc(r->n + 1, sizeof(*ids));
	char err[1024];
	int rc = 0;

	for (size_t i = 0; i < r->n; i++)
		ids[i] = r->v[i].category_id;
	ids[r->n] = root;
	qsort(ids, r->n + 1, sizeof(*ids), cmp_id);
	for (size_t i = 0; i <= r->n && rc == 0; i++) {
		json_t *j;

		if (ids[i] <= 0 || (i > 0 && ids[i] == ids[i - 1]))
			continue;
		j = tree_call(r, w, json_pack("{s:s, s:I}", "command",
					      "category-context", "id",
					      (json_int_t)ids[i]),
			      err, sizeof(err));
		if (!j)
			rc = log_err("cannot make the context of category "
				     "%lld: %s",
				     (long long)ids[i], err);
		json_decref(j);
	}
	free(ids);
	return rc;
}

/*
 * The session's tree under the target: the root category (the source's
 * session category), then each course's categories, reused when a
 * category of that name is there already.
 */
static int make_tree(struct restore_ctx *r, int64_t target)
{
	struct moodle_category *cats = NULL;
	struct bridge_worker *w = NULL;
	size_t ncats = 0;
	int64_t root;
	int rc = 0;

	if (moodle_categories(r->m, &cats, &ncats) < 0)
		return log_err("cannot read the archive's categories: %s",
			       moodle_error(r->m));
	root = ensure_category(r, cats, ncats, target, r->man.root_name, &w);
	if (root < 0)
		rc = -1;
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		struct rcourse *c = &r->v[i];
		int64_t parent = root;
		size_t k;
		json_t *name;

		json_array_foreach(c->mc->category_names, k, name) {
			/* new categories appear in the list: read it again */
			if (!child_category(cats, ncats, parent,
					    json_string_value(name))) {
				moodle_categories_free(cats, ncats);
				cats = NULL;
				ncats = 0;
				parent = ensure_category(
					r, NULL, 0, parent,
					json_string_value(name), &w);
				if (parent < 0 ||
				    moodle_categories(r->m, &cats, &ncats) <
					    0) {
					rc = -1;
					break;
				}
			} else {
				parent = child_category(
					cats, ncats, parent,
					json_string_value(name));
			}
		}
		c->category_id = parent;
	}
	if (rc == 0)
		rc = ensure_contexts(r, root, &w);
	bridge_worker_end(w);
	moodle_categories_free(cats, ncats);
	return rc;
}

static bool mapped_elsewhere(struct restore_ctx *r, int64_t archive_id)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].restored && r->v[i].archive_id == archive_id)
			return true;
	return false;
}

/*
 * A run killed with -9 may leave its restore running (through setpriv on a
 * kernel that drops the parent-death signal, or from an older version):
 * what it makes must be seen before deciding, so wait for it to end, and
 * kill it at the job timeout.
 */
static void wait_orphan(struct restore_ctx *r, struct rcourse *c)
{
	char *arg = xasprintf("--file=%s/%s/%s", store_path(r->store),
			      r->session, c->mc->file);
	const char *script[] = { "*restore_backup.php", arg, NULL };
	const char *bridged[] = { "*sessionarchiver-bridge.php", "restore", arg,
				  NULL };

	child_wait_orphans(script, r->cfg->jobs.timeout,
			   "restore_backup.php left by an interrupted run");
	child_wait_orphans(bridged, r->cfg->jobs.timeout,
			   "the bridge's restore left by an interrupted run");
	free(arg);
}

/*
 * The highest course id in the category, into *max: what Moodle makes
 * after this has a higher id. 0, or -1 with the reason in err. Caller
 * holds m_lock.
 */
static int max_course_id(struct restore_ctx *r, int64_t category,
			 int64_t *max, char *err, size_t errlen)
{
	struct moodle_course *list = NULL;
	size_t n = 0;

	*max = 0;
	if (moodle_courses_in(r->m, category, false, &list, &n) < 0) {
		snprintf(err, errlen, "cannot read the courses of category "
			 "%lld: %s", (long long)category, moodle_error(r->m));
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (list[i].id > *max)
			*max = list[i].id;
	moodle_courses_free(list, n);
	return 0;
}

/* Records the names the restore cleaned, when it did. */
static void set_cleaned(struct rcourse *c, const char *full,
			const char *shortname)
{
	free(c->cleaned_fullname);
	free(c->cleaned_shortname);
	c->cleaned_fullname = strcmp(full, c->mc->fullname) != 0
				      ? xstrdup(full) : NULL;
	c->cleaned_shortname = strcmp(shortname, c->mc->shortname) != 0
				       ? xstrdup(shortname) : NULL;
}

/* A course found after a crash: did it get the cleaned names? */
static void note_cleaned(struct rcourse *c, const struct moodle_course *mc,
			 const char *clean_full, const char *clean_short)
{
	bool full = strcmp(clean_full, c->mc->fullname) != 0 &&
		    !manifest_name_matches(mc->fullname, c->mc->fullname,
					   " copy ");
	bool shortname = strcmp(clean_short, c->mc->shortname) != 0 &&
			 !manifest_name_matches(mc->shortname,
						c->mc->shortname, "_");

	set_cleaned(c, full ? clean_full : c->mc->fullname,
		    shortname ? clean_short : c->mc->shortname);
}

static bool is_placeholder(const struct moodle_course *mc)
{
	return manifest_name_matches(mc->shortname, PLACEHOLDER_SHORTNAME,
				     "_") &&
	       strncmp(mc->fullname, PLACEHOLDER_FULLNAME,
		       strlen(PLACEHOLDER_FULLNAME)) == 0;
}

/*
 * The course Moodle made for c after c->after_id (complete: its names,
 * possibly renamed), or 0; its shortname goes to c->new_shortname. Takes
 * m_lock.
 */
static int64_t find_restored(struct restore_ctx *r, struct rcourse *c)
{
	struct moodle_course *list = NULL;
	size_t n = 0, best = 0;
	int64_t found = 0;
	/* the bridge's restore strips the tags Moodle refuses in names */
	char *clean_full = moodle_text_param(c->mc->fullname);
	char *clean_short = moodle_text_param(c->mc->shortname);

	pthread_mutex_lock(&r->m_lock);
	if (moodle_courses_in(r->m, c->category_id, false, &list, &n) < 0) {
		free(clean_full);
		free(clean_short);
		log_warn("cannot look for course %lld in category %lld: %s",
			 (long long)c->id, (long long)c->category_id,
			 moodle_error(r->m));
		pthread_mutex_unlock(&r->m_lock);
		return 0;
	}
	pthread_mutex_unlock(&r->m_lock);
	for (size_t i = 0; i < n; i++) {
		struct moodle_course *mc = &list[i];

		if (mc->id > c->after_id && !is_placeholder(mc) &&
		    (manifest_name_matches(mc->shortname, c->mc->shortname,
					   "_") ||
		     manifest_name_matches(mc->shortname, clean_short, "_")) &&
		    (manifest_name_matches(mc->fullname, c->mc->fullname,
					   " copy ") ||
		     manifest_name_matches(mc->fullname, clean_full,
					   " copy ")) &&
		    !mapped_elsewhere(r, mc->id) && mc->id > found) {
			found = mc->id;
			best = i;
		}
	}
	if (found) {
		free(c->new_shortname);
		c->new_shortname = xstrdup(list[best].shortname);
		note_cleaned(c, &list[best], clean_full, clean_short);
	}
	free(clean_full);
	free(clean_short);
	moodle_courses_free(list, n);
	return found;
}

/*
 * Deletes Moodle's half-made placeholders after after_id in category,
 * through the bridge (admin/cli/delete_course.php dies half way on Moodle
 * 4.5 with its recycle bin off). Takes m_lock.
 */
static void delete_placeholders(struct restore_ctx *r, int64_t category,
				int64_t after_id)
{
	struct moodle_course *list = NULL;
	size_t n = 0;
	int rc;

	pthread_mutex_lock(&r->m_lock);
	rc = moodle_courses_in(r->m, category, false, &list, &n);
	if (rc < 0)
		log_warn("cannot look for placeholders in category %lld: %s",
			 (long long)category, moodle_error(r->m));
	pthread_mutex_unlock(&r->m_lock);
	if (rc < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char id_arg[40], err[1024];
		json_t *j;

		if (list[i].id <= after_id || !is_placeholder(&list[i]))
			continue;
		snprintf(id_arg, sizeof(id_arg), "--id=%lld",
			 (long long)list[i].id);
		j = bridge(r, NULL, err, sizeof(err), "delete-course", id_arg,
			   NULL);
		if (j)
			log_msg(LOG_NOTICE,
				"deleted the half-restored placeholder course "
				"%lld",
				(long long)list[i].id);
		else
			log_warn("cannot delete the placeholder course %lld: %s",
				 (long long)list[i].id, err);
		json_decref(j);
	}
	moodle_courses_free(list, n);
}

/*
 * The "restore" journal event of c, restored as archive_id; with the
 * names as the backup had them and as Moodle's restore cleaned them, when
 * it did (verify compares the cleaned ones), and the post_restore hook's
 * failure, when it failed.
 */
static json_t *restored_event(struct restore_ctx *r, struct rcourse *c,
			      int64_t archive_id)
{
	json_t *ev = json_pack("{s:s, s:s, s:I, s:I, s:s?, s:I}", "event",
			       "restore", "site", r->site.site_hash,
			       "source_course_id", (json_int_t)c->id,
			       "archive_course_id", (json_int_t)archive_id,
			       "shortname", c->new_shortname, "category_id",
			       (json_int_t)c->category_id);

	if (c->cleaned_fullname) {
		json_object_set_new(ev, "original_fullname",
				    json_string(c->mc->fullname));
		json_object_set_new(ev, "cleaned_fullname",
				    json_string(c->cleaned_fullname));
	}
	if (c->cleaned_shortname) {
		json_object_set_new(ev, "original_shortname",
				    json_string(c->mc->shortname));
		json_object_set_new(ev, "cleaned_shortname",
				    json_string(c->cleaned_shortname));
	}
	if (c->hook_error)
		json_object_set_new(ev, "hook_error",
				    json_string(c->hook_error));
	return ev;
}

/* The shortname Moodle gave the restored course (it may rename). */
static void fetch_shortname(struct restore_ctx *r, struct rcourse *c)
{
	struct moodle_course mc;

	if (c->new_shortname)
		return;
	pthread_mutex_lock(&r->m_lock);
	if (moodle_course_get(r->m, c->new_id, &mc) == 0) {
		c->new_shortname = xstrdup(mc.shortname);
		moodle_course_release(&mc);
	}
	pthread_mutex_unlock(&r->m_lock);
}

/* The post_restore hook; its failure is kept in c->hook_error. */
static void run_hook(struct restore_ctx *r, struct rcourse *c,
		     struct engine_job *job)
{
	struct hook_course hc = { .session = r->session,
				  .source_id = c->id,
				  .category_id = c->category_id,
				  .moodle = r->cfg->archive.moodle };
	char why[768], *mbz;

	free(c->hook_error);
	c->hook_error = NULL;
	if (!r->cfg->hooks.post_restore)
		return;
	fetch_shortname(r, c);
	hc.archive_id = c->new_id;
	hc.shortname = c->new_shortname ? c->new_shortname : c->mc->shortname;
	hc.mbz = mbz = xasprintf("%s/%s/%s", store_path(r->store), r->session,
				 c->mc->file);
	if (hook_run_course("post_restore", r->cfg->hooks.post_restore, &hc,
			    r->cfg->hooks.timeout, &job->pid, why,
			    sizeof(why)) < 0)
		c->hook_error = xstrdup(why);
	free(mbz);
}

/*
 * After a crash between "restore_started" and its end: record the course
 * Moodle finished, delete the placeholder it left half-made. Only courses
 * made after the start count: a namesake that was there before is not it.
 */
static void recover(struct restore_ctx *r, struct rcourse *c)
{
	struct engine_job job = { 0 };
	int64_t found;
	json_t *ev;

	wait_orphan(r, c);
	delete_placeholders(r, c->category_id, c->after_id);
	found = find_restored(r, c);
	if (found) {
		log_msg(LOG_NOTICE,
			"course %lld was restored as %lld by an interrupted "
			"run: recorded, not restored again",
			(long long)c->id, (long long)found);
		/*
		 * The run may have died before its hook ran: a copy left
		 * visible next to its original is what the hook is there to
		 * prevent, so it runs now (hooks are written to run twice).
		 */
		c->new_id = found;
		run_hook(r, c, &job);
		ev = restored_event(r, c, found);
		json_object_set_new(ev, "recovered", json_true());
		journal_event(r, ev);
		c->hook_failed = c->hook_error != NULL;
		c->restored = true;
		c->archive_id = found;
		/* the index derives only the states of the course named */
		scan_session_feeds(r->idx, r->store, r->session, c->id);
	}
	c->started = false;
}

/*
 * The bridge's restore of the course: the same restore API as
 * restore_backup.php, the course names cleaned as Moodle's PARAM_TEXT
 * settings want them. Through the run's worker pool when it has one, else
 * one bridge run. *down: no worker could start, or Moodle ran out of space.
 */
static json_t *bridge_restore(struct restore_ctx *r, struct rcourse *c,
			      struct engine_job *job, bool *down, char *why,
			      size_t len)
{
	char *file = xasprintf("%s/%s/%s", store_path(r->store), r->session,
			       c->mc->file);
	json_t *j;

	*down = false;
	if (r->pool) {
		struct bridge_call call = { .timeout_s = r->cfg->jobs.timeout,
					    .running_pid = &job->pid,
					    .want_output = true };
		char label[64];

		j = bridge_pool_ask(r->pool,
				    json_pack("{s:s, s:s, s:I}", "command",
					      "restore", "file", file,
					      "categoryid",
					      (json_int_t)c->category_id),
				    &call, why, len);
		snprintf(label, sizeof(label),
			 "restore (bridge worker) for course %lld",
			 (long long)c->id);
		log_lines(LOG_INFO, label, call.output);
		*down = call.not_started ||
			(!j && (outage_out_of_space(why) ||
				outage_out_of_space(call.output)));
		free(call.output);
	} else {
		char *file_arg = xasprintf("--file=%s", file);
		char cat[40];

		snprintf(cat, sizeof(cat), "--categoryid=%lld",
			 (long long)c->category_id);
		j = bridge(r, job, why, len, "restore", file_arg, cat, NULL);
		free(file_arg);
	}
	free(file);
	return j;
}

/*
 * The restore through the bridge, to its end: the course recorded from
 * the answer (or found restored after all), then the hook. what: how the
 * failure reads ("Moodle's restore failed").
 */
static enum engine_outcome restore_through_bridge(struct restore_ctx *r,
						  struct rcourse *c,
						  struct engine_job *job,
						  const char *what, char *err,
						  size_t errlen)
{
	const char *full, *shortname;
	char why[1024];
	bool down;
	json_t *j = bridge_restore(r, c, job, &down, why, sizeof(why));

	if (atomic_load(&job->abort) && !j)
		return ENGINE_ABORTED;
	if (!j && (c->new_id = find_restored(r, c)) > 0) {
		log_msg(LOG_NOTICE,
			"course %lld: the bridge failed (%s), but the course is "
			"restored as %lld: recorded",
			(long long)c->id, why, (long long)c->new_id);
	} else if (!j) {
		c->leftover = true;
		engine_fail(err, errlen, "%s: %s", what, why);
		return down ? ENGINE_PLATFORM_DOWN : ENGINE_FAILED;
	} else {
		c->new_id = json_integer_value(json_object_get(j, "id"));
		shortname = json_string_value(json_object_get(j, "shortname"));
		free(c->new_shortname);
		c->new_shortname = xstrdup(shortname ? shortname : "");
		/* the names before Moodle's " copy N" / "_N" renaming */
		full = json_string_value(json_object_get(j, "cleaned_fullname"));
		shortname = json_string_value(
			json_object_get(j, "cleaned_shortname"));
		set_cleaned(c, full ? full : c->mc->fullname,
			    shortname ? shortname : c->mc->shortname);
		json_decref(j);
	}
	if (c->new_id <= 0)
		return engine_fail(err, errlen, "the bridge gave no course id");
	run_hook(r, c, job);
	return ENGINE_DONE;
}

/* The same file, same size and time, as check_backups() read good. */
static bool unchanged_since_check(const struct rcourse *c, const char *path)
{
	struct stat st;

	return c->was_checked && stat(path, &st) == 0 &&
	       st.st_ino == c->checked.st_ino &&
	       st.st_dev == c->checked.st_dev &&
	       st.st_size == c->checked.st_size &&
	       st.st_mtim.tv_sec == c->checked.st_mtim.tv_sec &&
	       st.st_mtim.tv_nsec == c->checked.st_mtim.tv_nsec;
}

static enum engine_outcome restore_run(void *ctx, struct engine_item *it,
				       struct engine_job *job, char *err,
				       size_t errlen)
{
	struct restore_ctx *r = ctx;
	struct rcourse *c = it->data;
	struct child_opts o = { .argv = c->argv, .envp = child_default_env,
				.out_fd = -1, .timeout_s = r->cfg->jobs.timeout,
				.own_group = true, .running_pid = &job->pid };
	struct child_result res;
	struct mbz_info info;
	char *path, why[512], how[128], label[64];
	const char *line;
	int rc;

	if (r->rerun_hooks) {
		run_hook(r, c, job);
		return ENGINE_DONE;
	}
	/* the file must be the one the source platform wrote */
	path = xasprintf("%s/%s/%s", store_path(r->store), r->session,
			 c->mc->file);
	if (!unchanged_since_check(c, path)) {
		mbz_info_init(&info);
		rc = mbz_read_path(path, MBZ_FULL, &info, why, sizeof(why));
		if (rc < 0) {
			mbz_info_release(&info);
			free(path);
			return engine_fail(err, errlen,
					   "the backup is unreadable: %s", why);
		}
		if (strcmp(info.sha256, c->mc->sha256) != 0) {
			mbz_info_release(&info);
			free(path);
			return engine_fail(err, errlen,
					   "checksum mismatch: the backup "
					   "differs from the manifest");
		}
		mbz_info_release(&info);
	}
	free(path);
	if (atomic_load(&job->abort))
		return ENGINE_ABORTED;
	pthread_mutex_lock(&r->m_lock);
	rc = max_course_id(r, c->category_id, &c->after_id, why, sizeof(why));
	pthread_mutex_unlock(&r->m_lock);
	if (rc < 0)
		return engine_fail(err, errlen, "%s", why);
	journal_event(r, json_pack("{s:s, s:s, s:I, s:I, s:I}", "event",
				   "restore_started", "site", r->site.site_hash,
				   "source_course_id", (json_int_t)c->id,
				   "category_id", (json_int_t)c->category_id,
				   "after_course_id",
				   (json_int_t)c->after_id));
	if (r->pool)
		return restore_through_bridge(r, c, job,
					      "Moodle's restore failed", err,
					      errlen);
	if (child_run(&o, &res) < 0) {
		/* no php, no fork: no course can be restored */
		engine_fail(err, errlen, "cannot run '%s': %s", c->argv[0],
			    strerror(errno));
		return ENGINE_PLATFORM_DOWN;
	}
	snprintf(label, sizeof(label), "restore_backup.php for course %lld",
		 (long long)c->id);
	log_lines(LOG_INFO, label, res.output);
	line = strstr(res.output, "Restored course ID: ");
	if (child_ok(&res) && line)
		c->new_id = strtoll(line + strlen("Restored course ID: "),
				    NULL, 10);
	if (atomic_load(&job->abort) && c->new_id <= 0) {
		child_result_release(&res);
		return ENGINE_ABORTED;
	}
	if (c->new_id <= 0 && !atomic_load(&job->abort) &&
	    (c->new_id = find_restored(r, c)) > 0) {
		/* it died after the work, before saying so */
		log_msg(LOG_NOTICE,
			"course %lld: restore_backup.php %s, but the course "
			"is restored as %lld: recorded",
			(long long)c->id,
			child_describe(&res, o.timeout_s, how, sizeof(how)),
			(long long)c->new_id);
	}
	if (c->new_id <= 0 && !atomic_load(&job->abort) &&
	    strstr(res.output, "setting_invalid_text")) {
		child_result_release(&res);
		log_msg(LOG_NOTICE,
			"course %lld: Moodle's restore_backup.php refuses its "
			"names (setting_invalid_text): restoring it through the "
			"bridge with the tags stripped",
			(long long)c->id);
		return restore_through_bridge(
			r, c, job,
			"restore_backup.php refused its names "
			"(setting_invalid_text), and the bridge's restore "
			"failed",
			err, errlen);
	}
	if (c->new_id <= 0) {
		bool full = outage_out_of_space(res.output);

		c->leftover = true;
		moodle_cli_message(res.output, why, sizeof(why));
		engine_fail(err, errlen, "%srestore_backup.php %s: %s",
			    full ? "no space left on Moodle's side: " : "",
			    child_describe(&res, o.timeout_s, how, sizeof(how)),
			    why);
		child_result_release(&res);
		return full ? ENGINE_PLATFORM_DOWN : ENGINE_FAILED;
	}
	child_result_release(&res);
	fetch_shortname(r, c);
	run_hook(r, c, job);
	return ENGINE_DONE;
}

static enum engine_outcome restore_done(void *ctx, struct engine_item *it,
					enum engine_outcome outcome,
					char *err, size_t errlen)
{
	struct restore_ctx *r = ctx;
	struct rcourse *c = it->data;

	pthread_mutex_lock(&r->m_lock);
	outcome = outage_platform(r->m, outcome, err, errlen);
	pthread_mutex_unlock(&r->m_lock);
	if (outcome == ENGINE_ABORTED)
		return outcome;
	if (engine_outage(outcome)) {
		/* not the course's failure: no journal line, still pending */
		log_warn("course %lld '%s' not restored, it stays pending: %s",
			 (long long)c->id, c->mc->shortname, err);
		return outcome;
	}
	if (r->rerun_hooks) {
		journal_event(r, json_pack("{s:s, s:s, s:I, s:s?}", "event",
					   "hook_rerun", "site",
					   r->site.site_hash,
					   "source_course_id",
					   (json_int_t)c->id, "hook_error",
					   c->hook_error));
	} else if (outcome == ENGINE_FAILED) {
		log_err("course %lld '%s' failed: %s", (long long)c->id,
			c->mc->shortname, err);
		journal_event(r, json_pack("{s:s, s:s, s:I, s:s}", "event",
					   "restore_failed", "site",
					   r->site.site_hash,
					   "source_course_id",
					   (json_int_t)c->id, "error", err));
	} else {
		journal_event(r, restored_event(r, c, c->new_id));
		if (c->hook_error)
			log_err("course %lld restored as %lld, but its "
				"post_restore hook failed: %s",
				(long long)c->id, (long long)c->new_id,
				c->hook_error);
		else
			log_info("course %lld restored as %lld",
				 (long long)c->id, (long long)c->new_id);
	}
	scan_session_feeds(r->idx, r->store, r->session, c->id);
	return outcome;
}

struct restore_opts {
	const char *target;
	bool partial, allow_mismatch, rerun_hooks, no_wait, retry_failed;
};

static int restore_opt(int c, struct restore_opts *o)
{
	switch (c) {
	case 'T': o->target = optarg; return 0;
	case 'P': o->partial = true; return 0;
	case 'M': o->allow_mismatch = true; return 0;
	case 'H': o->rerun_hooks = true; return 0;
	case 'W': o->no_wait = true; return 0;
	case 'R': o->retry_failed = true; return 0;
	default: return -1;
	}
}

static const char restore_help[] =
	"Restore every backup of SESSION on the archive platform, in a\n"
	"copy of the session's category tree under the target category.\n"
	"  --target SPEC            id:N, idnumber:X or path:/A/B (default:\n"
	"                           [archive] target)\n"
	"  --partial                restore what is archived so far, even if\n"
	"                           the archive is not complete, and the good\n"
	"                           backups when some fail the check\n"
	"  --allow-version-mismatch restore although Moodle or tool versions\n"
	"                           differ (recorded in the journal)\n"
	"  --retry-failed           redo only the courses that failed before\n"
	"  --rerun-hooks            rerun the post_restore hook where it failed\n"
	"  --no-wait                outside the window, exit 3\n";

/* The identity and version rules; 0, or an exit code. */
static int check_platform(struct restore_ctx *r, bool allow_mismatch)
{
	const char *want = r->cfg->archive.site;

	int rc = archive_site_check(r->cfg, r->session, r->man.source_site,
				    &r->site);

	if (rc != 0)
		return rc;
	if (want && strcmp(want, r->site.siteidentifier) != 0 &&
	    strcmp(want, r->site.site_hash) != 0) {
		log_err("refused: [archive] site is %s, but the configured "
			"archive platform's site identifier is %s (md5 %s)",
			want, r->site.siteidentifier, r->site.site_hash);
		return SA_EXIT_REFUSED;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct rcourse *c = &r->v[i];
		const char *what = NULL;
		char ours[64], theirs[600];

		if (c->mc->moodle_version && c->mc->moodle_version != r->site.version) {
			what = "Moodle";
			snprintf(ours, sizeof(ours), "%lld",
				 (long long)r->site.version);
			snprintf(theirs, sizeof(theirs), "%lld (%s)",
				 (long long)c->mc->moodle_version,
				 c->mc->moodle_release ? c->mc->moodle_release : "?");
		} else if (c->mc->tool_version &&
			   strcmp(c->mc->tool_version, SA_VERSION) != 0) {
			what = "sessionarchiver";
			snprintf(ours, sizeof(ours), "%s", SA_VERSION);
			snprintf(theirs, sizeof(theirs), "%s", c->mc->tool_version);
		}
		if (!what)
			continue;
		if (!allow_mismatch) {
			log_err("refused: %s version mismatch: the archive "
				"platform has %s, course %lld was archived with "
				"%s (--allow-version-mismatch to override)",
				what, ours, (long long)c->id, theirs);
			return SA_EXIT_REFUSED;
		}
		log_warn("%s version mismatch (%s here, %s in the backups): "
			 "overridden",
			 what, ours, theirs);
		journal_event(r, json_pack("{s:s, s:s, s:s, s:s, s:s}", "event",
					   "version_override", "site",
					   r->site.site_hash, "what", what,
					   "here", ours, "backups", theirs));
		break;
	}
	return 0;
}

/*
 * The category the session's tree goes under: its id, -1 (logged), or -2
 * when same-platform's tree rule refuses it (logged).
 */
static int64_t resolve_target(struct restore_ctx *r, const char *spec)
{
	struct config_selector sel = { CONFIG_SEL_NONE, 0, NULL };
	const struct config_selector *use = &r->cfg->archive.target;
	struct moodle_category *cats = NULL;
	size_t n = 0, hits = 0;
	int64_t id = -1;
	char err[256];

	if (spec) {
		if (config_parse_selector(spec, &sel, err, sizeof(err)) < 0) {
			log_err("--target '%s': %s", spec, err);
			return -1;
		}
		use = &sel;
	}
	if (use->kind == CONFIG_SEL_NONE) {
		log_err("no target category: give --target or [archive] "
			"target");
		return -1;
	}
	if (moodle_categories(r->m, &cats, &n) < 0) {
		log_err("cannot read the archive's categories: %s",
			moodle_error(r->m));
		config_selector_release(&sel);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		bool hit = moodle_category_matches(use, &cats[i]);

		if (hit) {
			id = cats[i].id;
			hits++;
		}
	}
	if (hits != 1) {
		log_err("%s category matches the target on the archive "
			"platform",
			hits ? "more than one" : "no");
		id = -1;
	} else if (config_same_platform(r->cfg) &&
		   archive_site_check_tree(cats, n, r->session,
					   r->man.root_id, id) != 0) {
		id = -2;
	}
	moodle_categories_free(cats, n);
	config_selector_release(&sel);
	return id;
}

/*
 * Every backup this run would restore, read and held against the manifest
 * before anything is made on the archive platform. 0 to go on (with
 * --partial the bad ones are left out), or the exit code of a refusal.
 */
static int check_backups(struct restore_ctx *r, const struct restore_opts *o)
{
	struct restore_check_item *v = xcalloc(r->n + 1, sizeof(*v));
	struct rcourse **of = xcalloc(r->n + 1, sizeof(*of));
	size_t n = 0, bad;

	for (size_t i = 0; i < r->n; i++) {
		struct rcourse *c = &r->v[i];

		if (c->restored || c->failed != o->retry_failed)
			continue;
		v[n].mc = c->mc;
		v[n].path = xasprintf("%s/%s/%s", store_path(r->store),
				      r->session, c->mc->file);
		of[n++] = c;
	}
	if (n)
		log_msg(LOG_NOTICE, "restore of %s: checking %zu backup(s) "
			"against the manifest", r->session, n);
	bad = restore_check(v, n, r->man.source_site);
	for (size_t i = 0; i < n; i++) {
		if (v[i].problem) {
			of[i]->bad_backup = true;
			log_msg(o->partial ? LOG_WARNING : LOG_ERR,
				"course %lld '%s' (%s): %s%s",
				(long long)of[i]->id, of[i]->mc->shortname,
				of[i]->mc->file, v[i].problem,
				o->partial ? "; not restored (--partial)" : "");
		}
		/* left out: a failure --retry-failed redoes once it is fixed */
		if (v[i].problem && o->partial)
			journal_event(r, json_pack("{s:s, s:s, s:I, s:s}",
						   "event", "restore_failed",
						   "site", r->site.site_hash,
						   "source_course_id",
						   (json_int_t)of[i]->id,
						   "error", v[i].problem));
		/* a file unchanged since it was read good is not read again */
		of[i]->was_checked = !v[i].problem &&
				     stat(v[i].path, &of[i]->checked) == 0;
		free(v[i].path);
		free(v[i].problem);
	}
	free(v);
	free(of);
	r->bad_backups = bad;
	if (bad && !o->partial) {
		log_err("refused: %zu of the %zu backup(s) to restore fail the "
			"check; nothing was made on the archive platform; "
			"--partial restores the others",
			bad, n);
		return SA_EXIT_REFUSED;
	}
	return 0;
}

static int run_restore(struct restore_ctx *r, const struct restore_opts *o,
		       int64_t target)
{
	struct engine_config ec = lifecycle_config(r->cli, "restore",
						   r->session, r->idx,
						   o->no_wait);
	struct engine_ops ops = { .run = restore_run, .done = restore_done };
	struct engine_item *items;
	struct engine_result res;
	size_t n = 0;
	int rc;

	if ((rc = lifecycle_begin(&ec, r->session_id, "restore")) != 0)
		return rc;
	/* outside the window nothing is written on the archive platform */
	if (o->no_wait && !config_window_contains(&r->cfg->window, engine_now()))
		return lifecycle_outside_window(&ec);
	if (!r->rerun_hooks && (rc = check_backups(r, o)) != 0) {
		lifecycle_fail(&ec, "backups fail the check against the "
				    "manifest");
		return rc;
	}
	if (make_tree(r, target) < 0)
		return lifecycle_fail(&ec, "cannot make the category tree");
	items = xcalloc(r->n + 1, sizeof(*items));
	for (size_t i = 0; i < r->n; i++) {
		struct rcourse *c = &r->v[i];
		bool take;

		if (c->started)
			recover(r, c);
		if (r->rerun_hooks)
			take = c->restored && c->hook_failed;
		else
			take = !c->restored && !c->bad_backup &&
			       c->failed == o->retry_failed;
		if (!take)
			continue;
		if (!r->rerun_hooks) {
			char *file = xasprintf("%s/%s/%s",
					       store_path(r->store),
					       r->session, c->mc->file);

			c->argv = moodle_restore_argv(r->m, file,
						      c->category_id);
			free(file);
			if (!c->argv) {
				log_err("cannot run Moodle's CLI: %s",
					moodle_error(r->m));
				free(items);
				return lifecycle_fail(&ec, "cannot run "
							   "Moodle's CLI");
			}
		} else {
			c->new_id = c->archive_id;
		}
		items[n] = (struct engine_item){ .id = c->id,
						 .label = c->mc->shortname,
						 .data = c };
		{
			/* progress and status count the bytes restored */
			char *path = xasprintf("%s/%s/%s", store_path(r->store),
					       r->session, c->mc->file);
			struct stat sb;

			if (stat(path, &sb) == 0)
				items[n].bytes = sb.st_size;
			free(path);
		}
		n++;
	}
	if (n == 0) {
		size_t failed = 0;

		for (size_t i = 0; i < r->n && !o->retry_failed &&
				    !r->rerun_hooks; i++)
			failed += !r->v[i].restored && r->v[i].failed;
		if (failed)
			log_msg(LOG_NOTICE, "restore of %s: nothing new to do; "
				"%zu course(s) failed earlier (--retry-failed "
				"redoes them)", r->session, failed);
		else
			log_msg(LOG_NOTICE, "restore of %s: nothing to do",
				r->session);
		free(items);
		return lifecycle_idle(&ec, failed || r->bad_backups);
	}
	log_msg(LOG_NOTICE, "restore of %s: %zu course(s), %d at a time",
		r->session, n, (int)ec.parallel);
	rc = r->rerun_hooks ? 0
			    : runner_pool(r->cfg, r->m, &(struct bridge_opts){
					  .moodle_dir = r->cfg->archive.moodle,
					  .no_recyclebin = true,
					  .session = r->session },
				  false, &r->pool);
	if (rc == 0)
		rc = engine_run(&ec, items, n, &ops, r, &res);
	runner_pool_end(r->pool, "restore", r->session);
	r->pool = NULL;
	free(items);
	/* every job has ended: a placeholder left now is nobody's */
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].leftover)
			delete_placeholders(r, r->v[i].category_id,
					    r->v[i].after_id);
	if (rc < 0)
		return lifecycle_fail(&ec, "could not start");
	engine_log_summary(&ec, &res);
	return lifecycle_end(&ec, &res, r->bad_backups > 0);
}

static int parse_args(struct cli *cli, int argc, char **argv,
		      struct restore_opts *o, const char **session)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 'T' },
		{ "partial", no_argument, NULL, 'P' },
		{ "allow-version-mismatch", no_argument, NULL, 'M' },
		{ "rerun-hooks", no_argument, NULL, 'H' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "retry-failed", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	static const char synopsis[] =
		"SESSION [--target SPEC] [--partial] [--allow-version-mismatch]"
		" [--retry-failed] [--rerun-hooks] [--no-wait]";
	int c;

	while ((c = cli_getopt(cli, argc, argv, "", opts, false)) != -1) {
		if (c == 'h') {
			printf("usage: sessionarchiver restore %s\n\n%s",
			       synopsis, restore_help);
			return 1;
		}
		if (restore_opt(c, o) < 0) {
			cli_usage(cli, synopsis);
			return -1;
		}
	}
	if (argc - optind != 1) {
		cli_usage(cli, synopsis);
		return -1;
	}
	*session = argv[optind];
	return 0;
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	struct restore_opts o = { 0 };
	struct restore_ctx r = { .cli = cli, .metafd = -1 };
	struct scan_options so = { .quiet = true };
	struct lease_holder taken_from = { 0 };
	struct lease *lease = NULL;
	struct scan_stats stats;
	bool complete;
	char err[1024];
	int rc, code, logfd = -1;
	int64_t target;

	rc = parse_args(cli, argc, argv, &o, &r.session);
	if (rc)
		return rc > 0 ? SA_EXIT_OK : SA_EXIT_USAGE;
	if (!(r.cfg = cli_config(cli)))
		return SA_EXIT_USAGE;
	if (!r.cfg->archive.moodle) {
		log_err("no archive platform configured: [archive] moodle");
		return SA_EXIT_USAGE;
	}
	r.rerun_hooks = o.rerun_hooks;
	if (!(r.store = cli_open_store(cli, &rc)))
		return rc;
	rc = SA_EXIT_FAILURE;
	pthread_mutex_init(&r.m_lock, NULL);
	if (!(r.idx = cli_open_index(cli, r.store)))
		goto out_store;
	/* the lease first: what the session's state says must stay true */
	r.metafd = journal_open_meta(store_dirfd(r.store), r.session);
	if (r.metafd >= 0 &&
	    !(lease = cli_session_lease(cli, r.metafd, r.session, "restore",
					&taken_from, &rc)))
		goto out_idx;
	rc = SA_EXIT_FAILURE;
	so.only = r.session;
	if (scan_store(r.idx, r.store, &so, &stats) < 0)
		goto out_idx;
	r.session_id = idx_session_find(r.idx, r.session);

	if (r.metafd < 0 || r.session_id <= 0) {
		log_err("no session '%s' with a manifest in the store",
			r.session);
		goto out_idx;
	}
	logfd = cli_session_log(r.metafd);
	if (manifest_load(r.metafd, r.session, &r.man) < 0)
		goto out_idx;
	r.v = xcalloc(r.man.n + 1, sizeof(*r.v));
	for (size_t i = 0; i < r.man.n; i++) {
		r.v[i].mc = &r.man.v[i];
		r.v[i].id = r.man.v[i].id;
	}
	r.n = r.man.n;
	if (r.n == 0) {
		log_err("session '%s' has no archived course (empty manifest)",
			r.session);
		goto out_idx;
	}
	if (load_events(&r, &complete) < 0)
		goto out_idx;
	if (!complete && !o.partial) {
		log_err("refused: the archive of '%s' is not complete (its "
			"journal has no archive_complete); --partial restores "
			"what is archived so far",
			r.session);
		rc = SA_EXIT_REFUSED;
		goto out_idx;
	}
	r.m = moodle_open(&r.cfg->archive, &code, err, sizeof(err));
	if (!r.m) {
		log_err("archive platform: %s", err);
		rc = code == MOODLE_ERR_CONFIG ? SA_EXIT_USAGE
					       : SA_EXIT_UNREACHABLE;
		goto out_idx;
	}
	if (moodle_is_remote(r.m)) {
		log_err("restore runs on the archive platform itself: [archive] "
			"needs moodle (its code directory), not only url");
		rc = SA_EXIT_USAGE;
		goto out_moodle;
	}
	if (moodle_site(r.m, &r.site) < 0) {
		log_err("cannot read the archive site: %s", moodle_error(r.m));
		goto out_moodle;
	}
	r.journal = journal_archive_name(r.site.site_hash,
					 config_same_platform(r.cfg));
	cli_note_takeover(r.metafd, r.journal, "restore", &taken_from);
	if ((rc = check_platform(&r, o.allow_mismatch)) != 0)
		goto out_moodle;
	rc = SA_EXIT_FAILURE;
	if ((target = resolve_target(&r, o.target)) < 0) {
		if (target == -2)
			rc = SA_EXIT_REFUSED;
		goto out_moodle;
	}
	rc = run_restore(&r, &o, target);

out_moodle:
	moodle_site_release(&r.site);
	moodle_free(r.m);
out_idx:
	for (size_t i = 0; i < r.n; i++)
		rcourse_release(&r.v[i]);
	free(r.v);
	manifest_release(&r.man);
	free(r.journal);
	cli_session_log_close(logfd);
	lease_holder_release(&taken_from);
	lease_release(lease);
	if (r.metafd >= 0)
		close(r.metafd);
	idx_free(r.idx);
out_store:
	pthread_mutex_destroy(&r.m_lock);
	store_free(r.store);
	return rc;
}
