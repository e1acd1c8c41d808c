/*
 * The store on disk: creating and recognising one (store.ini), and the two
 * ways anything is ever written into it, atomic replace and line append.
 * Both are safe on the shared filesystems a site runs (NFS, CephFS): they
 * need only rename within a directory and one writer per appended file.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdbool.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

struct store {
	char *path;
	char id[33];
	int format;
	int dirfd;
};

static atomic_uint tmp_counter;

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

bool store_name_is_hidden(const char *name)
{
	size_t len = strlen(name);

	/* dot files: store metadata, .session/, our temporaries, editors' */
	if (name[0] == '.')
		return true;
	/* partial downloads and copies in progress never show either */
	return ends_with(name, len, ".tmp") || ends_with(name, len, ".part");
}

static int fsync_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int store_write_atomic(int dirfd, const char *name, const void *data,
		       size_t len, int mode)
{
	char tmp[NAME_MAX + 1];
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), ".%s.tmp-%ld-%u", name, (long)getpid(),
		     atomic_fetch_add(&tmp_counter, 1)) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0)
		goto out_unlink;
	if (close(fd) < 0) {
		fd = -1;
		goto out_unlink;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		goto out_unlink;
	return fsync_dir(dirfd);

out_unlink:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

int store_append_line(int dirfd, const char *name, const char *line)
{
	size_t len = strlen(line);
	char *buf;
	int fd, rc = -1, saved;

	if (len >= STORE_LINE_MAX || memchr(line, '\n', len)) {
		errno = EINVAL;
		return -1;
	}
	fd = openat(dirfd, name,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	buf = xmalloc(len + 1);
	memcpy(buf, line, len);
	buf[len] = '\n';
	/* one write(): O_APPEND keeps concurrent lines whole on local disks */
	if (write_all(fd, buf, len + 1) == 0 && fdatasync(fd) == 0)
		rc = 0;
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return rc;
}

static void random_hex(char *out, size_t nbytes)
{
	unsigned char raw[64];
	size_t got = 0;

	while (got < nbytes) {
		ssize_t n = getrandom(raw + got, nbytes - got, 0);
		if (n < 0 && errno != EINTR) {
			/* getrandom cannot fail on Linux >= 3.17 with these
			 * arguments; a time-based id is better than none */
			unsigned long t = (unsigned long)time(NULL) ^
					  (unsigned long)getpid();
			memcpy(raw + got, &t, sizeof(t) < nbytes - got
						      ? sizeof(t)
						      : nbytes - got);
			got += sizeof(t);
		} else if (n > 0) {
			got += (size_t)n;
		}
	}
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
}

int store_create(const char *dir, char *err, size_t errlen)
{
	char id[33], ini[256], stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	int dirfd, metafd, rc = STORE_ERR_IO;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create '%s': %s", dir,
			 strerror(errno));
		return STORE_ERR_IO;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", dir,
			 strerror(errno));
		return STORE_ERR_IO;
	}
	if (faccessat(dirfd, STORE_INI, F_OK, 0) == 0) {
		snprintf(err, errlen, "'%s' is a store already", dir);
		rc = STORE_ERR_EXISTS;
		goto out_close_dir;
	}
	if (mkdirat(dirfd, STORE_META_DIR, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create '%s/%s': %s", dir,
			 STORE_META_DIR, strerror(errno));
		goto out_close_dir;
	}
	metafd = openat(dirfd, STORE_META_DIR,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (metafd < 0) {
		snprintf(err, errlen, "cannot open '%s/%s': %s", dir,
			 STORE_META_DIR, strerror(errno));
		goto out_close_dir;
	}
	random_hex(id, 16);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(ini, sizeof(ini),
		 "# sessionarchiver store: do not edit, do not copy between "
		 "stores\n[store]\nid = %s\nformat = %d\ncreated = %s\n",
		 id, STORE_FORMAT_CREATED, stamp);
	if (store_write_atomic(metafd, "store.ini", ini, strlen(ini), 0644) <
	    0) {
		snprintf(err, errlen, "cannot write '%s/%s': %s", dir,
			 STORE_INI, strerror(errno));
	} else {
		rc = STORE_OK;
	}
	close(metafd);
out_close_dir:
	close(dirfd);
	return rc;
}

struct ini_state {
	struct store *st;
	bool have_format;
	char bad[128];
};

