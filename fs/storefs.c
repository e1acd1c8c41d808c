/*
 * File system operations of sessionarchiverfs: a read-only view of the
 * store. Paths from the kernel are checked component by component so that
 * hidden names (store metadata, temporaries) answer ENOENT, and files are
 * opened beneath the store root without following symbolic links, so that
 * nothing outside the store can be reached through the mount.
 */
#include "storefs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store.h"

static struct storefs *fs_self(void)
{
	return fuse_get_context()->private_data;
}

/* "/a/b" -> "a/b", "/" -> "."; -ENOENT when a component is hidden */
static int to_relative(const char *path, const char **rel)
{
	const char *p = path;

	while (*p == '/')
		p++;
	if (!*p) {
		*rel = ".";
		return 0;
	}
	*rel = p;
	while (*p) {
		const char *end = strchrnul(p, '/');
		char name[256];
		size_t len = (size_t)(end - p);

		if (len >= sizeof(name))
			return -ENAMETOOLONG;
		memcpy(name, p, len);
		name[len] = '\0';
		if (store_name_is_hidden(name))
			return -ENOENT;
		p = *end ? end + 1 : end;
	}
	return 0;
}

static int open_beneath(int dirfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* Only directories and regular files are shown; everything read-only. */
static int shown_stat(int dirfd, const char *rel, struct stat *st)
{
	int fd = open_beneath(dirfd, rel, O_PATH);

	if (fd < 0)
		return fd == -ELOOP ? -ENOENT : fd;
	if (fstat(fd, st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	close(fd);
	if (S_ISDIR(st->st_mode))
		st->st_mode = S_IFDIR | 0555;
	else if (S_ISREG(st->st_mode))
		st->st_mode = S_IFREG | 0444;
	else
		return -ENOENT;
	return 0;
}

static int fs_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	const char *rel;
	int rc;

	(void)fi;
	rc = to_relative(path, &rel);
	if (rc < 0)
		return rc;
	return shown_stat(store_dirfd(fs_self()->store), rel, st);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	int dirfd = store_dirfd(fs_self()->store);
	const char *rel;
	struct dirent *de;
	DIR *dir;
	int fd, rc;

	(void)off;
	(void)fi;
	(void)flags;
	rc = to_relative(path, &rel);
	if (rc < 0)
		return rc;
	fd = open_beneath(dirfd, rel, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd == -ELOOP ? -ENOENT : fd;
	dir = fdopendir(fd);
	if (!dir) {
		rc = -errno;
		close(fd);
		return rc;
	}
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	while ((errno = 0, de = readdir(dir))) {
		struct stat st;

		if (store_name_is_hidden(de->d_name))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_REG) {
			if (de->d_type != DT_UNKNOWN)
				continue;
			if (fstatat(fd, de->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) < 0 ||
			    !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
				continue;
		}
		if (filler(buf, de->d_name, NULL, 0, 0))
			break;
	}
	rc = errno ? -errno : 0;
	closedir(dir);
	return rc;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	const char *rel;
	struct stat st;
	int fd, rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	rc = to_relative(path, &rel);
	if (rc < 0)
		return rc;
	fd = open_beneath(store_dirfd(fs_self()->store), rel, O_RDONLY);
	if (fd < 0)
		return fd == -ELOOP ? -ENOENT : fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EISDIR;
	}
	fi->fh = (uint64_t)fd;
	/* a backup never changes once renamed into place */
	fi->keep_cache = 1;
	return 0;
}

static int fs_read_buf(const char *path, struct fuse_bufvec **bufp,
		       size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec *bv = malloc(sizeof(*bv));

	(void)path;
	if (!bv)
		return -ENOMEM;
	/* hand libfuse the fd: it can splice from it without a copy */
	*bv = FUSE_BUFVEC_INIT(size);
	bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv->buf[0].fd = (int)fi->fh;
	bv->buf[0].pos = off;
	*bufp = bv;
	return 0;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close((int)fi->fh);
	return 0;
}

static int fs_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return fstatvfs(store_dirfd(fs_self()->store), sv) < 0 ? -errno : 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	cfg->kernel_cache = 1;
	return fuse_get_context()->private_data;
}

const struct fuse_operations storefs_ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.read_buf = fs_read_buf,
	.release = fs_release,
	.statfs = fs_statfs,
};
