/*
 * Unit tests for tools/mail: the message mail_build() writes (headers,
 * RFC 2047 subject, CRLF body, line limits, header injection) and the
 * refusals of mail_send() that happen before any network I/O. Delivery
 * through a real server is tests/integration/test_mail.py.
 */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "config.h"
#include "mail.h"

static char *to_two[] = { "a@example.org", "b@example.net" };

static struct config_mail mail_cfg(void)
{
	struct config_mail m = { 0 };

	m.url = "smtp://127.0.0.1:1";
	m.from = "sa@moodle.example.org";
	m.to = to_two;
	m.n_to = 2;
	m.starttls = true;
	return m;
}

static int b64val(char c)
{
	const char *set = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(set, c);

	return c && p ? (int)(p - set) : -1;
}

/* Decodes the Subject header's encoded words back into UTF-8. */
static void decode_subject(const char *msg, char *out, size_t outlen)
{
	const char *p = strstr(msg, "\r\nSubject: ");
	const char *end;
	size_t len = 0;

	assert_non_null(p);
	p += 11;
	/* the header ends at a CRLF not followed by a blank */
	for (end = p; !(end[0] == '\r' && end[1] == '\n' && end[2] != ' ');
	     end++)
		;
	while (p < end) {
		const char *w = strstr(p, "=?UTF-8?B?");
		unsigned v = 0;
		int bits = 0;

		assert_true(w == p);
		p += 10;
		for (; *p != '?'; p++) {
			int d = b64val(*p);
			if (*p == '=')
				continue;
			assert_true(d >= 0);
			v = (v << 6) | (unsigned)d;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				assert_true(len + 1 < outlen);
				out[len++] = (char)((v >> bits) & 0xff);
			}
		}
		assert_true(p[1] == '=');
		assert_true(p + 2 - w <= 75);
		p += 2;
		if (p < end) {
			assert_true(!strncmp(p, "\r\n ", 3));
			p += 3;
		}
	}
	out[len] = '\0';
}

static void assert_line_limits(const char *msg)
{
	const char *p = msg;

	while (*p) {
		const char *eol = strstr(p, "\r\n");

		assert_non_null(eol);
		assert_true(eol - p <= 998);
		assert_null(memchr(p, '\n', (size_t)(eol - p)));
		assert_null(memchr(p, '\r', (size_t)(eol - p)));
		p = eol + 2;
	}
}

