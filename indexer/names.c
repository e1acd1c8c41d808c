/*
 * Sanitising Moodle names into store names. Accents and other UTF-8 stay as
 * they are (the store is for people); only what a filesystem, a shell or
 * the store's own conventions would misread is replaced.
 */
#include "names.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and beyond U+10FFFF are invalid */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	/* C1 controls (U+0080..U+009F) are control characters too */
	if (cp >= 0x80 && cp <= 0x9f)
		return 0;
	return n;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

void names_sanitize(const char *name, size_t max_bytes, const char *fallback,
		    char out[NAMES_BUF])
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = 0;

	if (max_bytes > NAMES_MAX)
		max_bytes = NAMES_MAX;
	while (*p == ' ' || *p == '\t')
		p++;
	while (*p) {
		size_t n = utf8_len(p);
		const unsigned char *src = p;

		if (n == 0 || *p < 0x20 || *p == 0x7f || *p == '/' ||
		    *p == '\\') {
			src = (const unsigned char *)"_";
			n = 1;
			p += 1;
		} else {
			p += n;
		}
		if (len + n > max_bytes)
			break;
		memcpy(out + len, src, n);
		len += n;
	}
	while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\t'))
		len--;
	out[len] = '\0';
	if (len == 0) {
		snprintf(out, NAMES_BUF, "%s", fallback);
		return;
	}
	if (out[0] == '.')
		out[0] = '_';
	/* the store hides these suffixes; add one byte that breaks them */
	if (ends_with(out, len, ".tmp") || ends_with(out, len, ".part")) {
		if (len == max_bytes)
			len--;
		out[len] = '_';
		out[len + 1] = '\0';
	}
}

void names_category(const char *name, char out[NAMES_BUF])
{
	static const char *const reserved[] = { NAMES_RESERVED };
	size_t len;

	names_sanitize(name, NAMES_MAX, "category", out);
	len = strlen(out);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (strcmp(out, reserved[i]) == 0) {
			/* the mount shows its own file under this name */
			out[len] = '_';
			out[len + 1] = '\0';
			return;
		}
	}
}

void names_course_file(const char *shortname, int64_t course_id,
		       int disambiguate, char out[NAMES_BUF])
{
	char suffix[32], base[NAMES_BUF];
	size_t room;

	if (disambiguate)
		snprintf(suffix, sizeof(suffix), "-%" PRId64 ".mbz", course_id);
	else
		snprintf(suffix, sizeof(suffix), ".mbz");
	room = NAMES_MAX - strlen(suffix);
	names_sanitize(shortname, room, "course", base);
	/* base fits in room bytes, so base + suffix fits in NAMES_MAX */
	memcpy(out, base, strlen(base));
	memcpy(out + strlen(base), suffix, strlen(suffix) + 1);
}
