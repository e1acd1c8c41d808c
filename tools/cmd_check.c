/*
 * sessionarchiver check [SESSION] [--json]: re-reads every backup of the
 * store (not trusting size or mtime: bit rot changes neither) and compares
 * it with the manifest. Lists missing, corrupted, truncated and unknown
 * files; exits 0 only when all is well.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "courses.h"
#include "exitcode.h"
#include "idx.h"
#include "log.h"
#include "printable.h"
#include "progress.h"
#include "readpool.h"
#include "scan.h"
#include "store.h"
#include "strbuf.h"
#include "tree.h"
#include "xalloc.h"

struct check {
	const char *session;
	char **files;            /* relative to the session folder */
	char **manifest_sha;     /* NULL when not in the manifest */
	bool has_manifest;       /* does the session have one at all */
	json_t *problems;
	long checked, ok;
	struct progress *bar;
};

static void problem(struct check *c, const char *file, const char *kind,
		    const char *detail)
{
	json_t *o = json_object();

	json_object_set_new(o, "session", json_string(c->session));
	json_object_set_new(o, "file", json_string(file));
	json_object_set_new(o, "problem", json_string(kind));
	json_object_set_new(o, "detail", json_string(detail));
	json_array_append_new(c->problems, o);
}

/*
 * mbz reports both as "truncated or corrupted archive: CAUSE"; only the
 * cause (libarchive's or ours) tells a short file from a damaged one.
 */
static bool is_truncation(const char *err)
{
	const char *cause = strstr(err, ": ");

	cause = cause ? cause + 2 : err;
	return strcasestr(cause, "truncated") ||
	       strstr(cause, "unexpected end");
}

static int on_read(void *ctx, size_t i, int rc, const struct mbz_info *info,
		   const char *err)
{
	struct check *c = ctx;

	c->checked++;
	progress_update(c->bar, c->checked, 0, c->files[i]);
	if (rc != 0) {
		problem(c, c->files[i],
			is_truncation(err) ? "truncated" : "corrupted", err);
	} else if (c->manifest_sha[i] &&
		   strcmp(c->manifest_sha[i], info->sha256) != 0) {
		char *detail = xasprintf("SHA-256 %s, manifest says %s",
					 info->sha256, c->manifest_sha[i]);

		problem(c, c->files[i], "corrupted", detail);
		free(detail);
	} else if (!c->manifest_sha[i] && c->has_manifest) {
		problem(c, c->files[i], "unknown",
			"readable backup that the manifest does not list");
	} else {
		c->ok++;
	}
	return 0;
}

/* What check_session() gathers of the session's files from the index. */
struct listing {
	struct check *c;
	struct store *st;
	const char *name;
	char **paths;
	size_t n;
};

static int add_file(void *ctx, const struct course_file *f)
{
	struct listing *l = ctx;
	struct check *c = l->c;

	c->has_manifest = f->session_has_manifest;
	if (!f->on_disk) {
		if (f->in_manifest)
			problem(c, f->file, "missing",
				"listed in the manifest, not in the store");
		return 0;
	}
	c->files = xrealloc(c->files, (l->n + 1) * sizeof(*c->files));
	c->manifest_sha = xrealloc(c->manifest_sha,
				   (l->n + 1) * sizeof(*c->manifest_sha));
	l->paths = xrealloc(l->paths, (l->n + 1) * sizeof(*l->paths));
	c->files[l->n] = xstrdup(f->file);
	c->manifest_sha[l->n] =
		f->manifest_sha256 ? xstrdup(f->manifest_sha256) : NULL;
	l->paths[l->n] = xasprintf("%s/%s/%s", store_path(l->st), l->name,
				   f->file);
	l->n++;
	return 0;
}

static int check_session(struct idx *idx, struct store *st, const char *name,
			 int64_t session_id, bool quiet, struct check *c)
{
	struct listing l = { .c = c, .st = st, .name = name };
	char **paths;
	size_t n;
	int rc;

	c->session = name;
	rc = courses_files(idx, session_id, add_file, &l);
	paths = l.paths;
	n = l.n;
	if (rc == 0) {
		c->bar = progress_new(name, (int64_t)n, 0, quiet);
		rc = readpool_run(paths, n, MBZ_FULL, 0, on_read, c);
		progress_end(c->bar);
	}
	for (size_t i = 0; i < n; i++) {
		free(paths[i]);
		free(c->files[i]);
		free(c->manifest_sha[i]);
	}
	free(paths);
	free(c->files);
	free(c->manifest_sha);
	c->files = c->manifest_sha = NULL;
	return rc;
}

