/*
 * Unit tests of indexer/names.c: every rule a store name must obey, on the
 * tricky names real Moodle sites hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

static void check_safe(const char *s)
{
	size_t len = strlen(s);

	assert_true(len > 0 && len <= NAMES_MAX);
	assert_true(s[0] != '.');
	assert_null(strchr(s, '/'));
	for (size_t i = 0; i < len; i++)
		assert_true((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void test_plain_and_accents_kept(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	names_course_file("MATH101", 5, 0, out);
	assert_string_equal(out, "MATH101.mbz");
	names_course_file("HIST \"Moderne\" & Géo", 8, 0, out);
	assert_string_equal(out, "HIST \"Moderne\" & Géo.mbz");
	names_category("Sciences économiques", out);
	assert_string_equal(out, "Sciences économiques");
}

static void test_unsafe_bytes_replaced(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	names_course_file("PHY/CHIM-2024", 6, 0, out);
	assert_string_equal(out, "PHY_CHIM-2024.mbz");
	names_course_file("a\\b\tc\nd\x7f", 1, 0, out);
	assert_string_equal(out, "a_b_c_d_.mbz");
	names_course_file(".hidden", 1, 0, out);
	assert_string_equal(out, "_hidden.mbz");
	names_category("..", out);
	assert_string_equal(out, "_.");
	names_category("  spaced  ", out);
	assert_string_equal(out, "spaced");
	check_safe(out);
}

static void test_invalid_utf8(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	/* lone continuation, truncated sequence, overlong '/', surrogate,
	 * C1 control */
	names_category("a\x80z", out);
	assert_string_equal(out, "a_z");
	names_category("a\xc3", out);
	assert_string_equal(out, "a_");
	names_category("a\xc0\xafz", out);
	assert_string_equal(out, "a__z");
	names_category("a\xed\xa0\x80z", out);
	assert_string_equal(out, "a___z");
	names_category("a\xc2\x85z", out);
	assert_string_equal(out, "a__z");
}

static void test_empty_and_hidden_suffixes(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	names_course_file("", 3, 0, out);
	assert_string_equal(out, "course.mbz");
	names_course_file("   ", 3, 1, out);
	assert_string_equal(out, "course-3.mbz");
	names_category("", out);
	assert_string_equal(out, "category");
	names_category("draft.tmp", out);
	assert_string_equal(out, "draft.tmp_");
	names_category("upload.part", out);
	assert_string_equal(out, "upload.part_");
}

static void test_reserved_names(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	names_category("status", out);
	assert_string_equal(out, "status_");
	names_category("log", out);
	assert_string_equal(out, "log_");
	names_category("control", out);
	assert_string_equal(out, "control_");
	names_category("Logs", out);
	assert_string_equal(out, "Logs");
}

static void test_length_cut_on_character(void **state)
{
	char long_name[600], out[NAMES_BUF];

	(void)state;
	/* 'é' is two bytes: a cut must never split it */
	for (size_t i = 0; i < 300; i++)
		memcpy(long_name + 2 * i, "é", 2);
	long_name[600 - 1] = '\0';
	names_course_file(long_name, 42, 0, out);
	check_safe(out);
	assert_true(strlen(out) <= NAMES_MAX);
	assert_string_equal(out + strlen(out) - 4, ".mbz");
	assert_int_equal((strlen(out) - 4) % 2, 0);
	names_course_file(long_name, 42, 1, out);
	check_safe(out);
	assert_string_equal(out + strlen(out) - 7, "-42.mbz");
}

static void test_disambiguation_is_stable(void **state)
{
	char a[NAMES_BUF], b[NAMES_BUF];

	(void)state;
	/* "A/B" and "A_B" collide once sanitised; the id tells them apart */
	names_course_file("A/B", 10, 0, a);
	names_course_file("A_B", 11, 0, b);
	assert_string_equal(a, b);
	names_course_file("A/B", 10, 1, a);
	names_course_file("A_B", 11, 1, b);
	assert_string_equal(a, "A_B-10.mbz");
	assert_string_equal(b, "A_B-11.mbz");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_accents_kept),
		cmocka_unit_test(test_unsafe_bytes_replaced),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_empty_and_hidden_suffixes),
		cmocka_unit_test(test_reserved_names),
		cmocka_unit_test(test_length_cut_on_character),
		cmocka_unit_test(test_disambiguation_is_stable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
