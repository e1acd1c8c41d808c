/*
 * mail: sends one plain-text e-mail through SMTP with libcurl.
 *
 * The message is built here (RFC 5322 headers, UTF-8 body sent as 8bit with
 * CRLF lines, a subject RFC 2047-encoded when it is not plain ASCII) and
 * handed to the server named by [mail] url: smtp:// (STARTTLS required when
 * starttls = yes) or smtps://. With [mail] username, the password is read
 * from [mail] password_file just before sending (config_read_secret()) and
 * wiped afterwards; it never appears in a message, the log or an argv.
 *
 * The server certificate is verified against the system CAs. The
 * environment variable SA_MAIL_CAFILE, when set, names a PEM file of CAs to
 * trust instead: for tests with a self-signed server, and for sites whose
 * relay has a private CA.
 *
 * curl_global_init(CURL_GLOBAL_DEFAULT) must have been called, by main()
 * and before any thread starts; mail.c never calls it. Each call uses its
 * own curl handle, so threads may send at the same time.
 */
#ifndef SA_MAIL_H
#define SA_MAIL_H

#include <stddef.h>
#include <time.h>

#include "config.h"

/* Body bytes beyond this are refused (progress mails are small). */
#define MAIL_BODY_MAX (1024 * 1024)

/*
 * Connects to [mail] url as mail_send() would (greeting, EHLO, STARTTLS,
 * login) and sends nothing: doctor's check. 0; MAIL_ERR_SECRET when the
 * password file cannot be read; -1 when the server cannot be reached or
 * refuses; err says why.
 */
#define MAIL_ERR_SECRET (-2)
int mail_probe(const struct config_mail *m, char *err, size_t errlen);

/*
 * Sends subject and body (UTF-8, LF or CRLF lines) from m->from to every
 * address of m->to. Blocks for at most about 70 s (10 s to connect, 60 s
 * in all). Returns 0 once the server accepted the message, or -1 with a
 * reason in err (lower case, names the server, never the password). Does
 * not log: the caller decides how loud a failed mail is.
 */
int mail_send(const struct config_mail *m, const char *subject,
	      const char *body, char *err, size_t errlen);

/*
 * Builds the message mail_send() would send, for tests: headers, a blank
 * line and the body, CRLF lines. Caller frees with free(). NULL when the
 * body is too large.
 */
char *mail_build(const struct config_mail *m, const char *subject,
		 const char *body, time_t now);

#endif
