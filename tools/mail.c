/*
 * mail: one e-mail, built in memory and sent with libcurl's SMTP client
 * (after curl's smtp-mail example). curl does the dot-stuffing and the SMTP
 * dialogue; this file writes a message any mail client shows right: the
 * usual headers, a subject in RFC 2047 words when needed, CRLF line ends
 * and no line past the 998-byte limit. The password lives in memory only
 * for the duration of one call.
 */
#include "mail.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "curl_setup.h"
#include "strbuf.h"
#include "xalloc.h"

/* RFC 5322 2.1.1: at most 998 bytes per line without the CRLF */
#define LINE_MAX_BYTES 998
/* subjects are cut (at a character boundary) beyond this */
#define SUBJECT_MAX 1000
/* RFC 2047: an encoded word is at most 75 characters; 45 bytes of text
 * make 60 of base64, plus the 12 of "=?UTF-8?B?" and "?=" */
#define WORD_BYTES 45

struct upload {
	const char *data;
	size_t len;
	size_t pos;
};

static bool is_continuation(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

static void add_base64(struct strbuf *sb, const unsigned char *p, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		sb_addch(sb, b64[(v >> 18) & 63]);
		sb_addch(sb, b64[(v >> 12) & 63]);
		sb_addch(sb, i + 1 < n ? b64[(v >> 6) & 63] : '=');
		sb_addch(sb, i + 2 < n ? b64[v & 63] : '=');
	}
}

static void add_date(struct strbuf *sb, time_t now)
{
	/* by hand: strftime's %a and %b follow the locale */
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
					    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
					      "May", "Jun", "Jul", "Aug",
					      "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;
	char sign = '+';

	localtime_r(&now, &tm);
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	sb_printf(sb, "Date: %s, %d %s %d %02d:%02d:%02d %c%02ld%02ld\r\n",
		  days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		  tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
		  off / 60, off % 60);
}

/*
 * Subject: control characters (a CR or LF would start a new header) become
 * spaces; anything but short printable ASCII goes out as folded B words.
 */
static void add_subject(struct strbuf *sb, const char *subject)
{
	struct strbuf clean;
	bool ascii = true;

	sb_init(&clean, 0);
	for (const char *p = subject; *p && clean.len < SUBJECT_MAX; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			c = ' ';
		if (c >= 0x80)
			ascii = false;
		sb_addch(&clean, (char)c);
	}
	/* a cut subject must not end on half a character */
	if (clean.len == SUBJECT_MAX)
		while (clean.len > 0 && (unsigned char)subject[clean.len] &&
		       is_continuation((unsigned char)subject[clean.len]))
			clean.buf[--clean.len] = '\0';
	sb_adds(sb, "Subject: ");
	if (ascii && clean.len + 9 <= 78) {
		sb_add(sb, clean.buf, clean.len);
		sb_adds(sb, "\r\n");
		sb_release(&clean);
		return;
	}
	for (size_t i = 0; i < clean.len;) {
		size_t n = clean.len - i < WORD_BYTES ? clean.len - i
						      : WORD_BYTES;
		while (n > 1 && i + n < clean.len &&
		       is_continuation((unsigned char)clean.buf[i + n]))
			n--;
		if (i > 0)
			sb_adds(sb, "\r\n ");
		sb_adds(sb, "=?UTF-8?B?");
		add_base64(sb, (const unsigned char *)clean.buf + i, n);
		sb_adds(sb, "?=");
		i += n;
	}
	sb_adds(sb, "\r\n");
	sb_release(&clean);
}

static void add_message_id(struct strbuf *sb, const char *from, time_t now)
{
	const char *domain = strrchr(from, '@');
	unsigned long long rnd;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (unsigned long long)now ^
		      ((unsigned long long)getpid() << 32);
	sb_printf(sb, "Message-ID: <%lld.%ld.%016llx@%s>\r\n", (long long)now,
		  (long)getpid(), rnd, domain ? domain + 1 : "localhost");
}

/* The body with CRLF line ends, no line longer than LINE_MAX_BYTES. */
static void add_body(struct strbuf *sb, const char *body)
{
	size_t col = 0;

	for (const char *p = body; *p; p++) {
		if (*p == '\r' || *p == '\n') {
			if (*p == '\r' && p[1] == '\n')
				p++;
			sb_adds(sb, "\r\n");
			col = 0;
			continue;
		}
		/* break long lines between characters, never inside one */
		if (col >= LINE_MAX_BYTES - 8 &&
		    !is_continuation((unsigned char)*p)) {
			sb_adds(sb, "\r\n");
			col = 0;
		}
		sb_addch(sb, *p);
		col++;
	}
	if (col > 0)
		sb_adds(sb, "\r\n");
}