static void test_headers(void **state)
{
	struct config_mail m = mail_cfg();
	/* 2026-11-26 12:00:05 UTC, a Thursday */
	char *msg = mail_build(&m, "archive 2025-2026: done", "ok\n",
			       (time_t)1795694405);

	(void)state;
	assert_non_null(msg);
	assert_true(!strncmp(msg, "Date: Thu, 26 Nov 2026 12:00:05 +0000\r\n",
			     39));
	assert_non_null(strstr(msg, "\r\nFrom: sa@moodle.example.org\r\n"));
	assert_non_null(
		strstr(msg, "\r\nTo: a@example.org,\r\n b@example.net\r\n"));
	assert_non_null(
		strstr(msg, "\r\nSubject: archive 2025-2026: done\r\n"));
	assert_non_null(strstr(msg, "\r\nMessage-ID: <1795694405."));
	assert_non_null(strstr(msg, "@moodle.example.org>\r\n"));
	assert_non_null(strstr(msg, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(msg, "\r\nContent-Type: text/plain; "
				    "charset=UTF-8\r\n"));
	assert_non_null(strstr(msg, "\r\nContent-Transfer-Encoding: 8bit\r\n"));
	assert_non_null(strstr(msg, "\r\n\r\nok\r\n"));
	assert_line_limits(msg);
	free(msg);
}

static void test_subject_encoding(void **state)
{
	struct config_mail m = mail_cfg();
	const char *subject = "Réintégration 2025-2026 terminée ✓ — été";
	char decoded[4096], longsub[2000];
	char *msg;

	(void)state;
	msg = mail_build(&m, subject, "", 0);
	assert_non_null(strstr(msg, "Subject: =?UTF-8?B?"));
	decode_subject(msg, decoded, sizeof(decoded));
	assert_string_equal(decoded, subject);
	assert_line_limits(msg);
	free(msg);

	/* long: several words, each a whole number of characters */
	longsub[0] = '\0';
	for (int i = 0; i < 40; i++)
		strcat(longsub, "é€𝄞a");
	msg = mail_build(&m, longsub, "", 0);
	decode_subject(msg, decoded, sizeof(decoded));
	assert_string_equal(decoded, longsub);
	assert_line_limits(msg);
	free(msg);

	/* long ASCII is encoded too, to keep lines short */
	memset(longsub, 'x', 300);
	longsub[300] = '\0';
	msg = mail_build(&m, longsub, "", 0);
	decode_subject(msg, decoded, sizeof(decoded));
	assert_string_equal(decoded, longsub);
	free(msg);
}

static void test_header_injection(void **state)
{
	struct config_mail m = mail_cfg();
	char *msg = mail_build(&m, "hi\r\nBcc: victim@example.org\n\nbody",
			       "text", 0);

	(void)state;
	assert_null(strstr(msg, "\r\nBcc:"));
	assert_non_null(strstr(msg, "Subject: hi  Bcc: victim@example.org  "
				    "body\r\n"));
	free(msg);
}

static void test_body(void **state)
{
	struct config_mail m = mail_cfg();
	char *body = malloc(5000), *msg, *p;
	size_t n = 0;

	(void)state;
	msg = mail_build(&m, "s", "a\nb\r\nc\rd", 0);
	assert_non_null(strstr(msg, "\r\n\r\na\r\nb\r\nc\r\nd\r\n"));
	assert_int_equal(strcmp(msg + strlen(msg) - 5, "\r\nd\r\n"), 0);
	free(msg);

	msg = mail_build(&m, "s", "", 0);
	assert_int_equal(strcmp(msg + strlen(msg) - 4, "\r\n\r\n"), 0);
	free(msg);

	/* 2-byte characters on one long line: broken, never inside one */
	for (int i = 0; i < 2400; i++) {
		body[n++] = '\xc3';
		body[n++] = '\xa9';
	}
	body[n] = '\0';
	msg = mail_build(&m, "s", body, 0);
	assert_line_limits(msg);
	p = strstr(msg, "\r\n\r\n") + 4;
	for (const char *q = p; *q; q++)
		if (q[0] == '\r')
			assert_true((unsigned char)q[-1] == 0xa9 &&
				    (unsigned char)q[2] != 0xa9);
	free(msg);

	memset(body, 'x', 4999);
	body[4999] = '\0';
	free(mail_build(&m, "s", body, 0));
	free(body);

	body = malloc(MAIL_BODY_MAX + 2);
	memset(body, 'x', MAIL_BODY_MAX + 1);
	body[MAIL_BODY_MAX + 1] = '\0';
	assert_null(mail_build(&m, "s", body, 0));
	free(body);
}

static void test_send_refusals(void **state)
{
	struct config_mail m = mail_cfg();
	char err[512];

	(void)state;
	m.url = NULL;
	assert_int_equal(mail_send(&m, "s", "b", err, sizeof(err)), -1);
	assert_string_equal(err, "mail is not configured: [mail] needs url, "
				 "from and to");

	m = mail_cfg();
	m.username = "u";
	m.password_file = "/nonexistent/pw";
	m.starttls = false;
	assert_int_equal(mail_send(&m, "s", "b", err, sizeof(err)), -1);
	assert_string_equal(err, "refusing to send the [mail] password "
				 "unencrypted: set starttls = yes or use "
				 "smtps://");

	m.starttls = true;
	assert_int_equal(mail_send(&m, "s", "b", err, sizeof(err)), -1);
	assert_string_equal(err, "cannot open secret file '/nonexistent/pw': "
				 "No such file or directory");

	m.password_file = NULL;
	assert_int_equal(mail_send(&m, "s", "b", err, sizeof(err)), -1);
	assert_string_equal(err, "[mail] username needs password_file");
}

static void test_send_refused_connection(void **state)
{
	struct config_mail m = mail_cfg();
	char err[512];

	(void)state;
	/* port 1 on loopback: nothing listens there */
	m.starttls = false;
	assert_int_equal(mail_send(&m, "s", "b", err, sizeof(err)), -1);
	assert_true(!strncmp(err, "cannot send mail through "
				  "'smtp://127.0.0.1:1': ",
			     45));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_subject_encoding),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_send_refusals),
		cmocka_unit_test(test_send_refused_connection),
	};
	int ret;

	setenv("TZ", "UTC", 1);
	tzset();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return ret;
}
