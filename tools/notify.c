/*
 * When to mail, and the subject line. The message bodies are the caller's:
 * it knows the plan and the failures. Nothing secret goes into a mail: the
 * bodies hold course names, counts and Moodle's error texts only.
 */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "mail.h"
#include "xalloc.h"

void notify_init(struct notify *n, const struct config_mail *mail,
		 const char *operation, const char *session)
{
	*n = (struct notify){ .mail = mail && mail->url ? mail : NULL,
			      .operation = operation,
			      .session = session,
			      .last_sent = time(NULL) };
}

void notify_send(struct notify *n, const char *what, const char *body)
{
	char err[512], *subject;

	if (!n->mail)
		return;
	subject = xasprintf("sessionarchiver %s %s: %s", n->operation,
			    n->session, what);
	if (mail_send(n->mail, subject, body, err, sizeof(err)) < 0) {
		log_warn("cannot send the mail '%s': %s (the %s goes on)",
			 subject, err, n->operation);
		n->failed_sends++;
	} else {
		n->sent++;
	}
	n->last_sent = time(NULL);
	free(subject);
}

void notify_progress(struct notify *n, int64_t done, int64_t failed,
		     int64_t total, int ok)
{
	int64_t finished = done + failed;
	char *body, what[64];
	int percent;
	bool due = false;

	if (!n->mail)
		return;
	n->failures_in_row = ok ? 0 : n->failures_in_row + 1;
	if (n->failures_in_row == NOTIFY_BURST) {
		body = xasprintf("%d courses failed in a row; %lld done, %lld "
				 "failed of %lld so far.\nSee "
				 "'sessionarchiver status %s' and the log.\n",
				 NOTIFY_BURST, (long long)done,
				 (long long)failed, (long long)total,
				 n->session);
		notify_send(n, "failures", body);
		free(body);
	}
	percent = total > 0 ? (int)(finished * 100 / total) : 100;
	if (n->mail->every_kind == CONFIG_EVERY_PERCENT)
		due = percent / (int)n->mail->every >
		      n->last_percent / (int)n->mail->every;
	else if (n->mail->every_kind == CONFIG_EVERY_SECONDS)
		due = time(NULL) - n->last_sent >= (time_t)n->mail->every;
	if (!due || finished >= total)
		return;
	n->last_percent = percent;
	snprintf(what, sizeof(what), "%d%% done", percent);
	body = xasprintf("%lld done, %lld failed, %lld remaining of %lld.\n",
			 (long long)done, (long long)failed,
			 (long long)(total - finished), (long long)total);
	notify_send(n, what, body);
	free(body);
}
