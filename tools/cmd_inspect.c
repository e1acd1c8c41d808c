/*
 * sessionarchiver inspect [--fast] [--json] FILE...: what a .mbz says about
 * itself, read by the same code the indexer uses. Useful to an admin who
 * finds an old backup, and to the tests that prove the fake Moodle writes
 * backups shaped like real ones.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "exitcode.h"
#include "log.h"
#include "mbz.h"
#include "printable.h"

static const char *format_name(enum mbz_format f)
{
	switch (f) {
	case MBZ_FORMAT_TGZ: return "tar.gz";
	case MBZ_FORMAT_ZIP: return "zip";
	default: return "unknown";
	}
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *info_to_json(const char *path, const struct mbz_info *in)
{
	json_t *o = json_object();

	json_object_set_new(o, "file", json_string(path));
	json_object_set_new(o, "format", json_string(format_name(in->format)));
	json_object_set_new(o, "size", json_integer((json_int_t)in->file_size));
	json_object_set_new(o, "sha256",
			    in->sha256[0] ? json_string(in->sha256)
					  : json_null());
	if (in->have_backup_xml) {
		json_object_set_new(o, "name", jstr(in->name));
		json_object_set_new(o, "moodle_version",
				    json_integer(in->moodle_version));
		json_object_set_new(o, "moodle_release",
				    jstr(in->moodle_release));
		json_object_set_new(o, "backup_version",
				    json_integer(in->backup_version));
		json_object_set_new(o, "backup_release",
				    jstr(in->backup_release));
		json_object_set_new(o, "backup_date",
				    json_integer(in->backup_date));
		json_object_set_new(o, "original_wwwroot",
				    jstr(in->original_wwwroot));
		json_object_set_new(o, "original_site_identifier_hash",
				    jstr(in->original_site_identifier_hash));
		json_object_set_new(o, "original_course_id",
				    json_integer(in->original_course_id));
		json_object_set_new(o, "original_course_format",
				    jstr(in->original_course_format));
		json_object_set_new(o, "original_course_shortname",
				    jstr(in->original_course_shortname));
		json_object_set_new(o, "original_course_fullname",
				    jstr(in->original_course_fullname));
		json_object_set_new(o, "original_course_startdate",
				    json_integer(in->original_course_startdate));
		json_object_set_new(o, "original_course_enddate",
				    json_integer(in->original_course_enddate));
		json_object_set_new(o, "original_course_contextid",
				    json_integer(in->original_course_contextid));
		json_object_set_new(o, "type", jstr(in->backup_type));
		json_object_set_new(o, "sections",
				    json_integer(in->section_count));
		json_object_set_new(o, "activities",
				    json_integer(in->activity_count));
	}
	if (in->have_course_xml) {
		json_t *c = json_object();

		json_object_set_new(c, "id", json_integer(in->course_id));
		json_object_set_new(c, "contextid",
				    json_integer(in->course_contextid));
		json_object_set_new(c, "shortname", jstr(in->course_shortname));
		json_object_set_new(c, "fullname", jstr(in->course_fullname));
		json_object_set_new(c, "idnumber", jstr(in->course_idnumber));
		json_object_set_new(c, "startdate",
				    json_integer(in->course_startdate));
		json_object_set_new(c, "enddate",
				    json_integer(in->course_enddate));
		json_object_set_new(c, "visible",
				    json_integer(in->course_visible));
		json_object_set_new(o, "course", c);
	}
	return o;
}

/* "key: value", the value escaped: a backup holds names typed in Moodle. */
static void print_value(const char *key, const char *sub, json_t *v)
{
	char *dump = NULL, *text;

	if (!json_is_string(v))
		dump = json_dumps(v, JSON_ENCODE_ANY);
	text = printable_dup(dump ? dump : json_string_value(v), 0);
	printf("%s%s%s: %s\n", key, sub ? "." : "", sub ? sub : "", text);
	free(text);
	free(dump);
}

static void print_text(json_t *o)
{
	const char *key, *sub;
	json_t *v, *sv;

	json_object_foreach(o, key, v) {
		if (!json_is_object(v)) {
			print_value(key, NULL, v);
			continue;
		}
		json_object_foreach(v, sub, sv)
			print_value(key, sub, sv);
	}
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fast", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	enum mbz_mode mode = MBZ_FULL;
	json_t *all = json_array();
	int c, rc = SA_EXIT_OK;

	while ((c = cli_getopt(cli, argc, argv, "f", opts, true)) != -1) {
		switch (c) {
		case 'f': mode = MBZ_FAST; break;
		case 'h':
			printf("usage: sessionarchiver inspect [--fast] [--json] "
			       "FILE...\n\n"
			       "Read Moodle backups (.mbz) and print what they "
			       "hold.\n"
			       "  --fast  read only course/course.xml (no "
			       "checksum)\n"
			       "  --json  one JSON array of objects\n");
			json_decref(all);
			return SA_EXIT_OK;
		default:
			json_decref(all);
			return cli_usage(cli, "[--fast] [--json] FILE...");
		}
	}
	if (optind >= argc) {
		json_decref(all);
		return cli_usage(cli, "[--fast] [--json] FILE...");
	}
	for (int i = optind; i < argc; i++) {
		struct mbz_info info;
		char err[512];
		json_t *o;

		mbz_info_init(&info);
		if (mbz_read_path(argv[i], mode, &info, err, sizeof(err)) < 0) {
			log_err("cannot read '%s': %s", argv[i], err);
			o = json_object();
			json_object_set_new(o, "file", json_string(argv[i]));
			json_object_set_new(o, "error", json_string(err));
			rc = SA_EXIT_FAILURE;
		} else {
			o = info_to_json(argv[i], &info);
		}
		mbz_info_release(&info);
		if (cli->json) {
			json_array_append_new(all, o);
		} else {
			if (i > optind)
				putchar('\n');
			print_text(o);
			json_decref(o);
		}
	}
	if (cli->json) {
		char *s = json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	}
	json_decref(all);
	return rc;
}
