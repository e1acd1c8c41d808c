/*
 * manifest: a session's manifest.jsonl as the operations after archive
 * read it (restore, verify, purge): one entry per archived course, the
 * latest line of a course winning, plus what the lines say of the session
 * (its category on the source platform, the source site).
 */
#ifndef SA_MANIFEST_H
#define SA_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct manifest_course {
	int64_t id;             /* source course id */
	char *file;             /* relative to the session folder */
	char *sha256;
	char *shortname, *fullname;
	char *category_path;    /* store folders, "" at the session's top */
	json_t *category_names; /* the source categories' names */
	char *moodle_release;
	int64_t moodle_version;
	char *tool_version;
	int64_t time;           /* of its line */
	int file_no;            /* which manifest file it comes from */
};

struct manifest {
	struct manifest_course *v;
	size_t n;
	char *root_name;            /* the session's category on the source
				       (the session's name if unknown) */
	int64_t root_id;            /* its id there, 0 when unknown */
	char *source_site;          /* md5 of the source's siteidentifier */
	size_t *slots, cap;         /* manifest_find's hash of the ids */
};

/*
 * Reads metafd/manifest.jsonl and the per-host manifest@*.jsonl of a
 * shared archive (metafd: the session's .session folder).
 * Garbage lines are skipped with a warning. 0, or -1 (logged). Release
 * with manifest_release().
 */
int manifest_load(int metafd, const char *session, struct manifest *out);
void manifest_release(struct manifest *m);
struct manifest_course *manifest_find(const struct manifest *m, int64_t id);

/*
 * Is have the name want, possibly renamed by Moodle on restore because it
 * existed already: "S_1" (sep "_") for shortnames, "F copy 1" (sep
 * " copy ") for fullnames?
 */
bool manifest_name_matches(const char *have, const char *want,
			   const char *sep);

#endif
