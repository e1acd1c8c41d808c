/*
 * strbuf: a growable byte buffer with an optional size cap.
 *
 * Outside input (archive members, XML, HTTP bodies, control writes) goes
 * through a capped strbuf so that hostile input cannot grow memory without
 * bound: appends past the cap fail with -1 and leave the buffer unchanged.
 * The content is always NUL-terminated. Not thread-safe; one owner at a time.
 */
#ifndef SA_STRBUF_H
#define SA_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *buf;  /* always NUL-terminated once initialised */
	size_t len; /* bytes used, without the NUL */
	size_t alloc;
	size_t cap; /* 0 = no cap */
};

/* Empties and prepares sb; cap is the largest len allowed (0: unlimited). */
void sb_init(struct strbuf *sb, size_t cap);
/* Frees the memory; sb may be initialised again afterwards. */
void sb_release(struct strbuf *sb);
void sb_reset(struct strbuf *sb);
/* Appends n bytes; -1 (buffer unchanged) when the cap would be exceeded. */
int sb_add(struct strbuf *sb, const void *data, size_t n);
int sb_adds(struct strbuf *sb, const char *s);
int sb_addch(struct strbuf *sb, char c);
int sb_printf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int sb_vprintf(struct strbuf *sb, const char *fmt, va_list ap);
/*
 * Hands the buffer over; caller frees with free(). sb is left released:
 * sb_init() it again before any further use.
 */
char *sb_detach(struct strbuf *sb, size_t *len);

#endif