static int on_ini_value(void *user, const char *section, const char *name,
			const char *value)
{
	struct ini_state *s = user;
	char *end;
	long v;

	if (strcmp(section, "store") != 0)
		return 1;
	if (strcmp(name, "id") == 0) {
		snprintf(s->st->id, sizeof(s->st->id), "%s", value);
	} else if (strcmp(name, "format") == 0) {
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < 1 || v > INT_MAX) {
			snprintf(s->bad, sizeof(s->bad),
				 "bad format version '%.32s'", value);
			return 0;
		}
		s->st->format = (int)v;
		s->have_format = true;
	}
	/* other keys belong to newer formats; the version decides */
	return 1;
}

struct store *store_open(const char *dir, int *code, char *err,
			 size_t errlen)
{
	struct ini_state state = { 0 };
	struct store *st;
	char *real;
	FILE *f;
	int fd, line;

	real = realpath(dir, NULL);
	if (!real) {
		snprintf(err, errlen, "cannot open store '%s': %s", dir,
			 strerror(errno));
		*code = errno == ENOENT ? STORE_ERR_NOT_STORE : STORE_ERR_IO;
		return NULL;
	}
	st = xcalloc(1, sizeof(*st));
	st->path = real;
	st->dirfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		*code = errno == ENOTDIR ? STORE_ERR_NOT_STORE : STORE_ERR_IO;
		snprintf(err, errlen, "cannot open store '%s': %s", dir,
			 strerror(errno));
		goto out_free;
	}
	fd = openat(st->dirfd, STORE_INI, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*code = errno == ENOENT ? STORE_ERR_NOT_STORE : STORE_ERR_IO;
		if (errno == ENOENT)
			snprintf(err, errlen,
				 "'%s' is not a sessionarchiver store (no %s;"
				 " create one with 'sessionarchiver init')",
				 dir, STORE_INI);
		else
			snprintf(err, errlen, "cannot open '%s/%s': %s", dir,
				 STORE_INI, strerror(errno));
		goto out_free;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		*code = STORE_ERR_IO;
		snprintf(err, errlen, "cannot read '%s/%s': %s", dir,
			 STORE_INI, strerror(errno));
		goto out_free;
	}
	state.st = st;
	line = ini_parse_file(f, on_ini_value, &state);
	fclose(f);
	if (line != 0 || !state.have_format || !st->id[0]) {
		*code = STORE_ERR_FORMAT;
		snprintf(err, errlen, "'%s/%s' is damaged%s%s%s", dir,
			 STORE_INI, state.bad[0] ? ": " : "", state.bad,
			 state.have_format || state.bad[0]
				 ? ""
				 : ": no format version");
		goto out_free;
	}
	if (st->format > STORE_FORMAT) {
		*code = STORE_ERR_FORMAT;
		snprintf(err, errlen,
			 "store '%s' has format version %d, this "
			 "sessionarchiver (%s) reads up to %d: upgrade it",
			 dir, st->format, SA_VERSION, STORE_FORMAT);
		goto out_free;
	}
	*code = STORE_OK;
	return st;

out_free:
	store_free(st);
	return NULL;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->path);
	free(st);
}

const char *store_path(const struct store *st)
{
	return st->path;
}

const char *store_id(const struct store *st)
{
	return st->id;
}

int store_format(const struct store *st)
{
	return st->format;
}

int store_require_format(struct store *st, int format)
{
	char buf[4096], *at, *text;
	ssize_t n;
	int fd, rc;

	if (st->format >= format)
		return 0;
	fd = openat(st->dirfd, STORE_INI, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	at = strstr(buf, "\nformat = ");
	if (!at) {
		errno = EINVAL;
		return -1;
	}
	at += strlen("\nformat = ");
	text = xasprintf("%.*s%d%s", (int)(at - buf), buf, format,
			 at + strcspn(at, "\n"));
	fd = openat(st->dirfd, STORE_META_DIR,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = fd < 0 ? -1
		    : store_write_atomic(fd, "store.ini", text, strlen(text),
					 0644);
	if (fd >= 0)
		close(fd);
	free(text);
	if (rc == 0)
		st->format = format;
	return rc;
}

int store_dirfd(const struct store *st)
{
	return st->dirfd;
}

void store_remove_tree(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
	struct dirent *de;
	DIR *dir;

	if (fd < 0) {
		unlinkat(dirfd, name, 0);
		return;
	}
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR)
			store_remove_tree(fd, de->d_name);
		else if (unlinkat(fd, de->d_name, 0) < 0 && errno == EISDIR)
			store_remove_tree(fd, de->d_name);
	}
	closedir(dir);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		log_warn("cannot remove '%s': %s", name, strerror(errno));
}
