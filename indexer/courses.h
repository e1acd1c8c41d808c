/*
 * courses: the operations' reads and writes of the index's courses table,
 * typed: what archive knows of a session's courses before it plans, the
 * pending rows its plan records, and the files check re-reads.
 */
#ifndef SA_COURSES_H
#define SA_COURSES_H

#include <stdbool.h>
#include <stdint.h>

struct idx;

/* A course of the session as archive sees it (borrowed strings). */
struct course_known {
	int64_t source_id;
	const char *file;
	const char *state;
	bool archived; /* in the manifest, on disk, readable, its checksum */
};

typedef int (*course_known_fn)(void *ctx, const struct course_known *k);

/*
 * Every course of the session with a source id and not 'unknown', by
 * source id; fn's non-zero stops. 0, or -1 (logged).
 */
int courses_known(struct idx *idx, int64_t session_id, course_known_fn fn,
		  void *ctx);

/* A course archive plans to back up. */
struct course_planned {
	int64_t category_id; /* 0: the session's top level */
	const char *name, *file;
	int64_t source_id;
	const char *shortname, *fullname;
	int sections, activities;
};

/* The pending row of p (kept names when it exists). 0, or -1 (logged). */
int courses_plan(struct idx *idx, int64_t session_id,
		 const struct course_planned *p);

/* A file of the session as check sees it (borrowed strings). */
struct course_file {
	const char *file;
	bool in_manifest, on_disk;
	const char *manifest_sha256; /* NULL when the manifest has none */
	bool session_has_manifest;   /* any course of it is in one */
};

typedef int (*course_file_fn)(void *ctx, const struct course_file *f);

/* Every file of the session, by name. 0, or -1 (logged). */
int courses_files(struct idx *idx, int64_t session_id, course_file_fn fn,
		  void *ctx);

#endif
