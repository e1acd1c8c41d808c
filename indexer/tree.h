/*
 * tree: what the mount shows of the index, in the index's words: the
 * sessions, a session's categories and course files by path, the
 * children of a category, a course's attributes. The mount (fs/ops.c)
 * turns them into stat structures and directory entries.
 */
#ifndef SA_TREE_H
#define SA_TREE_H

#include <stdbool.h>
#include <stdint.h>

struct idx;

struct tree_entry {
	const char *name;   /* borrowed: valid during the callback */
	bool is_course;     /* a course file, else a category folder */
	int64_t id;         /* courses.id, categories.id, sessions.id; 0 in
			       tree_children()'s entries */
	int64_t size;       /* course files only */
	int64_t mtime_ns;
};

/* Called for each entry; non-zero stops the walk (not an error). */
typedef int (*tree_fn)(void *ctx, const struct tree_entry *e);

/*
 * What rel (a path below the session folder) is: a course file on disk or
 * a category, looked up in that order when course_first. 1 with *out
 * (name unset), 0 when neither, -1 when the index cannot be read.
 */
int tree_lookup(struct idx *idx, int64_t session_id, const char *rel,
		bool course_first, struct tree_entry *out);

/*
 * The sub-categories of parent (0: the session's top level), by name, then
 * its course files on disk, by name. 0, or -1 when the index cannot be
 * read.
 */
int tree_children(struct idx *idx, int64_t session_id, int64_t parent,
		  tree_fn fn, void *ctx);

/* Every session, by name (id: sessions.id, is_course false). 0 or -1. */
int tree_sessions(struct idx *idx, tree_fn fn, void *ctx);

/* The columns the mount shows as a course file's attributes. */
enum tree_attr {
	TREE_STATE,
	TREE_SHA256,
	TREE_SOURCE_ID,
	TREE_ARCHIVE_ID,
	TREE_SHORTNAME,
	TREE_ERROR,
	N_TREE_ATTRS
};

/*
 * The attributes of course id, vals[i] NULL where the index has none
 * (caller frees each). 1, 0 when no such course, -1 when unreadable.
 */
int tree_course_attrs(struct idx *idx, int64_t id,
		      char *vals[N_TREE_ATTRS]);

#endif
