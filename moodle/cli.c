/*
 * cli: the command lines of Moodle's CLI scripts (admin/cli/backup.php,
 * admin/cli/restore_backup.php, the PHP bridge) as the platform's system
 * user runs them, and what their output and their parameters mean.
 */
#include "platform.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xalloc.h"

#define SETPRIV "/usr/bin/setpriv"

/* uid and gid of user: 0, or -1 with moodle_error() set. */
static int lookup_user(struct moodle *m, const char *user, uid_t *uid,
		       gid_t *gid)
{
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	struct passwd pw, *res = NULL;
	char *buf;
	int rc;

	if (size < 1024)
		size = 16384;
	for (;;) {
		buf = xmalloc((size_t)size);
		rc = getpwnam_r(user, &pw, buf, (size_t)size, &res);
		if (rc != ERANGE || size > (1L << 20))
			break;
		free(buf);
		size *= 2;
	}
	if (res) {
		*uid = pw.pw_uid;
		*gid = pw.pw_gid;
	}
	free(buf);
	if (!res)
		return rc ? moodle_fail(m,
					"cannot look up system user '%s': %s",
					user, strerror(rc))
			  : moodle_fail(m, "no system user '%s'", user);
	return 0;
}

char **moodle_cli_argv(struct moodle *m, const char *script,
		       char *const args[])
{
	size_t nargs = 0, i = 0;
	uid_t uid = 0;
	gid_t gid = 0;
	bool as_other = false;
	char **argv;

	if (moodle_is_remote(m)) {
		moodle_fail(m, "Moodle's CLI is " WS_UNAVAILABLE);
		return NULL;
	}
	if (!m->dir) {
		moodle_fail(m, "no Moodle directory configured ('moodle')");
		return NULL;
	}
	if (m->user) {
		/* once per handle: an archive run builds 10,000 of these */
		if (!m->user_known) {
			if (lookup_user(m, m->user, &m->uid, &m->gid) < 0)
				return NULL;
			m->user_known = true;
		}
		uid = m->uid;
		gid = m->gid;
		as_other = uid != geteuid();
	}
	while (args && args[nargs])
		nargs++;
	argv = xcalloc(nargs + 8, sizeof(*argv));
	if (as_other) {
		argv[i++] = xstrdup(SETPRIV);
		argv[i++] = xasprintf("--reuid=%lu", (unsigned long)uid);
		argv[i++] = xasprintf("--regid=%lu", (unsigned long)gid);
		argv[i++] = xstrdup("--init-groups");
		/* the kernel drops the parent-death signal with the uid */
		argv[i++] = xstrdup("--pdeathsig=keep");
	}
	argv[i++] = xstrdup(m->php);
	argv[i++] = script[0] == '/' ? xstrdup(script)
				     : xasprintf("%s/%s", m->dir, script);
	for (size_t k = 0; k < nargs; k++)
		argv[i++] = xstrdup(args[k]);
	argv[i] = NULL;
	return argv;
}

/* script with two arguments, "--name=value" each */
static char **cli_argv2(struct moodle *m, const char *script, char *a0,
			char *a1)
{
	char *args[] = { a0, a1, NULL };
	char **argv = moodle_cli_argv(m, script, args);

	free(a0);
	free(a1);
	return argv;
}

char **moodle_backup_argv(struct moodle *m, int64_t course_id,
			  const char *destination)
{
	return cli_argv2(m, "admin/cli/backup.php",
			 xasprintf("--courseid=%lld", (long long)course_id),
			 xasprintf("--destination=%s", destination));
}

char **moodle_restore_argv(struct moodle *m, const char *file,
			   int64_t category_id)
{
	return cli_argv2(m, "admin/cli/restore_backup.php",
			 xasprintf("--file=%s", file),
			 xasprintf("--categoryid=%lld", (long long)category_id));
}

void moodle_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

char *moodle_text_param(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	/* PHP's strip_tags: a tag runs to its '>', an unclosed one to the end */
	for (const char *p = s; *p; p++) {
		if (*p == '<' && p[1] && p[1] != ' ' && p[1] != '<') {
			const char *close = strchr(p, '>');

			if (!close)
				break;
			p = close;
			continue;
		}
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

void moodle_cli_message(const char *out, char *buf, size_t len)
{
	const char *bang = strstr(out, "!!! "), *end;

	if (bang && (end = strstr(bang + 4, " !!!"))) {
		snprintf(buf, len, "%.*s", (int)(end - bang - 4), bang + 4);
		return;
	}
	moodle_cli_words(out, buf, len);
}

void moodle_cli_words(const char *out, char *buf, size_t len)
{
	const char *end = out + strlen(out), *line_end = end;
	size_t used = 0;

	buf[0] = '\0';
	while (line_end > out) {
		const char *start = line_end;
		size_t n;

		while (start > out && start[-1] != '\n')
			start--;
		n = (size_t)(line_end - start);
		while (n && (start[n - 1] == '\r' || start[n - 1] == ' '))
			n--;
		if (n && strncmp(start, "==", 2) != 0) {
			if (used + n + 3 >= len)
				break;
			/* prepend: we walk from the end */
			memmove(buf + n + (used ? 3 : 0), buf, used + 1);
			memcpy(buf, start, n);
			if (used)
				memcpy(buf + n, " / ", 3);
			used += n + (used ? 3 : 0);
		}
		line_end = start > out ? start - 1 : out;
	}
	if (!used)
		snprintf(buf, len, "(no output)");
}
