/*
 * Unit tests of common/printable.c: what reaches a terminal from a Moodle
 * name. Controls, C1 controls and broken UTF-8 come out as \xNN, valid
 * UTF-8 stays, bounded copies cut between characters, and a tab-separated
 * field decodes back to the exact bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "printable.h"
#include "strbuf.h"

static void check(const char *in, unsigned flags, const char *want)
{
	char *got = printable_dup(in, flags);

	assert_string_equal(got, want);
	free(got);
}

static void test_controls(void **state)
{
	(void)state;
	check("ctrl\x1b[31mred", 0, "ctrl\\x1b[31mred");
	check("a\nb", 0, "a\\x0ab");
	check("a\tb\rc", 0, "a\\x09b\\x0dc");
	check("del\x7f", 0, "del\\x7f");
	check("\x01\x1f", 0, "\\x01\\x1f");
	/* outside a field, a backslash is text: escaping twice is a no-op */
	check("a\\x1b", 0, "a\\x1b");
	check("ctrl\\x1b[31mred", 0, "ctrl\\x1b[31mred");
}

static void test_tsv_fields(void **state)
{
	(void)state;
	check("a\tb\nc\rd\\e", PRINTABLE_TSV, "a\\tb\\nc\\rd\\\\e");
	check("x\x1b" "y\x7f", PRINTABLE_TSV, "x\\x1by\\x7f");
	check("\xc2\x9b", PRINTABLE_TSV, "\\xc2\\x9b");
}

static void test_c1_controls(void **state)
{
	(void)state;
	check("csi\xc2\x9b" "31m", 0, "csi\\xc2\\x9b31m");
	check("\xc2\x80\xc2\x9f", 0, "\\xc2\\x80\\xc2\\x9f");
	/* U+00A0, the first character past the C1 block, is printable */
	check("\xc2\xa0", 0, "\xc2\xa0");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	check("\xff\xfe", 0, "\\xff\\xfe");
	check("a\x80z", 0, "a\\x80z");
	check("\xf5\x80\x80\x80", 0, "\\xf5\\x80\\x80\\x80");
	/* a surrogate and a code point past U+10FFFF */
	check("\xed\xa0\x80", 0, "\\xed\\xa0\\x80");
	check("\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80");
}

static void test_truncated_utf8(void **state)
{
	(void)state;
	check("caf\xc3", 0, "caf\\xc3");
	check("\xe2\x82", 0, "\\xe2\\x82");
	check("\xe2\x82x", 0, "\\xe2\\x82x");
	check("\xf0\x9f\x98", 0, "\\xf0\\x9f\\x98");
	/* the next character is kept once the broken one is escaped */
	check("\xc3\xc3\xa9", 0, "\\xc3\xc3\xa9");
}

static void test_overlong_forms(void **state)
{
	(void)state;
	check("\xc0\xaf", 0, "\\xc0\\xaf");
	check("\xc1\xbf", 0, "\\xc1\\xbf");
	check("\xe0\x80\xaf", 0, "\\xe0\\x80\\xaf");
	check("\xf0\x80\x80\xaf", 0, "\\xf0\\x80\\x80\\xaf");
	/* an overlong ESC must not come back as ESC */
	check("\xc0\x9b", 0, "\\xc0\\x9b");
}

static void test_accents_unchanged(void **state)
{
	static const char *const kept[] = {
		"Sciences économiques", "Géo — histoire", "Ärger ß",
		"中文课程", "emoji \xf0\x9f\x98\x80", "\xef\xbf\xbd",
		"\xf4\x8f\xbf\xbf", "HIST \"Moderne\" & Géo",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		check(kept[i], 0, kept[i]);
		check(kept[i], PRINTABLE_TSV, kept[i]);
	}
}

