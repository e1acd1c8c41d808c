/*
 * xalloc: allocation that never returns NULL.
 *
 * Running out of memory is fatal in sessionarchiver (STYLE.md): every
 * function here prints "out of memory" and aborts rather than returning NULL.
 * Safe to call from any thread.
 */
#ifndef SA_XALLOC_H
#define SA_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
/* xstrdup(s), or NULL for NULL. */
char *xstrdup_or_null(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh string; caller frees with free() */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
