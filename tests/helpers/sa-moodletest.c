/*
 * sa-moodletest: reads a Moodle platform the way sessionarchiver does, for
 * the integration tests (tests/integration/test_moodle.py).
 *
 *   sa-moodletest CONFIG [source|archive [CATEGORY_ID [flat]]]
 *
 * Loads CONFIG, opens the [source] (default) or [archive] platform with
 * moodle_open() and prints one JSON object on stdout: "site" (null for
 * what the platform does not tell), "remote" (moodle_is_remote()),
 * "categories", with CATEGORY_ID "courses" (moodle_courses_in(), recursive
 * unless "flat" follows) and "single"
 * (the same courses through moodle_course_get()), "missing" (what
 * moodle_course_get() says of an unknown id) and "backup_argv"
 * (moodle_cli_argv() for admin/cli/backup.php --courseid=2, or null with
 * "backup_argv_error"). Exit 0; 2 for a bad config or MOODLE_ERR_CONFIG,
 * 5 (SA_EXIT_UNREACHABLE) when the platform cannot be reached, 1 when a
 * query fails; the reason goes to stderr.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "exitcode.h"
#include "moodle.h"

static json_t *course_json(const struct moodle_course *c)
{
	return json_pack("{sI sI ss ss ss sI sI si sI si si}", "id",
			 (json_int_t)c->id, "category", (json_int_t)c->category,
			 "shortname", c->shortname, "fullname", c->fullname,
			 "idnumber", c->idnumber, "startdate",
			 (json_int_t)c->startdate, "enddate",
			 (json_int_t)c->enddate, "visible", c->visible,
			 "estimate", (json_int_t)c->estimate, "sections",
			 c->sections, "activities", c->activities);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static int add_site(struct moodle *m, json_t *out)
{
	struct moodle_site s;

	if (moodle_site(m, &s) < 0)
		return -1;
	json_object_set_new(
		out, "site",
		json_pack("{so so ss sI so so}", "siteidentifier",
			  str_or_null(s.siteidentifier), "site_hash",
			  str_or_null(s.site_hash), "release", s.release,
			  "version", (json_int_t)s.version, "wwwroot",
			  str_or_null(s.wwwroot), "dataroot",
			  str_or_null(s.dataroot)));
	json_object_set_new(out, "remote", json_boolean(moodle_is_remote(m)));
	moodle_site_release(&s);
	return 0;
}

static int add_categories(struct moodle *m, json_t *out)
{
	struct moodle_category *c;
	json_t *a = json_array();
	size_t n;

	if (moodle_categories(m, &c, &n) < 0) {
		json_decref(a);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			a, json_pack("{sI sI ss ss ss ss si sI}", "id",
				     (json_int_t)c[i].id, "parent",
				     (json_int_t)c[i].parent, "name",
				     c[i].name, "idnumber", c[i].idnumber,
				     "path", c[i].path, "name_path",
				     c[i].name_path, "depth", c[i].depth,
				     "sortorder", (json_int_t)c[i].sortorder));
	json_object_set_new(out, "categories", a);
	moodle_categories_free(c, n);
	return 0;
}

static int add_courses(struct moodle *m, long long cat, bool recursive,
		       json_t *out)
{
	struct moodle_course *c, one;
	json_t *list = json_array(), *single = json_array();
	size_t n;
	int rc;

	json_object_set_new(out, "courses", list);
	json_object_set_new(out, "single", single);
	if (moodle_courses_in(m, cat, recursive, &c, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(list, course_json(&c[i]));
		rc = moodle_course_get(m, c[i].id, &one);
		if (rc < 0) {
			moodle_courses_free(c, n);
			return -1;
		}
		json_array_append_new(single, rc ? json_null()
						 : course_json(&one));
		if (!rc)
			moodle_course_release(&one);
	}
	moodle_courses_free(c, n);
	rc = moodle_course_get(m, 999999999, &one);
	if (rc < 0)
		return -1;
	if (!rc)
		moodle_course_release(&one);
	json_object_set_new(out, "missing", json_integer(rc));
	/* the site course is never a course to archive */
	rc = moodle_course_get(m, 1, &one);
	if (rc < 0)
		return -1;
	if (!rc)
		moodle_course_release(&one);
	json_object_set_new(out, "site_course", json_integer(rc));
	return 0;
}

static void add_argv(struct moodle *m, json_t *out)
{
	char *const args[] = { "--courseid=2", NULL };
	char **argv = moodle_cli_argv(m, "admin/cli/backup.php", args);
	json_t *a;

	if (!argv) {
		json_object_set_new(out, "backup_argv", json_null());
		json_object_set_new(out, "backup_argv_error",
				    json_string(moodle_error(m)));
		return;
	}
	a = json_array();
	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(a, json_string(argv[i]));
	json_object_set_new(out, "backup_argv", a);
	moodle_argv_free(argv);
}

int main(int argc, char **argv)
{
	const struct config_platform *p;
	struct config *cfg;
	struct moodle *m = NULL;
	unsigned long long cat = 0;
	json_t *out = NULL;
	char err[1024];
	int code, ret = SA_EXIT_USAGE;

	if (argc < 2 || argc > 5 ||
	    (argc > 2 && strcmp(argv[2], "source") &&
	     strcmp(argv[2], "archive")) ||
	    (argc > 3 && config_parse_uint(argv[3], 1, INT64_MAX, &cat) < 0) ||
	    (argc > 4 && strcmp(argv[4], "flat"))) {
		fprintf(stderr, "usage: sa-moodletest CONFIG "
				"[source|archive [CATEGORY_ID [flat]]]\n");
		return SA_EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "sa-moodletest: curl_global_init failed\n");
		return SA_EXIT_FAILURE;
	}
	if (mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "sa-moodletest: mysql_library_init failed\n");
		curl_global_cleanup();
		return SA_EXIT_FAILURE;
	}
	cfg = config_new();
	if (config_load_file(cfg, argv[1], err, sizeof(err)) < 0 ||
	    config_check(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "sa-moodletest: %s\n", err);
		goto out;
	}
	p = argc > 2 && !strcmp(argv[2], "archive") ? &cfg->archive
						    : &cfg->source;
	m = moodle_open(p, &code, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "sa-moodletest: %s\n", err);
		ret = code == MOODLE_ERR_CONFIG ? SA_EXIT_USAGE
						: SA_EXIT_UNREACHABLE;
		goto out;
	}
	ret = SA_EXIT_FAILURE;
	out = json_object();
	if (add_site(m, out) < 0 || add_categories(m, out) < 0 ||
	    (cat && add_courses(m, (long long)cat, argc <= 4, out) < 0)) {
		fprintf(stderr, "sa-moodletest: %s\n", moodle_error(m));
		goto out;
	}
	add_argv(m, out);
	json_dumpf(out, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
	putchar('\n');
	ret = SA_EXIT_OK;
out:
	json_decref(out);
	moodle_free(m);
	config_free(cfg);
	mysql_library_end();
	curl_global_cleanup();
	return ret;
}
