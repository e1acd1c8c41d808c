/*
 * printable: outside text (course and category names typed in Moodle,
 * Moodle's error texts, control writes) made safe for a terminal, a log
 * line or a field of a tab-separated line.
 *
 * Valid UTF-8 passes unchanged, accents and all. Each byte of a C0 control
 * (0x00-0x1f), of DEL, of a C1 control (U+0080-U+009F: a UTF-8 terminal
 * may take U+009B as CSI) and each byte that is not part of valid UTF-8
 * (stray, truncated and overlong sequences, surrogates, past U+10FFFF) is
 * written \xNN, two lower-case hex digits. The result is one line of valid
 * UTF-8. With PRINTABLE_TSV, tab, newline, CR and backslash become \t, \n,
 * \r and \\ instead, so that a field never splits its line and reads back
 * exactly. Without it a backslash stays as it is: escaping twice changes
 * nothing.
 *
 * Data (the index, journals, hook environments) keeps the exact names;
 * escape only what is shown. Pure functions: any thread may call them.
 */
#ifndef SA_PRINTABLE_H
#define SA_PRINTABLE_H

#include <stddef.h>

struct strbuf;

/* A field of a tab-separated line: also \t, \n, \r and \\. */
#define PRINTABLE_TSV 0x1u

/*
 * Appends s, escaped, to sb. -1 when sb's cap would be passed: sb then ends
 * with part of the escaped text, cut between characters.
 */
int printable_add(struct strbuf *sb, const char *s, unsigned flags);

/* The escaped copy of s; caller frees with free(). */
char *printable_dup(const char *s, unsigned flags);

/*
 * Escapes the len bytes of s (NULs included) into out, NUL-terminated.
 * Text that does not fit in outlen bytes is cut between characters and
 * ends with "...". Returns the length written; outlen 0 writes nothing.
 */
size_t printable_copy(const char *s, size_t len, unsigned flags, char *out,
		      size_t outlen);

#endif