char *mail_build(const struct config_mail *m, const char *subject,
		 const char *body, time_t now)
{
	struct strbuf sb;
	char *msg;

	if (strlen(body) > MAIL_BODY_MAX)
		return NULL;
	sb_init(&sb, 0);
	add_date(&sb, now);
	sb_printf(&sb, "From: %s\r\n", m->from ? m->from : "");
	sb_adds(&sb, "To: ");
	for (size_t i = 0; i < m->n_to; i++)
		sb_printf(&sb, "%s%s", i ? ",\r\n " : "", m->to[i]);
	sb_adds(&sb, "\r\n");
	add_subject(&sb, subject);
	add_message_id(&sb, m->from ? m->from : "", now);
	sb_adds(&sb, "MIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=UTF-8\r\n"
		     "Content-Transfer-Encoding: 8bit\r\n"
		     "Auto-Submitted: auto-generated\r\n"
		     "\r\n");
	add_body(&sb, body);
	msg = sb_detach(&sb, NULL);
	return msg;
}

static size_t read_message(char *buf, size_t size, size_t nitems, void *userp)
{
	struct upload *up = userp;
	size_t room = size * nitems, n = up->len - up->pos;

	if (n > room)
		n = room;
	memcpy(buf, up->data + up->pos, n);
	up->pos += n;
	return n;
}

/* What sending and probing share: the server, TLS, time limits, login. */
static CURLcode smtp_connection(CURL *curl, const struct config_mail *m,
				const char *password, char *errbuf,
				long timeout)
{
	const char *cafile = getenv("SA_MAIL_CAFILE");
	CURLcode rc;

	rc = curl_setup(curl, m->url, "smtp,smtps", 10L, timeout, errbuf);
	SETOPT(rc, curl, CURLOPT_USE_SSL,
	       (long)(m->starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
	if (cafile && *cafile)
		SETOPT(rc, curl, CURLOPT_CAINFO, cafile);
	if (password) {
		SETOPT(rc, curl, CURLOPT_USERNAME, m->username);
		SETOPT(rc, curl, CURLOPT_PASSWORD, password);
	}
	return rc;
}

static void wipe_password(char *password)
{
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
}

int mail_probe(const struct config_mail *m, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "", *password = NULL;
	CURLcode rc;
	CURL *curl;

	if (m->username &&
	    config_read_secret(m->password_file, &password, err, errlen) < 0)
		return MAIL_ERR_SECRET;
	if (!(curl = curl_easy_init())) {
		wipe_password(password);
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	/* connect, greeting, EHLO (and STARTTLS, AUTH): no mail is sent */
	rc = smtp_connection(curl, m, password, errbuf, 30L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(curl);
	curl_easy_cleanup(curl);
	wipe_password(password);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "'%s': %s", m->url,
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

int mail_send(const struct config_mail *m, const char *subject,
	      const char *body, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "", from[300];
	struct curl_slist *rcpts = NULL;
	char *password = NULL, *msg;
	struct upload up;
	CURLcode rc = CURLE_OK;
	CURL *curl;
	int ret = -1;

	if (!m->url || !m->from || m->n_to == 0) {
		snprintf(err, errlen,
			 "mail is not configured: [mail] needs url, from "
			 "and to");
		return -1;
	}
	if (m->username && !m->starttls && !strncasecmp(m->url, "smtp://", 7)) {
		snprintf(err, errlen,
			 "refusing to send the [mail] password unencrypted: "
			 "set starttls = yes or use smtps://");
		return -1;
	}
	msg = mail_build(m, subject, body, time(NULL));
	if (!msg) {
		snprintf(err, errlen, "mail body larger than %d bytes",
			 MAIL_BODY_MAX);
		return -1;
	}
	if (m->username) {
		if (!m->password_file) {
			snprintf(err, errlen,
				 "[mail] username needs password_file");
			goto out_free_msg;
		}
		if (config_read_secret(m->password_file, &password, err,
				       errlen) < 0)
			goto out_free_msg;
	}
	curl = curl_easy_init();
	if (!curl) {
		snprintf(err, errlen,
			 "cannot send mail: curl_easy_init failed");
		goto out_wipe_password;
	}
	snprintf(from, sizeof(from), "<%s>", m->from);
	for (size_t i = 0; i < m->n_to; i++) {
		char rcpt[300];
		struct curl_slist *l;

		snprintf(rcpt, sizeof(rcpt), "<%s>", m->to[i]);
		l = curl_slist_append(rcpts, rcpt);
		if (!l) {
			snprintf(err, errlen,
				 "cannot send mail: out of memory");
			goto out_cleanup;
		}
		rcpts = l;
	}
	up = (struct upload){ msg, strlen(msg), 0 };

	rc = smtp_connection(curl, m, password, errbuf, 60L);
	SETOPT(rc, curl, CURLOPT_MAIL_FROM, from);
	SETOPT(rc, curl, CURLOPT_MAIL_RCPT, rcpts);
	SETOPT(rc, curl, CURLOPT_READFUNCTION, read_message);
	SETOPT(rc, curl, CURLOPT_READDATA, &up);
	SETOPT(rc, curl, CURLOPT_UPLOAD, 1L);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "cannot send mail: %s",
			 curl_easy_strerror(rc));
		goto out_cleanup;
	}
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "cannot send mail through '%s': %s",
			 m->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out_cleanup;
	}
	ret = 0;
out_cleanup:
	curl_slist_free_all(rcpts);
	curl_easy_cleanup(curl);
out_wipe_password:
	wipe_password(password);
out_free_msg:
	free(msg);
	return ret;
}