/* The sessions to check: all, or the one named. */
struct sessions {
	const char *only;
	int64_t *ids;
	char **names;
	size_t n;
};

static int add_session(void *ctx, const struct tree_entry *e)
{
	struct sessions *ss = ctx;

	if (ss->only && strcmp(ss->only, e->name) != 0)
		return 0;
	ss->ids = xrealloc(ss->ids, (ss->n + 1) * sizeof(*ss->ids));
	ss->names = xrealloc(ss->names, (ss->n + 1) * sizeof(*ss->names));
	ss->ids[ss->n] = e->id;
	ss->names[ss->n++] = xstrdup(e->name);
	return 0;
}

/* A string of a problem as part of a tab-separated field. */
static void add_field(struct strbuf *sb, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	printable_add(sb, v ? v : "-", PRINTABLE_TSV);
}

static void print_report(const struct check *c, long sessions, bool json)
{
	struct strbuf sb;
	json_t *o;
	size_t i;

	if (json) {
		json_t *out = json_object();
		char *text;

		json_object_set_new(out, "ok", json_boolean(
			json_array_size(c->problems) == 0));
		json_object_set_new(out, "sessions", json_integer(sessions));
		json_object_set_new(out, "checked", json_integer(c->checked));
		json_object_set_new(out, "good", json_integer(c->ok));
		json_object_set_new(out, "problems", json_incref(c->problems));
		text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(text);
		free(text);
		json_decref(out);
		return;
	}
	/* one problem a line, whatever the file name or detail holds */
	sb_init(&sb, 0);
	json_array_foreach(c->problems, i, o) {
		sb_reset(&sb);
		add_field(&sb, o, "problem");
		sb_addch(&sb, '\t');
		add_field(&sb, o, "session");
		sb_addch(&sb, '/');
		add_field(&sb, o, "file");
		sb_addch(&sb, '\t');
		add_field(&sb, o, "detail");
		puts(sb.buf);
	}
	sb_release(&sb);
	printf("%s: %ld session(s), %ld backups read, %ld good, %zu "
	       "problem(s)\n",
	       json_array_size(c->problems) ? "FAIL" : "OK", sessions,
	       c->checked, c->ok, json_array_size(c->problems));
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
	static const char synopsis[] = "[--json] [SESSION]";
	struct scan_options so = { .quiet = true };
	struct check c = { 0 };
	struct scan_stats stats;
	struct store *st;
	struct idx *idx;
	struct sessions ss = { .only = NULL };
	int opt, rc;

	while ((opt = cli_getopt(cli, argc, argv, "", NULL, true)) != -1) {
		if (opt == 'h') {
			printf("usage: sessionarchiver check %s\n\n"
			       "Re-read every backup and compare its SHA-256 "
			       "with the manifest; list\nmissing, corrupted, "
			       "truncated and unknown files. Exit 0 only when "
			       "all\nis well.\n",
			       synopsis);
			return SA_EXIT_OK;
		}
		return cli_usage(cli, synopsis);
	}
	if (argc - optind > 1)
		return cli_usage(cli, synopsis);
	so.only = ss.only = optind < argc ? argv[optind] : NULL;
	if (!(st = cli_open_store(cli, &rc)))
		return rc;
	if (!(idx = cli_open_index(cli, st))) {
		store_free(st);
		return SA_EXIT_FAILURE;
	}
	/* the index must know every file before we can call one unknown */
	if (scan_store(idx, st, &so, &stats) < 0 ||
	    tree_sessions(idx, add_session, &ss) < 0) {
		rc = SA_EXIT_FAILURE;
		goto out_free;
	}
	if (so.only && ss.n == 0) {
		log_err("no session '%s' in the store", so.only);
		rc = SA_EXIT_FAILURE;
		goto out_free;
	}
	c.problems = json_array();
	rc = SA_EXIT_OK;
	for (size_t i = 0; i < ss.n; i++)
		if (check_session(idx, st, ss.names[i], ss.ids[i],
				  cli->verbosity < 0, &c) < 0)
			rc = SA_EXIT_FAILURE;
	if (rc == SA_EXIT_OK) {
		print_report(&c, (long)ss.n, cli->json);
		if (json_array_size(c.problems) > 0)
			rc = SA_EXIT_FAILURE;
	}
	json_decref(c.problems);
out_free:
	for (size_t i = 0; i < ss.n; i++)
		free(ss.names[i]);
	free(ss.names);
	free(ss.ids);
	idx_free(idx);
	store_free(st);
	return rc;
}
