/*
 * names: turning Moodle names into store file and folder names.
 *
 * A course file is named after the course's shortname and a category
 * folder after the category's name, so that the store reads well with `ls`.
 * Moodle's names may hold anything, so each is sanitised: no '/', no NUL or
 * other control characters, no leading '.', valid UTF-8 only, at most
 * NAMES_MAX bytes, and never a name the store hides (*.tmp, *.part). Pure
 * functions: any thread may call them.
 */
#ifndef SA_NAMES_H
#define SA_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* Longest file or folder name we make, in bytes (below NAME_MAX = 255). */
#define NAMES_MAX 200
#define NAMES_BUF (NAMES_MAX + 1)

/*
 * Writes the sanitised form of name into out (NAMES_BUF bytes): unsafe
 * bytes become '_', spaces at the ends go, invalid UTF-8 sequences become
 * '_', a leading '.' becomes '_', the result is cut on a character boundary
 * at max_bytes (<= NAMES_MAX), and an empty result becomes fallback.
 */
void names_sanitize(const char *name, size_t max_bytes, const char *fallback,
		    char out[NAMES_BUF]);

/* Names the mount shows in a session folder for its own files. */
#define NAMES_RESERVED "status", "status.json", "control", "plan", \
		       "report", "log"

/*
 * A category folder name: names_sanitize() with fallback "category", and
 * "_" added to a name the mount reserves (NAMES_RESERVED).
 */
void names_category(const char *name, char out[NAMES_BUF]);

/*
 * A course file name "<shortname>.mbz". With disambiguate, the source
 * course id is added ("<shortname>-<id>.mbz"): callers use it when the
 * plain name is taken in the session by another course, so that the same
 * course always gets the same name whatever order courses come in.
 */
void names_course_file(const char *shortname, int64_t course_id,
		       int disambiguate, char out[NAMES_BUF]);

#endif
