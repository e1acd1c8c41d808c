/*
 * The archive operation. Everything that touches Moodle's database or the
 * index runs on the calling thread; a worker thread only runs the hook and
 * backup.php for its course, checks the result and renames the backup into
 * place. Recording (manifest, journal, index) happens after the rename, so
 * a kill -9 at any instant leaves either nothing under the final name, or a
 * complete backup that the next run finds and records without redoing it.
 *
 * Shared (--share, [jobs] share), several hosts archive the session at
 * once: each course is claimed before its backup (share.h), and each host
 * writes its own manifest and journal.
 */
#include "op_archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cli.h"
#include "config.h"
#include "courses.h"
#include "engine.h"
#include "hook.h"
#include "exitcode.h"
#include "idx.h"
#include "journal.h"
#include "lifecycle.h"
#include "log.h"
#include "mbz.h"
#include "moodle.h"
#include "names.h"
#include "outage.h"
#include "printable.h"
#include "runner.h"
#include "runs.h"
#include "scan.h"
#include "share.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

#define TMP_DIR SESSION_META_DIR "/tmp"
/* build_plan(): no one category is the session (none, or several) */
#define ARCHIVE_NO_SESSION (-2)

struct planned {
	struct moodle_course c;
	char *category_path; /* folders below the session, "" at its top */
	json_t *category_names; /* the categories' names, root excluded */
	char *file;          /* relative to the session folder */
	int64_t bytes;       /* estimate + overhead */
	bool archived;       /* in the manifest and on disk, intact */
	bool failed_before;  /* failed in an earlier run */
	/* filled by the worker for done() */
	char **argv;         /* backup.php command line */
	char *tmpdir;        /* absolute */
	struct mbz_info info;
	struct stat st;
	/* shared archive: the course's claim while this host has it */
	struct lease *claim;
	char other[160];     /* the host that had it, for the log */
	bool failed_elsewhere;
	char *their_file;    /* the backup another host made of it, */
	int their_read;      /* as this host read it (mbz_read_path) */
	char their_err[256];
};

struct plan {
	char *session;
	struct moodle_category root;
	struct planned *v;
	size_t n;
	int64_t needed;     /* bytes still to back up */
	int64_t free_bytes; /* on the store */
	bool fits;
	size_t to_do;
	struct moodle_site site;
};

struct archive_ctx {
	struct cli *cli;
	const struct config *cfg;
	struct store *store;
	struct idx *idx;
	struct moodle *m;   /* the calling thread's only */
	struct bridge_pool *pool; /* [jobs] runner = worker, else NULL */
	struct plan *plan;
	char *journal;      /* journal-<site>[@<host>].jsonl */
	char *manifest;     /* manifest.jsonl, or manifest@<host>.jsonl */
	int metafd;         /* the session's .session folder */
	int64_t session_id;
	struct share *share; /* a shared archive's membership, or NULL */
	int64_t done, failed, elsewhere, items; /* this host's, for status */
};

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		moodle_course_release(&p->v[i].c);
		free(p->v[i].category_path);
		json_decref(p->v[i].category_names);
		free(p->v[i].file);
		moodle_argv_free(p->v[i].argv);
		free(p->v[i].tmpdir);
		mbz_info_release(&p->v[i].info);
	}
	free(p->v);
	free(p->session);
	free(p->root.name);
	free(p->root.idnumber);
	free(p->root.path);
	free(p->root.name_path);
	moodle_site_release(&p->site);
	memset(p, 0, sizeof(*p));
}

/* The one category matching, or an error listing the candidates. */
static int pick_category(const struct moodle_category *cats, size_t n,
			 const struct config_selector *sel, const char *name,
			 const char *what, size_t *found)
{
	struct strbuf sb;
	size_t hits = 0;

	sb_init(&sb, 4096);
	for (size_t i = 0; i < n; i++) {
		bool hit = sel ? moodle_category_matches(sel, &cats[i])
			       : strcmp(cats[i].name, name) == 0;

		if (!hit)
			continue;
		*found = i;
		hits++;
		sb_printf(&sb, "%sid:%lld '%s'", sb.len ? ", " : "",
			  (long long)cats[i].id, cats[i].name_path);
	}
	if (hits == 1) {
		sb_release(&sb);
		return 0;
	}
	if (hits == 0) {
		/* the top of the tree, where sessions usually are */
		for (size_t i = 0, shown = 0; i < n && shown < 20; i++) {
			if (cats[i].parent != 0)
				continue;
			sb_printf(&sb, "%sid:%lld '%s'", sb.len ? ", " : "",
				  (long long)cats[i].id, cats[i].name_path);
			shown++;
		}
		/* one message, one line: the candidates are listed inline */
		log_err("no category matches %s on the source platform; "
			"top-level categories: %s",
			what, sb.len ? sb.buf : "none");
	} else
		log_err("%zu categories match %s; choose one with --category "
			"id:N: %s",
			hits, what, sb.buf);
	sb_release(&sb);
	return -1;
}

/* The start year whose expanded name pattern is name, or -1. */
static int year_of_name(const struct config *cfg, const char *name)
{
	char buf[256];

	for (int y = 1970; y < 2200; y++)
		if (config_pattern_expand(cfg->session.name, y, buf,
					  sizeof(buf)) == 0 &&
		    strcmp(buf, name) == 0)
			return y;
	return -1;
}

/*
 * The session's root category, and its name in the store: by name, by
 * category, or the session that ended last (--auto).
 */
static int select_root(const struct config *cfg, struct moodle_category *cats,
		       size_t n, const char *name, const char *spec,
		       bool autosel, struct plan *p)
{
	struct config_selector sel = { CONFIG_SEL_NONE, 0, NULL };
	char buf[256], what[600], err[256];
	size_t found = 0;
	int y = -1, rc;

	if (spec) {
		if (config_parse_selector(spec, &sel, err, sizeof(err)) < 0)
			return log_err("--category '%s': %s", spec, err);
		snprintf(what, sizeof(what), "'%s'", spec);
	} else {
		if (autosel) {
			y = config_session_year(cfg, engine_now());
			if (config_pattern_expand(cfg->session.name, y, buf,
						  sizeof(buf)) < 0)
				return log_err("cannot expand [session] name");
			name = buf;
		} else {
			y = year_of_name(cfg, name);
		}
		if (cfg->session.category.kind != CONFIG_SEL_NONE && y >= 0) {
			char value[512];

			sel = cfg->session.category;
			if (sel.value) {
				if (config_pattern_expand(sel.value, y, value,
							  sizeof(value)) < 0)
					return log_err("cannot expand "
						       "[session] category");
				sel.value = xstrdup(value);
			}
			snprintf(what, sizeof(what),
				 "[session] category for %s", name);
		} else {
			snprintf(what, sizeof(what), "the name '%s'", name);
		}
	}
	rc = pick_category(cats, n, sel.kind ? &sel : NULL, name, what,
			   &found);
	if (sel.value && sel.value != cfg->session.category.value)
		free(sel.value);
	if (rc < 0)
		return ARCHIVE_NO_SESSION;
	p->root = cats[found];
	p->root.name = xstrdup(cats[found].name);
	p->root.idnumber = xstrdup(cats[found].idnumber ? cats[found].idnumber
							: "");
	p->root.path = xstrdup(cats[found].path);
	p->root.name_path = xstrdup(cats[found].name_path);
	if (spec) {
		names_category(p->root.name, buf);
		name = buf;
	}
	p->session = xstrdup(name);
	if (store_name_is_hidden(p->session) || strchr(p->session, '/'))
		return log_err("session name '%s' cannot be a store folder",
			       p->session);
	return 0;
}

