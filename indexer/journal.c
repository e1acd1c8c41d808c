/*
 * Reading and appending the line-oriented files of a session (manifest and
 * journals). Reading is incremental by byte offset and tolerant: one bad
 * line is reported and skipped, never the end of the scan.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

const char *journal_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t journal_int(json_t *obj, const char *key, int64_t def)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static int handle_line(const char *display, long line_no, const char *text,
		       size_t len, journal_line_fn fn, void *ctx)
{
	json_error_t jerr;
	json_t *obj;
	int rc;

	if (len == 0)
		return 0;
	obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj || !json_is_object(obj)) {
		log_warn("%s:%ld: skipped, not a JSON object%s%s", display,
			 line_no, obj ? "" : ": ", obj ? "" : jerr.text);
		json_decref(obj);
		return 0;
	}
	rc = fn(ctx, line_no, obj);
	json_decref(obj);
	return rc;
}

int journal_read(int dirfd, const char *name, const char *display_name,
		 off_t *offset, long *lines, journal_line_fn fn, void *ctx)
{
	struct strbuf line;
	char buf[65536];
	off_t pos = *offset, line_start = *offset;
	long line_no = *lines;
	bool too_long = false;
	int fd, rc = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return log_err("cannot open '%s': %s", display_name,
			       strerror(errno));
	}
	sb_init(&line, STORE_LINE_MAX);
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), pos);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = log_err("cannot read '%s': %s", display_name,
				     strerror(errno));
			break;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n && rc == 0; i++) {
			if (buf[i] != '\n') {
				if (!too_long && sb_addch(&line, buf[i]) < 0)
					too_long = true;
				continue;
			}
			line_no++;
			if (too_long)
				log_warn("%s:%ld: skipped, longer than %d bytes",
					 display_name, line_no, STORE_LINE_MAX);
			else
				rc = handle_line(display_name, line_no,
						 line.buf, line.len, fn, ctx);
			sb_reset(&line);
			too_long = false;
			line_start = pos + i + 1;
			*offset = line_start;
			*lines = line_no;
		}
		if (rc)
			break;
		pos += n;
	}
	sb_release(&line);
	close(fd);
	return rc;
}

int journal_append(int dirfd, const char *name, json_t *obj)
{
	char *text;
	int rc;

	if (!json_object_get(obj, "v"))
		json_object_set_new(obj, "v", json_integer(1));
	if (!json_object_get(obj, "time"))
		json_object_set_new(obj, "time", json_integer(time(NULL)));
	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text) {
		errno = ENOMEM;
		return -1;
	}
	rc = store_append_line(dirfd, name, text);
	free(text);
	return rc;
}

static char host_name[256];

void journal_set_host(const char *host)
{
	if (host) {
		snprintf(host_name, sizeof(host_name), "%s", host);
		return;
	}
	if (gethostname(host_name, sizeof(host_name)) < 0)
		snprintf(host_name, sizeof(host_name), "localhost");
	host_name[sizeof(host_name) - 1] = '\0';
	/* a host name is a store file name too: keep it tame */
	for (char *p = host_name; *p; p++)
		if (*p == '/' || *p < 0x20)
			*p = '_';
}

const char *journal_host(void)
{
	if (!host_name[0])
		journal_set_host(NULL);
	return host_name;
}

bool journal_is_manifest(const char *name)
{
	size_t len = strlen(name), pre = strlen(MANIFEST_HOST_PREFIX),
	       suf = strlen(JOURNAL_SUFFIX);

	return strcmp(name, MANIFEST_FILE) == 0 ||
	       (len > pre + suf &&
		strncmp(name, MANIFEST_HOST_PREFIX, pre) == 0 &&
		strcmp(name + len - suf, JOURNAL_SUFFIX) == 0);
}

char *journal_manifest_name(bool shared)
{
	return shared ? xasprintf("%s%s%s", MANIFEST_HOST_PREFIX,
				  journal_host(), JOURNAL_SUFFIX)
		      : xstrdup(MANIFEST_FILE);
}

char *journal_name(const char *site_hash, bool shared)
{
	return xasprintf("%s%s%s%s%s", JOURNAL_PREFIX, site_hash,
			 shared ? "@" : "", shared ? journal_host() : "",
			 JOURNAL_SUFFIX);
}

char *journal_archive_name(const char *site_hash, bool same)
{
	return xasprintf("%s%s%s%s", JOURNAL_PREFIX, site_hash,
			 same ? "-archive" : "", JOURNAL_SUFFIX);
}

char *journal_log_name(void)
{
	return xasprintf("log-%s.txt", journal_host());
}

int journal_open_meta(int storefd, const char *session)
{
	char *rel;
	int fd;

	/* a session name is one folder name: never a path */
	if (strchr(session, '/') || session[0] == '.') {
		errno = ENOENT;
		return -1;
	}
	rel = xasprintf("%s/%s", session, SESSION_META_DIR);
	fd = openat(storefd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(rel);
	return fd;
}

int journal_make_meta(int storefd, const char *session, bool make_session)
{
	int sessfd, fd, saved;

	if (strchr(session, '/') || session[0] == '.') {
		errno = ENOENT;
		return -1;
	}
	if (make_session && mkdirat(storefd, session, 0755) < 0 &&
	    errno != EEXIST)
		return -1;
	sessfd = openat(storefd, session,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sessfd < 0)
		return -1;
	if (mkdirat(sessfd, SESSION_META_DIR, 0755) < 0 && errno != EEXIST)
		fd = -1;
	else
		fd = openat(sessfd, SESSION_META_DIR,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	saved = errno;
	close(sessfd);
	errno = saved;
	return fd;
}
