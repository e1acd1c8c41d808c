/*
 * Escaping outside text for display. The input is walked one piece at a
 * time: a printable character (one ASCII byte or one valid UTF-8 sequence)
 * is kept, anything else costs one escape per byte. Runs of kept bytes are
 * copied at once, so that a long listing pays little.
 */
#include "printable.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "strbuf.h"
#include "xalloc.h"

/* The longest escape of one byte: "\xNN". */
#define ESC_MAX 4

/*
 * Length of the printable UTF-8 character that starts s (n bytes left),
 * or 0: not valid UTF-8, or a C1 control.
 */
static size_t utf8_printable(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	/* the second byte rules out overlong forms, surrogates, C1 controls
	 * and code points past U+10FFFF */
	if (s[0] == 0xc2 || s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return len;
}

/*
 * The piece at s (n > 0 bytes left): returns how many bytes it takes and
 * writes its escape into esc, or sets *esclen to 0 when the bytes stay.
 */
static size_t next_piece(const unsigned char *s, size_t n, unsigned flags,
			 char esc[ESC_MAX + 1], size_t *esclen)
{
	bool tsv = flags & PRINTABLE_TSV;
	size_t len;

	*esclen = 0;
	if (s[0] >= 0x20 && s[0] < 0x7f) {
		if (tsv && s[0] == '\\') {
			memcpy(esc, "\\\\", 3);
			*esclen = 2;
		}
		return 1;
	}
	if (s[0] >= 0x80 && (len = utf8_printable(s, n)))
		return len;
	if (tsv && (s[0] == '\t' || s[0] == '\n' || s[0] == '\r')) {
		esc[0] = '\\';
		esc[1] = s[0] == '\t' ? 't' : s[0] == '\n' ? 'n' : 'r';
		esc[2] = '\0';
		*esclen = 2;
		return 1;
	}
	*esclen = (size_t)snprintf(esc, ESC_MAX + 1, "\\x%02x", s[0]);
	return 1;
}

int printable_add(struct strbuf *sb, const char *s, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), run = 0;
	char esc[ESC_MAX + 1];

	while (run < left) {
		size_t esclen, n = next_piece(p + run, left - run, flags, esc,
					      &esclen);

		if (!esclen) {
			run += n;
			continue;
		}
		if (sb_add(sb, p, run) < 0 || sb_add(sb, esc, esclen) < 0)
			return -1;
		p += run + n;
		left -= run + n;
		run = 0;
	}
	return sb_add(sb, p, run);
}

char *printable_dup(const char *s, unsigned flags)
{
	struct strbuf sb;

	sb_init(&sb, 0);
	printable_add(&sb, s, flags);
	return sb_detach(&sb, NULL);
}

/* Length of the escaped text, to know beforehand whether it fits. */
static size_t escaped_len(const unsigned char *s, size_t len, unsigned flags)
{
	char esc[ESC_MAX + 1];
	size_t need = 0, esclen, n;

	for (size_t i = 0; i < len; i += n) {
		n = next_piece(s + i, len - i, flags, esc, &esclen);
		need += esclen ? esclen : n;
	}
	return need;
}

size_t printable_copy(const char *s, size_t len, unsigned flags, char *out,
		      size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[ESC_MAX + 1];
	size_t room, j = 0, n, esclen;
	bool cut;

	if (outlen == 0)
		return 0;
	/* "..." only when something is left out, not when it just fits */
	cut = escaped_len(p, len, flags) >= outlen;
	room = !cut ? outlen - 1 : outlen > 4 ? outlen - 4 : 0;
	for (size_t i = 0; i < len; i += n) {
		n = next_piece(p + i, len - i, flags, esc, &esclen);
		if (j + (esclen ? esclen : n) > room)
			break;
		memcpy(out + j, esclen ? esc : (const char *)p + i,
		       esclen ? esclen : n);
		j += esclen ? esclen : n;
	}
	if (cut) {
		n = outlen - 1 - j < 3 ? outlen - 1 - j : 3;
		memcpy(out + j, "...", n);
		j += n;
	}
	out[j] = '\0';
	return j;
}