static size_t category_index(const struct moodle_category *cats, size_t n,
			     int64_t id)
{
	size_t i;

	for (i = 0; i < n && cats[i].id != id; i++)
		;
	return i;
}

static bool below_root(const struct moodle_category *cats, size_t n,
		       size_t i, int64_t root)
{
	for (int depth = 0; i < n && depth < 64; depth++) {
		if (cats[i].parent == root)
			return true;
		i = category_index(cats, n, cats[i].parent);
	}
	return false;
}

struct sibling {
	int64_t parent, id;
	const char *folder;
	size_t i;               /* in cats */
};

/* Siblings with the same folder next to each other, the oldest first. */
static int by_folder(const void *a, const void *b)
{
	const struct sibling *x = a, *y = b;
	int c;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	if ((c = strcmp(x->folder, y->folder)) != 0)
		return c;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * The name each category is archived under, parallel to cats. Moodle lets
 * two sibling categories share a name ("Sciences" twice): one folder, and
 * one category on the archive, would merge their courses. So each but the
 * oldest (lowest id) of siblings whose folders would be the same gets its
 * source id added, "Sciences (42)": the journal records that name, and the
 * folder and the restored category carry it. Free with free_names().
 */
static char **archived_category_names(const struct moodle_category *cats,
				      size_t n, int64_t root)
{
	char (*folder)[NAMES_BUF] = xcalloc(n + 1, sizeof(*folder));
	struct sibling *order = xcalloc(n + 1, sizeof(*order));
	char **names = xcalloc(n + 1, sizeof(*names));

	for (size_t i = 0; i < n; i++) {
		names_category(cats[i].name, folder[i]);
		order[i] = (struct sibling){ .parent = cats[i].parent,
					     .id = cats[i].id,
					     .folder = folder[i], .i = i };
	}
	qsort(order, n, sizeof(*order), by_folder);
	for (size_t j = 0; j < n; j++) {
		size_t i = order[j].i;
		bool twin = j > 0 && order[j].parent == order[j - 1].parent &&
			    strcmp(order[j].folder, order[j - 1].folder) == 0;

		if (!twin) {
			names[i] = xstrdup(cats[i].name);
			continue;
		}
		names[i] = xasprintf("%s (%lld)", cats[i].name,
				     (long long)cats[i].id);
		if (below_root(cats, n, i, root))
			log_msg(LOG_NOTICE,
				"category %lld '%s' has a sibling of the same "
				"name: archived as '%s'",
				(long long)cats[i].id, cats[i].name, names[i]);
	}
	free(order);
	free(folder);
	return names;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * Folders of category id below the root, sanitised: "Sciences/Maths"; and
 * in *names the categories' archived names (archived_category_names()),
 * for restore to recreate the tree.
 */
static char *category_folders(const struct moodle_category *cats, size_t n,
			      char *const *archived_names,
			      const struct moodle_category *root, int64_t id,
			      json_t **names)
{
	struct strbuf sb;
	size_t chain[64];
	int depth = 0;

	while (id != root->id && depth < 64) {
		size_t i = category_index(cats, n, id);

		if (i == n)
			break;
		chain[depth++] = i;
		id = cats[i].parent;
	}
	sb_init(&sb, 0);
	*names = json_array();
	for (int d = depth - 1; d >= 0; d--) {
		const char *name = archived_names[chain[d]];
		char folder[NAMES_BUF];

		json_array_append_new(*names, json_string(name));
		names_category(name, folder);
		sb_printf(&sb, "%s%s", sb.len ? "/" : "", folder);
	}
	return sb_detach(&sb, NULL);
}

/* What the index already knows of the session's courses. */
struct known {
	int64_t id;
	char *file;
	bool archived, failed;
};

struct known_list {
	struct known *v;
	size_t n;
};

static int add_known(void *ctx, const struct course_known *c)
{
	struct known_list *l = ctx;
	struct known *k;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	k = &l->v[l->n++];
	k->id = c->source_id;
	k->file = xstrdup(c->file);
	/* the backup is what archive cares for: a course whose restore
	 * failed later is still archived */
	k->archived = c->archived;
	k->failed = !k->archived && strcmp(c->state, "failed") == 0;
	return 0;
}

/* What the index knows of the session's courses, by source id. */
static int load_known(struct idx *idx, int64_t session_id, struct known **out,
		      size_t *n)
{
	struct known_list l = { 0 };
	int rc = courses_known(idx, session_id, add_known, &l);

	*out = l.v;
	*n = l.n;
	return rc;
}

static const struct known *find_known(const struct known *k, size_t n,
				      int64_t id)
{
	size_t lo = 0, hi = n;

	/* load_known() gives them by source id */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k[mid].id == id)
			return &k[mid];
		if (k[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool name_taken(const struct known *k, size_t nk,
		       const struct planned *v, size_t nv, const char *file,
		       int64_t course)
{
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;

	for (size_t i = 0; i < nk; i++) {
		const char *b = strrchr(k[i].file, '/');

		if (k[i].id != course && strcmp(b ? b + 1 : k[i].file, base) == 0)
			return true;
	}
	for (size_t i = 0; i < nv; i++) {
		const char *b;

		if (!v[i].file || v[i].c.id == course)
			continue;
		b = strrchr(v[i].file, '/');
		if (strcmp(b ? b + 1 : v[i].file, base) == 0)
			return true;
	}
	return false;
}

/*
 * Every course of the session with its file in the store. A course the
 * index already knows keeps its file name; a new one gets its shortname,
 * or "<shortname>-<id>" when that name is taken in the session.
 */
static int build_plan(struct moodle *m, struct idx *idx, struct store *st,
		      const struct config *cfg, const char *name,
		      const char *spec, bool autosel, struct plan *p)
{
	struct moodle_category *cats = NULL;
	struct moodle_course *courses = NULL;
	struct known *known = NULL;
	char **cat_names = NULL;
	size_t ncats = 0, ncourses = 0, nknown = 0;
	struct scan_options so = { .quiet = true };
	struct scan_stats stats;
	struct statvfs sv;
	int64_t session_id;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	if (moodle_site(m, &p->site) < 0) {
		log_err("cannot read the source site: %s", moodle_error(m));
		return -1;
	}
	if (moodle_categories(m, &cats, &ncats) < 0) {
		log_err("cannot read categories: %s", moodle_error(m));
		return -1;
	}
	if ((rc = select_root(cfg, cats, ncats, name, spec, autosel, p)) < 0)
		goto out_free;
	rc = -1;
	if (moodle_courses_in(m, p->root.id, true, &courses, &ncourses) < 0) {
		log_err("cannot read the courses of '%s': %s",
			p->root.name_path, moodle_error(m));
		goto out_free;
	}
	/* what the store holds already: the index must be current */
	so.only = p->session;
	if (faccessat(store_dirfd(st), p->session, F_OK, 0) == 0 &&
	    scan_store(idx, st, &so, &stats) < 0)
		goto out_free;
	session_id = idx_session_ensure(idx, p->session);
	if (session_id < 0 || load_known(idx, session_id, &known, &nknown) < 0)
		goto out_free;
	cat_names = archived_category_names(cats, ncats, p->root.id);
	p->v = xcalloc(ncourses ? ncourses : 1, sizeof(*p->v));
	for (size_t i = 0; i < ncourses; i++) {
		struct planned *pc = &p->v[p->n++];
		const struct known *k = find_known(known, nknown, courses[i].id);
		char file[NAMES_BUF];

		pc->c = courses[i];
		memset(&courses[i], 0, sizeof(courses[i]));
		mbz_info_init(&pc->info);
		pc->category_path =
			category_folders(cats, ncats, cat_names, &p->root,
					 pc->c.category, &pc->category_names);
		pc->bytes = pc->c.estimate + ARCHIVE_OVERHEAD;
		if (k) {
			pc->file = xstrdup(k->file);
			pc->archived = k->archived;
			pc->failed_before = k->failed;
		} else {
			names_course_file(pc->c.shortname, pc->c.id, 0, file);
			pc->file = xasprintf("%s%s%s", pc->category_path,
					     *pc->category_path ? "/" : "",
					     file);
			if (name_taken(known, nknown, p->v, p->n - 1, pc->file,
				       pc->c.id)) {
				free(pc->file);
				names_course_file(pc->c.shortname, pc->c.id, 1,
						  file);
				pc->file = xasprintf("%s%s%s",
						     pc->category_path,
						     *pc->category_path ? "/"
									: "",
						     file);
			}
		}
		if (!pc->archived) {
			p->needed += pc->bytes;
			p->to_do++;
		}
	}
	if (statvfs(store_path(st), &sv) < 0) {
		log_err("cannot read the free space of '%s': %s",
			store_path(st), strerror(errno));
		goto out_free;
	}
	p->free_bytes = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
	p->fits = p->needed + p->needed * ARCHIVE_MARGIN_PCT / 100 <=
		  p->free_bytes;
	rc = 0;

out_free:
	for (size_t i = 0; i < nknown; i++)
		free(known[i].file);
	free(known);
	moodle_courses_free(courses, ncourses);
	free_names(cat_names, ncats);
	moodle_categories_free(cats, ncats);
	return rc;
}

static json_t *plan_json(const struct plan *p)
{
	json_t *o = json_object(), *list = json_array();

	json_object_set_new(o, "operation", json_string("archive"));
	json_object_set_new(o, "session", json_string(p->session));
	json_object_set_new(o, "category_id", json_integer(p->root.id));
	json_object_set_new(o, "category_path", json_string(p->root.name_path));
	json_object_set_new(o, "source_site_hash",
			    json_string(p->site.site_hash));
	json_object_set_new(o, "source_wwwroot",
			    p->site.wwwroot ? json_string(p->site.wwwroot)
					    : json_null());
	for (size_t i = 0; i < p->n; i++) {
		const struct planned *pc = &p->v[i];
		json_t *c = json_object();

		json_object_set_new(c, "id", json_integer(pc->c.id));
		json_object_set_new(c, "shortname",
				    json_string(pc->c.shortname));
		json_object_set_new(c, "fullname", json_string(pc->c.fullname));
		json_object_set_new(c, "category_path",
				    json_string(pc->category_path));
		json_object_set_new(c, "file", json_string(pc->file));
		json_object_set_new(c, "estimate", json_integer(pc->bytes));
		json_object_set_new(c, "sections",
				    json_integer(pc->c.sections));
		json_object_set_new(c, "activities",
				    json_integer(pc->c.activities));
		json_object_set_new(c, "state",
				    json_string(pc->archived ? "archived"
						: pc->failed_before
							? "failed"
							: "pending"));
		json_array_append_new(list, c);
	}
	json_object_set_new(o, "courses", list);
	json_object_set_new(o, "total", json_integer((json_int_t)p->n));
	json_object_set_new(o, "to_do", json_integer((json_int_t)p->to_do));
	json_object_set_new(o, "needed_bytes", json_integer(p->needed));
	json_object_set_new(o, "margin_percent",
			    json_integer(ARCHIVE_MARGIN_PCT));
	json_object_set_new(o, "free_bytes", json_integer(p->free_bytes));
	json_object_set_new(o, "verdict", json_string(p->fits ? "ok"
							      : "not enough "
								"space"));
	return o;
}

/*
 * The plan as text; at most max_courses course lines (0: all). It goes to
 * a terminal, plan.txt and the start mail: Moodle's names are escaped.
 */
static char *plan_text(const struct plan *p, size_t max_courses)
{
	struct strbuf sb;

	sb_init(&sb, 0);
	sb_adds(&sb, "plan: archive of session ");
	printable_add(&sb, p->session, 0);
	sb_printf(&sb, "\ncategory: id:%lld ", (long long)p->root.id);
	printable_add(&sb, p->root.name_path, 0);
	sb_adds(&sb, "\nsource: ");
	printable_add(&sb, p->site.wwwroot ? p->site.wwwroot : "-", 0);
	sb_adds(&sb, " (site ");
	printable_add(&sb, p->site.site_hash ? p->site.site_hash : "-", 0);
	sb_adds(&sb, ")\ncourses:\n");
	for (size_t i = 0; i < p->n; i++) {
		const struct planned *pc = &p->v[i];

		if (max_courses && i == max_courses) {
			sb_printf(&sb, "  ... and %zu more (see plan.txt in the "
				       "session's .session folder)\n",
				  p->n - i);
			break;
		}
		sb_printf(&sb, "  %-8s %8lld  %12lld  ",
			  pc->archived ? "archived"
			  : pc->failed_before ? "failed"
					      : "pending",
			  (long long)pc->c.id, (long long)pc->bytes);
		printable_add(&sb, pc->c.shortname, 0);
		sb_adds(&sb, "  -> ");
		printable_add(&sb, pc->file, 0);
		sb_addch(&sb, '\n');
	}
	sb_printf(&sb,
		  "total: %zu courses, %zu to back up, %lld bytes estimated "
		  "(+%d%% margin)\n",
		  p->n, p->to_do, (long long)p->needed, ARCHIVE_MARGIN_PCT);
	sb_printf(&sb, "free on the store: %lld bytes\n",
		  (long long)p->free_bytes);
	sb_printf(&sb, "verdict: %s\n",
		  p->fits ? "ok" : "NOT ENOUGH SPACE: archive refuses to start "
				   "(--force to override)");
	return sb_detach(&sb, NULL);
}

/* The session's folder and .session/, created when missing. */
static int open_session_meta(struct store *st, const char *session)
{
	int fd = journal_make_meta(store_dirfd(st), session, true);

	if (fd < 0)
		log_err("cannot create or open '%s/%s/%s': %s", store_path(st),
			session, SESSION_META_DIR, strerror(errno));
	return fd;
}

/*
 * session.ini says which platform the session comes from. A session of
 * another source site is refused: two platforms must never mix their
 * courses under one name.
 */
static int check_session_ini(int metafd, const struct plan *p)
{
	char buf[4096], *ini;
	ssize_t n;
	int fd = openat(metafd, "session.ini", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if (!strstr(buf, p->site.site_hash))
			return log_err("session '%s' in the store comes from "
				       "another Moodle site (see its "
				       ".session/session.ini): refused",
				       p->session);
		return 0;
	}
	ini = xasprintf("# written by sessionarchiver: where the session "
			"comes from\n[session]\nname = %s\n"
			"source_site_hash = %s\nsource_wwwroot = %s\n"
			"source_category_id = %lld\nsource_category_path = %s\n"
			"tool_version = %s\ncreated = %lld\n",
			p->session, p->site.site_hash,
			p->site.wwwroot ? p->site.wwwroot : "",
			(long long)p->root.id, p->root.name_path, SA_VERSION,
			(long long)time(NULL));
	n = store_write_atomic(metafd, "session.ini", ini, strlen(ini), 0644);
	free(ini);
	return n < 0 ? log_err("cannot write session.ini: %s",
			       strerror(errno))
		     : 0;
}

/* plan.json and plan.txt in .session/, pending rows in the index. */
static int record_plan(struct idx *idx, int metafd, const struct plan *p)
{
	json_t *j = plan_json(p);
	char *text = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	char *txt = plan_text(p, 0);
	int64_t session_id;
	int rc = 0;

	json_decref(j);
	if (store_write_atomic(metafd, "plan.json", text, strlen(text),
			       0644) < 0 ||
	    store_write_atomic(metafd, "plan.txt", txt, strlen(txt), 0644) <
		    0)
		rc = log_err("cannot write the plan into the store: %s",
			     strerror(errno));
	free(text);
	free(txt);
	session_id = idx_session_ensure(idx, p->session);
	if (rc < 0 || session_id < 0 || idx_begin(idx) < 0)
		return -1;
	for (size_t i = 0; i < p->n && rc == 0; i++) {
		const struct planned *pc = &p->v[i];
		int64_t cat = idx_category_ensure(idx, session_id,
						  pc->category_path);
		const char *base = strrchr(pc->file, '/');
		struct course_planned row = {
			.category_id = cat,
			.name = base ? base + 1 : pc->file,
			.file = pc->file,
			.source_id = pc->c.id,
			.shortname = pc->c.shortname,
			.fullname = pc->c.fullname,
			.sections = pc->c.sections,
			.activities = pc->c.activities,
		};

		if (cat < 0 || courses_plan(idx, session_id, &row) < 0)
			rc = -1;
	}
	if (rc < 0 || idx_commit(idx) < 0) {
		idx_rollback(idx);
		return -1;
	}
	return 0;
}

/* The one .mbz Moodle left in dir, or NULL with why. Caller frees. */
static char *single_backup(const char *dir, char *why, size_t whylen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *found = NULL;
	int n = 0;

	if (!d) {
		snprintf(why, whylen, "cannot list '%s': %s", dir,
			 strerror(errno));
		return NULL;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len > 4 && strcmp(de->d_name + len - 4, ".mbz") == 0 &&
		    n++ == 0)
			found = xasprintf("%s/%s", dir, de->d_name);
	}
	closedir(d);
	if (n == 1)
		return found;
	free(found);
	snprintf(why, whylen,
		 n ? "backup.php left %d files instead of one"
		   : "backup.php left no backup file in its destination",
		 n);
	return NULL;
}

static enum engine_outcome run_hook(const struct archive_ctx *a,
				    struct planned *pc, struct engine_job *job,
				    char *err, size_t errlen)
{
	char *mbz = xasprintf("%s/%s/%s", store_path(a->store),
			      a->plan->session, pc->file);
	struct hook_course hc = { .session = a->plan->session,
				  .source_id = pc->c.id,
				  .shortname = pc->c.shortname,
				  .fullname = pc->c.fullname,
				  .category_path = pc->category_path,
				  .mbz = mbz,
				  .moodle = a->cfg->source.moodle };
	char why[768];
	enum engine_outcome out = ENGINE_DONE;

	if (hook_run_course("pre_backup", a->cfg->hooks.pre_backup, &hc,
			    a->cfg->hooks.timeout, &job->pid, why,
			    sizeof(why)) < 0 &&
	    !atomic_load(&job->abort))
		out = engine_fail(err, errlen, "pre_backup hook failed: %s",
				  why);
	free(mbz);
	/* cancelled while it ran: the course is redone, not failed */
	if (atomic_load(&job->abort))
		out = ENGINE_ABORTED;
	return out;
}

static int make_dirs(int dirfd, const char *rel)
{
	char *path = xstrdup(rel);
	int rc = 0;

	for (char *p = path; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (*path && mkdirat(dirfd, path, 0755) < 0 && errno != EEXIST)
			rc = -1;
		*p = c;
		if (!c)
			break;
	}
	free(path);
	return rc;
}

/*
 * A backup.php of this course left running by a killed run (one that could
 * not die with it): the course waits for it, so that two backups of it
 * never run at once.
 */
static void wait_orphan_backup(struct archive_ctx *a, struct planned *pc)
{
	const char *script = NULL;
	char *course = xasprintf("--courseid=%lld", (long long)pc->c.id);

	for (char **arg = pc->argv; *arg && !script; arg++)
		if (strlen(*arg) > 20 &&
		    strcmp(*arg + strlen(*arg) - 20, "admin/cli/backup.php") == 0)
			script = *arg;
	if (script) {
		const char *args[] = { script, course, NULL };

		child_wait_orphans(args, a->cfg->jobs.timeout,
				   "backup.php left by an interrupted run");
	}
	free(course);
}

/*
 * Moodle's admin/cli/backup.php of the course into its temp folder;
 * *output gets what it printed (caller frees).
 */
static enum engine_outcome backup_by_cli(struct archive_ctx *a,
					 struct planned *pc,
					 struct engine_job *job, char **output,
					 char *err, size_t errlen)
{
	struct child_opts o = { .argv = pc->argv,
				.envp = child_default_env, .out_fd = -1,
				.timeout_s = a->cfg->jobs.timeout,
				.own_group = true, .running_pid = &job->pid };
	struct child_result r = { 0 };
	char how[128], words[512];
	enum engine_outcome out = ENGINE_DONE;

	*output = NULL;
	if (child_run(&o, &r) < 0) {
		/* no php, no fork: no course can be backed up */
		engine_fail(err, errlen, "cannot run '%s': %s", pc->argv[0],
			    strerror(errno));
		return ENGINE_PLATFORM_DOWN;
	}
	moodle_cli_words(r.output, words, sizeof(words));
	if (atomic_load(&job->abort))
		out = ENGINE_ABORTED;
	else if (!child_ok(&r))
		out = engine_fail(err, errlen, "backup.php %s: %s",
				  child_describe(&r, o.timeout_s, how,
						 sizeof(how)),
				  words);
	/* real Moodle exits 0 on some failures: trust only the whole set */
	else if (!strstr(r.output, "Backup completed."))
		out = engine_fail(err, errlen,
				  "backup.php did not complete: %s", words);
	*output = xstrdup(r.output);
	child_result_release(&r);
	return out;
}

/* The same through a bridge worker of the run's pool. */
static enum engine_outcome backup_by_worker(struct archive_ctx *a,
					    struct planned *pc,
					    struct engine_job *job,
					    char **output, char *err,
					    size_t errlen)
{
	json_t *request = json_pack("{s:s, s:I, s:s}", "command", "backup",
				    "id", (json_int_t)pc->c.id,
				    "destination", pc->tmpdir);
	struct bridge_call call = { .timeout_s = a->cfg->jobs.timeout,
				    .running_pid = &job->pid,
				    .want_output = true };
	json_t *answer;
	char why[1024];

	answer = bridge_pool_ask(a->pool, request, &call, why, sizeof(why));
	json_decref(answer);
	*output = call.output;
	if (atomic_load(&job->abort))
		return ENGINE_ABORTED;
	if (call.not_started) {
		/* no php, no fork: no course can be backed up */
		engine_fail(err, errlen, "%s", why);
		return ENGINE_PLATFORM_DOWN;
	}
	if (!answer)
		return engine_fail(err, errlen, "Moodle's backup failed: %s",
				   why);
	return ENGINE_DONE;
}

/*
 * A backup renamed into place by a run that died before recording it: the
 * file is whole (rename is atomic), so it is recorded, not redone. True
 * when pc->info and pc->st now describe it.
 */
static bool backup_in_place(struct archive_ctx *a, struct planned *pc)
{
	char *path = xasprintf("%s/%s/%s", store_path(a->store),
			       a->plan->session, pc->file);
	char err[256];
	bool whole = stat(path, &pc->st) == 0 &&
		     mbz_read_path(path, MBZ_FULL, &pc->info, err,
				   sizeof(err)) == 0 &&
		     pc->info.original_course_id == pc->c.id;

	if (whole)
		log_msg(LOG_NOTICE,
			"course %lld: a complete backup from an interrupted "
			"run is in place, recorded",
			(long long)pc->c.id);
	else
		mbz_info_release(&pc->info);
	free(path);
	return whole;
}

/* A shared archive's course: ours to do, another host's, or later. */
static enum engine_outcome claim_course(struct archive_ctx *a,
					struct planned *pc, char *err,
					size_t errlen)
{
	enum share_claim claim = share_claim(a->share, pc->c.id, pc->file,
					     &pc->claim, pc->other,
					     sizeof(pc->other),
					     &pc->their_file);
	char *path;

	switch (claim) {
	case SHARE_CLAIMED:
		return ENGINE_DONE;
	case SHARE_TAKEN_OVER:
		log_msg(LOG_NOTICE,
			"course %lld: claim taken over from %s, silent for "
			"longer than [store] lease_grace",
			(long long)pc->c.id, pc->other);
		return ENGINE_DONE;
	case SHARE_BUSY:
		return ENGINE_DEFERRED;
	case SHARE_DONE_ELSEWHERE:
	case SHARE_FAILED_ELSEWHERE:
		pc->failed_elsewhere = claim == SHARE_FAILED_ELSEWHERE;
		if (!pc->their_file)
			return ENGINE_ELSEWHERE;
		/* this host's index reads it as a scan would, here where
		 * it overlaps this host's own backups */
		path = xasprintf("%s/%s/%s", store_path(a->store),
				 a->plan->session, pc->their_file);
		pc->their_read = stat(path, &pc->st) < 0
					 ? (snprintf(pc->their_err,
						     sizeof(pc->their_err),
						     "%s", strerror(errno)),
					    -1)
					 : mbz_read_path(path, MBZ_FULL,
							 &pc->info,
							 pc->their_err,
							 sizeof(pc->their_err));
		free(path);
		return ENGINE_ELSEWHERE;
	default:
		engine_fail(err, errlen, "cannot claim the course in %s/%s",
			    SESSION_META_DIR, LEASE_CLAIMS_DIR);
		return ENGINE_STORE_DOWN;
	}
}

/* On a worker thread: hook, Moodle's backup, checks, rename into place. */
static enum engine_outcome archive_run(void *ctx, struct engine_item *it,
				       struct engine_job *job, char *err,
				       size_t errlen)
{
	struct archive_ctx *a = ctx;
	struct planned *pc = it->data;
	char how[128], words[512], label[64], *mbz = NULL, *final = NULL;
	char *dir, *output = NULL;
	struct outage_store_case oc = {
		.store_dir = store_path(a->store), .need = pc->bytes,
		.dataroot = a->plan->site.dataroot
	};
	enum engine_outcome out;
	struct statvfs sv;
	int sessfd = -1, fd;

	if (a->share) {
		if ((out = claim_course(a, pc, err, errlen)) != ENGINE_DONE)
			return out;
		/* a member that died between rename and record left it */
		if (backup_in_place(a, pc))
			return ENGINE_DONE;
	}
	/* refusing is better than a full disk: check before each course */
	if (statvfs(store_path(a->store), &sv) == 0 &&
	    (int64_t)sv.f_bavail * (int64_t)sv.f_frsize <
		    pc->bytes + pc->bytes * ARCHIVE_MARGIN_PCT / 100) {
		engine_fail(err, errlen,
			    "not enough space on the store: %lld bytes free, "
			    "%lld needed",
			    (long long)sv.f_bavail * (long long)sv.f_frsize,
			    (long long)pc->bytes);
		return ENGINE_STORE_DOWN;
	}
	if (a->cfg->hooks.pre_backup &&
	    (out = run_hook(a, pc, job, err, errlen)) != ENGINE_DONE)
		return out;
	if (!a->pool)
		wait_orphan_backup(a, pc);
	store_remove_tree(AT_FDCWD, pc->tmpdir);
	if (mkdir(pc->tmpdir, 0777) < 0) {
		oc.sys_errno = errno;
		engine_fail(err, errlen, "cannot create '%s': %s", pc->tmpdir,
			    strerror(errno));
		return outage_store(&oc, err, errlen);
	}
	/* Moodle's CLI may run as another user: it must write here */
	chmod(pc->tmpdir, 0777);
	out = a->pool ? backup_by_worker(a, pc, job, &output, err, errlen)
		      : backup_by_cli(a, pc, job, &output, err, errlen);
	snprintf(label, sizeof(label), "%s for course %lld",
		 a->pool ? "backup (bridge worker)" : "backup.php",
		 (long long)pc->c.id);
	if (output)
		log_lines(LOG_INFO, label, output);
	if (out != ENGINE_DONE)
		goto out_clean;
	moodle_cli_words(output, words, sizeof(words));
	if (!(mbz = single_backup(pc->tmpdir, how, sizeof(how)))) {
		out = engine_fail(err, errlen, "%s: %s", how, words);
		goto out_clean;
	}
	if (mbz_read_path(mbz, MBZ_FULL, &pc->info, how, sizeof(how)) < 0) {
		out = engine_fail(err, errlen, "the backup is unreadable: %s", how);
		goto out_clean;
	}
	if (pc->info.original_course_id != pc->c.id) {
		out = engine_fail(err, errlen,
			   "the backup holds course %lld, not %lld",
			   (long long)pc->info.original_course_id,
			   (long long)pc->c.id);
		goto out_clean;
	}
	fd = open(mbz, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0 || fchmod(fd, 0644) < 0) {
		oc.sys_errno = errno;
		out = engine_fail(err, errlen, "cannot sync '%s': %s", mbz,
			   strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out_clean;
	}
	close(fd);
	if (pc->claim && !lease_held(pc->claim)) {
		/* stalled past the grace: another host redoes it */
		log_warn("course %lld: its claim was taken over meanwhile, "
			 "this backup is dropped",
			 (long long)pc->c.id);
		out = ENGINE_DEFERRED;
		goto out_clean;
	}
	sessfd = openat(store_dirfd(a->store), a->plan->session,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = xstrdup(pc->file);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0';
	else
		dir[0] = '\0';
	if (sessfd < 0 || make_dirs(sessfd, dir) < 0) {
		oc.sys_errno = errno;
		out = engine_fail(err, errlen, "cannot create '%s' in the store: %s",
			   dir, strerror(errno));
		free(dir);
		goto out_clean;
	}
	free(dir);
	final = xasprintf("%s/%s/%s", store_path(a->store), a->plan->session,
			  pc->file);
	if (rename(mbz, final) < 0 || stat(final, &pc->st) < 0) {
		oc.sys_errno = errno;
		out = engine_fail(err, errlen, "cannot move the backup to '%s': %s",
			   final, strerror(errno));
		goto out_clean;
	}
	fd = open(final, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		/* the rename must survive a crash too: sync its folder */
		char *parent = xstrdup(final);

		close(fd);
		*strrchr(parent, '/') = '\0';
		fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
		free(parent);
	}
	out = ENGINE_DONE;

out_clean:
	store_remove_tree(AT_FDCWD, pc->tmpdir);
	/* what is left free now is what the next course would find */
	if (out == ENGINE_FAILED) {
		/* a worker's answer holds Moodle's error, not its output */
		char *said = xasprintf("%s\n%s", output ? output : "", err);

		oc.output = said;
		out = outage_store(&oc, err, errlen);
		free(said);
	}
	if (sessfd >= 0)
		close(sessfd);
	free(output);
	free(mbz);
	free(final);
	return out;
}

/* What status shows of this host in a shared archive. */
static void count_member(struct archive_ctx *a)
{
	if (a->share)
		share_counts(a->share, a->done, a->failed, a->elsewhere,
			     a->items - a->done - a->failed - a->elsewhere);
}

static void journal_event(struct archive_ctx *a, json_t *ev)
{
	if (journal_append(a->metafd, a->journal, ev) < 0)
		log_err("cannot write the journal '%s': %s", a->journal,
			strerror(errno));
	json_decref(ev);
}

/* On the calling thread: manifest, journal and index for one course. */
static enum engine_outcome archive_done(void *ctx, struct engine_item *it,
					enum engine_outcome outcome,
					char *err, size_t errlen)
{
	struct archive_ctx *a = ctx;
	struct planned *pc = it->data;
	json_t *ev;

	outcome = outage_platform(a->m, outcome, err, errlen);
	if (outcome == ENGINE_DONE && pc->claim && !lease_held(pc->claim)) {
		log_warn("course %lld: its claim was taken over meanwhile, "
			 "not recorded here",
			 (long long)pc->c.id);
		outcome = ENGINE_DEFERRED;
	}
	if (outcome == ENGINE_ELSEWHERE) {
		pc->archived = !pc->failed_elsewhere;
		log_info("course %lld '%s' %s %s", (long long)pc->c.id,
			 pc->c.shortname,
			 pc->failed_elsewhere ? "failed on" : "archived by",
			 pc->other);
		a->elsewhere++;
		if (pc->their_file && pc->their_read == 0)
			scan_record_file(a->idx, a->session_id, pc->their_file,
					 &pc->st, 0, &pc->info, NULL);
		else if (pc->their_file)
			log_warn("course %lld: cannot read the backup %s made: "
				 "%s",
				 (long long)pc->c.id, pc->other,
				 pc->their_err);
		free(pc->their_file);
		pc->their_file = NULL;
		mbz_info_release(&pc->info);
		scan_session_feeds(a->idx, a->store, a->plan->session,
				   pc->c.id);
		count_member(a);
		return outcome;
	}
	if (outcome == ENGINE_ABORTED || outcome == ENGINE_DEFERRED ||
	    engine_outage(outcome)) {
		/* pending: another host, or the next run, does it */
		lease_release(pc->claim);
		pc->claim = NULL;
		mbz_info_release(&pc->info);
	}
	if (outcome == ENGINE_ABORTED || outcome == ENGINE_DEFERRED)
		return outcome;
	if (engine_outage(outcome)) {
		/* not the course's failure: no journal line, still pending */
		log_warn("course %lld '%s' not archived, it stays pending: %s",
			 (long long)pc->c.id, pc->c.shortname, err);
		return outcome;
	}
	if (outcome == ENGINE_FAILED) {
		log_err("course %lld '%s' failed: %s", (long long)pc->c.id,
			pc->c.shortname, err);
		ev = json_pack("{s:s, s:s, s:I, s:s, s:s}", "event",
			       "backup_failed", "site", a->plan->site.site_hash,
			       "source_course_id", (json_int_t)pc->c.id, "file",
			       pc->file, "error", err);
		journal_event(a, ev);
		a->failed++;
	} else {
		json_t *line = json_pack(
			"{s:i, s:I, s:I, s:s, s:s, s:I, s:s, s:s, s:s, s:O,"
			" s:I, s:i, s:i, s:s, s:s?, s:I, s:I, s:s, s:s, s:I}",
			"v", 1, "time", (json_int_t)time(NULL),
			"source_course_id", (json_int_t)pc->c.id, "file",
			pc->file, "sha256", pc->info.sha256, "size",
			(json_int_t)pc->st.st_size, "shortname",
			pc->c.shortname, "fullname", pc->c.fullname,
			"category_path", pc->category_path, "category_names",
			pc->category_names,
			"source_category_id", (json_int_t)pc->c.category,
			"sections", pc->c.sections, "activities",
			pc->c.activities, "site_hash", a->plan->site.site_hash,
			"moodle_release", pc->info.moodle_release,
			"moodle_version", (json_int_t)pc->info.moodle_version,
			"backup_date", (json_int_t)pc->info.backup_date,
			"tool_version", SA_VERSION, "session_category",
			a->plan->root.name, "session_category_id",
			(json_int_t)a->plan->root.id);

		if (!line || journal_append(a->metafd, a->manifest, line) < 0)
			log_err("cannot write the manifest of '%s': %s",
				a->plan->session, strerror(errno));
		json_decref(line);
		ev = json_pack("{s:s, s:s, s:I, s:s, s:s}", "event", "backup",
			       "site", a->plan->site.site_hash,
			       "source_course_id", (json_int_t)pc->c.id, "file",
			       pc->file, "sha256", pc->info.sha256);
		journal_event(a, ev);
		scan_record_file(a->idx, a->session_id, pc->file, &pc->st, 0,
				 &pc->info, NULL);
		pc->archived = true;
		pc->failed_before = false;
		a->done++;
		log_info("course %lld '%s' archived to %s", (long long)pc->c.id,
			 pc->c.shortname, pc->file);
	}
	/* the outcome stays for the other hosts, after the lines saying it */
	if (pc->claim)
		lease_finish(pc->claim, outcome == ENGINE_DONE ? "done"
							       : "failed");
	pc->claim = NULL;
	count_member(a);
	scan_session_feeds(a->idx, a->store, a->plan->session, pc->c.id);
	mbz_info_release(&pc->info);
	return outcome;
}

struct select_args {
	const char *name;
	const char *category;
	bool autosel;
};

static int parse_selection(struct cli *cli, int argc, char **argv,
			   const char *synopsis, const struct option *extra,
			   const char *extra_short, bool json_ok,
			   struct select_args *sel,
			   int (*on_opt)(int c, void *data), void *data,
			   const char *help)
{
	struct option opts[16];
	size_t n = 0;
	int c;

	opts[n++] = (struct option){ "category", required_argument, NULL,
				     'C' };
	opts[n++] = (struct option){ "auto", no_argument, NULL, 'A' };
	for (const struct option *o = extra; o && o->name; o++)
		opts[n++] = *o;
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
	while ((c = cli_getopt(cli, argc, argv, extra_short, opts,
			       json_ok)) != -1) {
		if (c == 'C') {
			sel->category = optarg;
		} else if (c == 'A') {
			sel->autosel = true;
		} else if (c == 'h') {
			printf("usage: sessionarchiver %s %s\n\n%s",
			       cli->command, synopsis, help);
			return 1;
		} else if (c == '?' || !on_opt || on_opt(c, data) < 0) {
			cli_usage(cli, synopsis);
			return -1;
		}
	}
	if (optind < argc)
		sel->name = argv[optind++];
	if (optind != argc ||
	    (!!sel->name + !!sel->category + sel->autosel) != 1) {
		cli_usage(cli, synopsis);
		return -1;
	}
	return 0;
}

static const char plan_help[] =
	"Show the plan of an archive: every course of the session's category\n"
	"with its target file in the store and its estimated size, the total,\n"
	"the store's free space and the verdict. The plan is also written to\n"
	"the index and to the session's .session/ folder (the mount's plan).\n"
	"  SESSION          the session by name (e.g. 2025-2026)\n"
	"  --category SPEC  id:N, idnumber:X or path:/A/B\n"
	"  --auto           the session that ended last ([session])\n"
	"  --json           the plan as JSON\n";

/* Opens what both commands need; exit code on failure. */
static int open_all(struct cli *cli, struct store **st, struct idx **idx,
		    struct moodle **m)
{
	const struct config *cfg = cli_config(cli);
	char err[1024];
	int code, rc;

	if (!cfg)
		return SA_EXIT_USAGE;
	if (!cfg->source.moodle && !cfg->source.db.set) {
		log_err("no source platform configured: [source] moodle");
		return SA_EXIT_USAGE;
	}
	if (!(*st = cli_open_store(cli, &rc)))
		return rc;
	if (!(*idx = cli_open_index(cli, *st))) {
		store_free(*st);
		return SA_EXIT_FAILURE;
	}
	*m = moodle_open(&cfg->source, &code, err, sizeof(err));
	if (!*m) {
		log_err("source platform: %s", err);
		idx_free(*idx);
		store_free(*st);
		return code == MOODLE_ERR_CONFIG ? SA_EXIT_USAGE
						 : SA_EXIT_UNREACHABLE;
	}
	if (moodle_is_remote(*m)) {
		log_err("archive runs on the source platform itself: [source] "
			"needs moodle (its code directory), not only url");
		moodle_free(*m);
		idx_free(*idx);
		store_free(*st);
		return SA_EXIT_USAGE;
	}
	return SA_EXIT_OK;
}

int cmd_plan(struct cli *cli, int argc, char **argv)
{
	static const char synopsis[] =
		"archive [SESSION | --category SPEC | --auto] [--json]";
	struct select_args sel = { 0 };
	struct store *st;
	struct idx *idx;
	struct moodle *m;
	struct plan p;
	int rc, metafd;

	/* "plan archive ...": the operation comes first */
	if (argc < 2 || strcmp(argv[1], "archive") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
				  strcmp(argv[1], "--help") == 0)) {
			printf("usage: sessionarchiver plan %s\n\n%s",
			       synopsis, plan_help);
			return SA_EXIT_OK;
		}
		return cli_usage(cli, synopsis);
	}
	argc--;
	argv++;
	rc = parse_selection(cli, argc, argv, synopsis, NULL, "", true, &sel,
			     NULL, NULL, plan_help);
	if (rc)
		return rc > 0 ? SA_EXIT_OK : SA_EXIT_USAGE;
	if ((rc = open_all(cli, &st, &idx, &m)) != SA_EXIT_OK)
		return rc;
	rc = build_plan(m, idx, st, cli->cfg, sel.name, sel.category,
			sel.autosel, &p);
	if (rc < 0) {
		rc = rc == ARCHIVE_NO_SESSION ? SA_EXIT_REFUSED
					      : SA_EXIT_FAILURE;
		plan_free(&p);
	} else {
		rc = SA_EXIT_FAILURE;
		metafd = open_session_meta(st, p.session);
		if (metafd >= 0 && check_session_ini(metafd, &p) < 0) {
			rc = SA_EXIT_REFUSED;
		} else if (metafd >= 0 && record_plan(idx, metafd, &p) == 0) {
			if (cli->json) {
				json_t *j = plan_json(&p);
				char *s = json_dumps(j, JSON_INDENT(2) |
							       JSON_PRESERVE_ORDER);

				puts(s);
				free(s);
				json_decref(j);
			} else {
				char *s = plan_text(&p, 0);

				fputs(s, stdout);
				free(s);
			}
			rc = p.fits ? SA_EXIT_OK : SA_EXIT_REFUSED;
		}
		if (metafd >= 0)
			close(metafd);
		plan_free(&p);
	}
	moodle_free(m);
	idx_free(idx);
	store_free(st);
	return rc;
}

struct archive_opts {
	bool force, no_wait, retry_failed, share;
	unsigned shard, shards; /* --shard K/N: 1 <= K <= N; 0/0 none */
};

static int parse_shard(struct archive_opts *o, const char *arg)
{
	unsigned k, n;
	int used = 0;

	if (sscanf(arg, "%u/%u%n", &k, &n, &used) != 2 || arg[used] ||
	    k < 1 || n < 1 || k > n || n > 1000) {
		log_err("bad --shard '%s': expected K/N with 1 <= K <= N <= "
			"1000 (this host's share of N)",
			arg);
		return -1;
	}
	o->shard = k;
	o->shards = n;
	o->share = true;
	return 0;
}

static int archive_opt(int c, void *data)
{
	struct archive_opts *o = data;

	switch (c) {
	case 'F': o->force = true; return 0;
	case 'W': o->no_wait = true; return 0;
	case 'R': o->retry_failed = true; return 0;
	case 'S': o->share = true; return 0;
	case 'K': return parse_shard(o, optarg);
	default: return -1;
	}
}

static const char archive_help[] =
	"Back every course of the session up into the store with Moodle's\n"
	"backup.php, inside the hour window, [jobs] parallel at a time.\n"
	"  SESSION          the session by name (e.g. 2025-2026)\n"
	"  --category SPEC  id:N, idnumber:X or path:/A/B\n"
	"  --auto           the session that ended last ([session])\n"
	"  --force          start even if the estimate exceeds the free space\n"
	"  --no-wait        outside the window, exit 3 instead of waiting\n"
	"  --retry-failed   redo only the courses that failed before\n"
	"  --share          share the session with the other hosts running\n"
	"                   archive --share on it: each does courses others\n"
	"                   have not claimed ([jobs] share)\n"
	"  --shard K/N      shared, and only the courses whose id modulo N\n"
	"                   is K-1\n"
	"Signals: SIGUSR1 pauses, SIGUSR2 resumes, SIGTERM cancels (or\n"
	"'sessionarchiver pause|resume|cancel SESSION').\n";

/* Items for the engine, and each course's backup.php command line. */
static struct engine_item *make_items(struct archive_ctx *a, struct moodle *m,
				      const struct archive_opts *o, size_t *n)
{
	struct engine_item *items = xcalloc(a->plan->n + 1, sizeof(*items));

	*n = 0;
	for (size_t i = 0; i < a->plan->n; i++) {
		struct planned *pc = &a->plan->v[i];
		if (pc->archived || pc->failed_before != o->retry_failed ||
		    (o->shards && (uint64_t)pc->c.id % o->shards !=
					   o->shard - 1))
			continue;
		/* the run's pid in the name: a backup.php orphaned by a
		 * killed run writes where no later run looks */
		if (a->share)
			pc->tmpdir = xasprintf(
				"%s/%s/%s/%s/%lld", store_path(a->store),
				a->plan->session, TMP_DIR,
				share_member(a->share), (long long)pc->c.id);
		else
			pc->tmpdir = xasprintf(
				"%s/%s/%s/%lld-%ld", store_path(a->store),
				a->plan->session, TMP_DIR,
				(long long)pc->c.id, (long)getpid());
		pc->argv = moodle_backup_argv(m, pc->c.id, pc->tmpdir);
		if (!pc->argv) {
			log_err("cannot run Moodle's CLI: %s", moodle_error(m));
			free(items);
			return NULL;
		}
		items[*n] = (struct engine_item){ .id = pc->c.id,
						  .label = pc->c.shortname,
						  .bytes = pc->bytes,
						  .data = pc };
		(*n)++;
	}
	return items;
}

static void adopt_orphans(struct archive_ctx *a)
{
	for (size_t i = 0; i < a->plan->n; i++) {
		struct planned *pc = &a->plan->v[i];
		struct engine_item it = { .id = pc->c.id,
					  .label = pc->c.shortname,
					  .data = pc };

		if (pc->archived || !backup_in_place(a, pc))
			continue;
		archive_done(a, &it, ENGINE_DONE, NULL, 0);
		pc->archived = true;
		pc->failed_before = false;
	}
}

static int run_archive(struct archive_ctx *a, struct moodle *m,
		       const struct archive_opts *o)
{
	struct engine_config ec = lifecycle_config(a->cli, "archive",
						   a->plan->session, a->idx,
						   o->no_wait);
	struct engine_ops ops = { .run = archive_run, .done = archive_done };
	struct engine_result res;
	struct engine_item *items;
	char *summary, *tmp;
	size_t n;
	int rc;

	if ((rc = lifecycle_begin(&ec, a->session_id, "archive")) != 0)
		return rc;
	/* we hold the session: what a dead run left in tmp/ is garbage (a
	 * member of a shared archive cleared what dead members left) */
	if (!a->share)
		store_remove_tree(a->metafd, "tmp");
	tmp = a->share ? xasprintf("tmp/%s", share_member(a->share))
		       : xstrdup("tmp");
	if ((mkdirat(a->metafd, "tmp", 0755) < 0 && errno != EEXIST) ||
	    (mkdirat(a->metafd, tmp, 0755) < 0 && errno != EEXIST)) {
		log_err("cannot create '%s/%s/%s/%s': %s",
			store_path(a->store), a->plan->session,
			SESSION_META_DIR, tmp, strerror(errno));
		free(tmp);
		return lifecycle_fail(&ec, "cannot create tmp/");
	}
	free(tmp);
	/* shared: each claimed course looks for its own (archive_run) */
	if (!a->share)
		adopt_orphans(a);
	items = make_items(a, m, o, &n);
	a->items = (int64_t)n;
	count_member(a);
	if (!items)
		return lifecycle_fail(&ec, "cannot run Moodle's CLI");
	if (n == 0) {
		size_t failed = 0;

		for (size_t i = 0; i < a->plan->n; i++)
			failed += a->plan->v[i].failed_before;
		if (o->retry_failed)
			log_msg(LOG_NOTICE,
				"archive of %s: no failed course to retry",
				a->plan->session);
		else if (o->shards)
			log_msg(LOG_NOTICE,
				"archive of %s: nothing to do in shard %u/%u",
				a->plan->session, o->shard, o->shards);
		else if (failed)
			log_msg(LOG_NOTICE,
				"archive of %s: nothing new to do; %zu "
				"course(s) failed earlier (--retry-failed "
				"redoes them)",
				a->plan->session, failed);
		else
			log_msg(LOG_NOTICE,
				"archive of %s: nothing to do, every course "
				"is archived",
				a->plan->session);
		free(items);
		return lifecycle_idle(&ec, failed && !o->retry_failed);
	}
	/* a mail, not the plan of 10,000 courses: the store has that */
	summary = plan_text(a->plan, 50);
	ec.start_summary = summary;
	log_msg(LOG_NOTICE, "archive of %s: %zu course(s) to back up, %d at a "
			    "time",
		a->plan->session, n, (int)ec.parallel);
	rc = runner_pool(a->cfg, m, &(struct bridge_opts){
				 .moodle_dir = a->cfg->source.moodle,
				 .session = a->plan->session },
			 false, &a->pool);
	if (rc == 0)
		rc = engine_run(&ec, items, n, &ops, a, &res);
	runner_pool_end(a->pool, "archive", a->plan->session);
	a->pool = NULL;
	free(summary);
	free(items);
	if (rc < 0)
		return lifecycle_fail(&ec, "could not start");
	engine_log_summary(&ec, &res);
	if ((rc = lifecycle_end(&ec, &res, false)) != SA_EXIT_OK)
		return rc;
	for (size_t i = 0; i < a->plan->n; i++)
		if (!a->plan->v[i].archived)
			return SA_EXIT_OK;
	/* restore may start on a complete session without --partial */
	journal_event(a, json_pack("{s:s, s:s, s:I}", "event",
				   "archive_complete", "site",
				   a->plan->site.site_hash, "courses",
				   (json_int_t)a->plan->n));
	return SA_EXIT_OK;
}

int cmd_archive(struct cli *cli, int argc, char **argv)
{
	static const char synopsis[] =
		"[SESSION | --category SPEC | --auto] [--force] [--no-wait] "
		"[--retry-failed] [--share | --shard K/N]";
	static const struct option extra[] = {
		{ "force", no_argument, NULL, 'F' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "retry-failed", no_argument, NULL, 'R' },
		{ "share", no_argument, NULL, 'S' },
		{ "shard", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	struct archive_opts o = { 0 };
	struct select_args sel = { 0 };
	struct archive_ctx a = { .cli = cli, .metafd = -1 };
	struct scan_options so = { .quiet = true };
	struct lease_holder taken_from = { 0 };
	struct lease *lease = NULL;
	struct scan_stats stats;
	struct moodle *m;
	struct plan p;
	int rc, logfd = -1;

	rc = parse_selection(cli, argc, argv, synopsis, extra, "", false, &sel,
			     archive_opt, &o, archive_help);
	if (rc)
		return rc > 0 ? SA_EXIT_OK : SA_EXIT_USAGE;
	if ((rc = open_all(cli, &a.store, &a.idx, &m)) != SA_EXIT_OK)
		return rc;
	a.cfg = cli->cfg;
	a.m = m;
	o.share = o.share || a.cfg->jobs.share;
	rc = build_plan(m, a.idx, a.store, a.cfg, sel.name, sel.category,
			sel.autosel, &p);
	if (rc < 0) {
		rc = rc == ARCHIVE_NO_SESSION ? SA_EXIT_REFUSED
					      : SA_EXIT_FAILURE;
		plan_free(&p);
		goto out_free;
	}
	rc = SA_EXIT_FAILURE;
	a.plan = &p;
	a.metafd = open_session_meta(a.store, p.session);
	if (a.metafd < 0)
		goto out_plan;
	logfd = cli_session_log(a.metafd);
	if (o.share) {
		/* older versions would not see the per-host manifests */
		if (store_require_format(a.store, STORE_FORMAT_SHARED) < 0) {
			log_err("cannot move the store to format %d for a "
				"shared archive: %s",
				STORE_FORMAT_SHARED, strerror(errno));
			goto out_plan;
		}
		a.share = share_join(cli, a.metafd, p.session, &taken_from,
				     &rc);
		if (!a.share)
			goto out_plan;
	} else {
		lease = cli_session_lease(cli, a.metafd, p.session, "archive",
					  &taken_from, &rc);
		if (!lease)
			goto out_plan;
	}
	rc = SA_EXIT_FAILURE;
	/* another host may have archived courses since the plan was made */
	so.only = p.session;
	if (scan_store(a.idx, a.store, &so, &stats) < 0)
		goto out_plan;
	if (stats.read || stats.lines || stats.vanished) {
		plan_free(&p);
		if (build_plan(m, a.idx, a.store, a.cfg, sel.name,
			       sel.category, sel.autosel, &p) < 0)
			goto out_plan;
	}
	if (check_session_ini(a.metafd, &p) < 0) {
		rc = SA_EXIT_REFUSED;
		goto out_plan;
	}
	if (record_plan(a.idx, a.metafd, &p) < 0)
		goto out_plan;
	if (!p.fits && !o.force) {
		log_err("archive of %s refused: %lld bytes estimated (+%d%%), "
			"%lld free on the store; free space or use --force",
			p.session, (long long)p.needed, ARCHIVE_MARGIN_PCT,
			(long long)p.free_bytes);
		rc = SA_EXIT_REFUSED;
		goto out_plan;
	}
	a.session_id = idx_session_ensure(a.idx, p.session);
	a.journal = journal_name(p.site.site_hash, o.share);
	a.manifest = journal_manifest_name(o.share);
	cli_note_takeover(a.metafd, a.journal, "archive", &taken_from);
	if (a.session_id > 0)
		rc = run_archive(&a, m, &o);
	free(a.journal);
	free(a.manifest);
out_plan:
	lease_holder_release(&taken_from);
	lease_release(lease);
	share_leave(a.share);
	cli_session_log_close(logfd);
	if (a.metafd >= 0)
		close(a.metafd);
	plan_free(&p);
out_free:
	moodle_free(m);
	idx_free(a.idx);
	store_free(a.store);
	return rc;
}