static void test_empty(void **state)
{
	char out[8] = "junk";

	(void)state;
	check("", 0, "");
	check("", PRINTABLE_TSV, "");
	assert_int_equal(printable_copy("", 0, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void test_copy_keeps_nul_bytes(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(printable_copy("a\0b", 3, 0, out, sizeof(out)), 6);
	assert_string_equal(out, "a\\x00b");
}

static void test_copy_bounds(void **state)
{
	char out[16];

	(void)state;
	/* a text that just fits is not cut */
	assert_int_equal(printable_copy("abcdef", 6, 0, out, 7), 6);
	assert_string_equal(out, "abcdef");
	assert_int_equal(printable_copy("abcdefg", 7, 0, out, 7), 6);
	assert_string_equal(out, "abc...");
	/* an escape is never split */
	printable_copy("ab\x1b" "cd", 5, 0, out, 8);
	assert_string_equal(out, "ab...");
	printable_copy("ab\x1b" "cd", 5, 0, out, 9);
	assert_string_equal(out, "ab\\x1bcd");
	/* nor a character */
	printable_copy("ééé", 6, 0, out, 6);
	assert_string_equal(out, "é...");
	printable_copy("ééé", 6, 0, out, 7);
	assert_string_equal(out, "ééé");
	/* tiny buffers: as many dots as fit */
	printable_copy("abcdef", 6, 0, out, 3);
	assert_string_equal(out, "..");
	printable_copy("abcdef", 6, 0, out, 1);
	assert_string_equal(out, "");
	out[0] = 'x';
	assert_int_equal(printable_copy("abcdef", 6, 0, out, 0), 0);
	assert_int_equal(out[0], 'x');
}

static void test_strbuf_cap(void **state)
{
	struct strbuf sb;

	(void)state;
	sb_init(&sb, 5);
	assert_int_equal(printable_add(&sb, "ab\x1b", 0), -1);
	assert_string_equal(sb.buf, "ab");
	sb_reset(&sb);
	assert_int_equal(printable_add(&sb, "ab\x1b", PRINTABLE_TSV), -1);
	assert_string_equal(sb.buf, "ab");
	sb_reset(&sb);
	assert_int_equal(printable_add(&sb, "a\\b", PRINTABLE_TSV), 0);
	assert_string_equal(sb.buf, "a\\\\b");
	sb_release(&sb);
}

/* The bytes a TSV field stands for, as a script that splits it reads it. */
static size_t tsv_decode(const char *s, char *out)
{
	size_t j = 0;

	while (*s) {
		if (*s != '\\') {
			out[j++] = *s++;
			continue;
		}
		switch (s[1]) {
		case 't': out[j++] = '\t'; s += 2; break;
		case 'n': out[j++] = '\n'; s += 2; break;
		case 'r': out[j++] = '\r'; s += 2; break;
		case '\\': out[j++] = '\\'; s += 2; break;
		case 'x': {
			char hex[3] = { s[2], s[3], '\0' };

			out[j++] = (char)strtoul(hex, NULL, 16);
			s += 4;
			break;
		}
		default: fail_msg("bad escape in '%s'", s);
		}
	}
	return j;
}

/* Is s valid UTF-8 without any C0, DEL or C1 control? */
static void assert_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++) {
		assert_true(*p >= 0x20 && *p != 0x7f);
		if (*p == 0xc2)
			assert_true(p[1] >= 0xa0);
	}
}

static void test_random_bytes(void **state)
{
	unsigned seed = 13;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		char in[64], back[64], *esc;
		size_t len = (size_t)(rand_r(&seed) % 48);

		for (size_t i = 0; i < len; i++) {
			/* mostly high bytes and controls: the hard cases */
			int r = rand_r(&seed);
			in[i] = (char)(r % 3 ? 0x80 + r % 0x80 : 1 + r % 0x7f);
		}
		in[len] = '\0';
		esc = printable_dup(in, PRINTABLE_TSV);
		assert_clean(esc);
		assert_null(strchr(esc, '\t'));
		assert_true(strlen(esc) <= 4 * len);
		assert_int_equal(tsv_decode(esc, back), len);
		assert_memory_equal(back, in, len);
		free(esc);
		esc = printable_dup(in, 0);
		assert_clean(esc);
		free(esc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_tsv_fields),
		cmocka_unit_test(test_c1_controls),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_truncated_utf8),
		cmocka_unit_test(test_overlong_forms),
		cmocka_unit_test(test_accents_unchanged),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_copy_keeps_nul_bytes),
		cmocka_unit_test(test_copy_bounds),
		cmocka_unit_test(test_strbuf_cap),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
