/*
 * The tree, resolved from a path: the root (status files and sessions), a
 * session folder (its own files, then categories and courses), and below it
 * category folders and course files, each looked up in the index by its
 * path in one indexed query.
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "daemon.h"
#include "idx.h"
#include "log.h"
#include "names.h"
#include "report.h"
#include "lease.h"
#include "runs.h"
#include "store.h"
#include "tree.h"
#include "xalloc.h"

enum node_kind {
	N_ROOT,
	N_ROOT_STATUS,
	N_ROOT_STATUS_JSON,
	N_SESSION,
	N_STATUS,
	N_STATUS_JSON,
	N_CONTROL,
	N_PLAN,
	N_REPORT,
	N_LOG,
	N_CATEGORY,
	N_COURSE,
};

static const struct {
	const char *name;
	enum node_kind kind;
} session_files[] = {
	{ "status", N_STATUS }, { "status.json", N_STATUS_JSON },
	{ "control", N_CONTROL }, { "plan", N_PLAN },
	{ "report", N_REPORT }, { "log", N_LOG },
};
#define N_SESSION_FILES (sizeof(session_files) / sizeof(session_files[0]))

struct node {
	enum node_kind kind;
	char session[NAME_MAX + 1];
	const char *rel;     /* below the session folder, into the path */
	int64_t session_id;
	int64_t id;          /* category or course row */
	int64_t parent;      /* category: its id for children, 0 at top */
	struct stat st;
};

/* What an open file handle is. */
struct open_file {
	enum node_kind kind;
	int fd;         /* N_COURSE */
	char *data;     /* generated files */
	size_t len;
	char session[NAME_MAX + 1];
};

static struct fsd *fsd_self(void)
{
	return fuse_get_context()->private_data;
}

static void base_stat(struct stat *st, mode_t mode)
{
	struct fsd *d = fsd_self();

	memset(st, 0, sizeof(*st));
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = d->uid;
	st->st_gid = d->gid;
	st->st_atime = st->st_mtime = st->st_ctime = time(NULL);
}

static void course_stat(struct stat *st, int64_t size, int64_t mtime_ns)
{
	base_stat(st, S_IFREG | 0444);
	st->st_size = size;
	st->st_mtim.tv_sec = mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = mtime_ns % 1000000000;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	st->st_blocks = (size + 511) / 512;
}

static int lookup_rel(struct idx *idx, struct node *n)
{
	size_t len = strlen(n->rel);
	bool mbz = len > 4 && strcmp(n->rel + len - 4, ".mbz") == 0;
	struct tree_entry e;
	int rc = tree_lookup(idx, n->session_id, n->rel, mbz, &e);

	if (rc < 0)
		return -EIO;
	if (rc == 0)
		return -ENOENT;
	n->id = e.id;
	if (e.is_course) {
		n->kind = N_COURSE;
		course_stat(&n->st, e.size, e.mtime_ns);
	} else {
		n->kind = N_CATEGORY;
		n->parent = n->id;
		base_stat(&n->st, S_IFDIR | 0555);
	}
	return 0;
}

/* idx: the operation's one fsd_idx() (NULL: -EIO) */
static int resolve(struct idx *idx, const char *path, struct node *n)
{
	const char *p = path + 1, *slash;
	size_t len;

	memset(n, 0, sizeof(*n));
	if (!idx)
		return -EIO;
	if (!*p) {
		n->kind = N_ROOT;
		base_stat(&n->st, S_IFDIR | 0555);
		return 0;
	}
	slash = strchr(p, '/');
	len = slash ? (size_t)(slash - p) : strlen(p);
	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(n->session, p, len);
	n->session[len] = '\0';
	if (!slash && strcmp(p, "status") == 0) {
		n->kind = N_ROOT_STATUS;
		base_stat(&n->st, S_IFREG | 0444);
		return 0;
	}
	if (!slash && strcmp(p, "status.json") == 0) {
		n->kind = N_ROOT_STATUS_JSON;
		base_stat(&n->st, S_IFREG | 0444);
		return 0;
	}
	if (store_name_is_hidden(n->session))
		return -ENOENT;
	n->session_id = idx_session_find(idx, n->session);
	if (n->session_id < 0)
		return -EIO;
	if (n->session_id == 0)
		return -ENOENT;
	if (!slash || !slash[1]) {
		n->kind = N_SESSION;
		base_stat(&n->st, S_IFDIR | 0555);
		return 0;
	}
	n->rel = slash + 1;
	if (!strchr(n->rel, '/')) {
		for (size_t i = 0; i < N_SESSION_FILES; i++) {
			if (strcmp(n->rel, session_files[i].name) == 0) {
				n->kind = session_files[i].kind;
				base_stat(&n->st, n->kind == N_CONTROL
							  ? S_IFREG | 0600
							  : S_IFREG | 0444);
				return 0;
			}
		}
	}
	return lookup_rel(idx, n);
}

static bool is_generated(enum node_kind k)
{
	return k == N_ROOT_STATUS || k == N_ROOT_STATUS_JSON ||
	       (k >= N_STATUS && k <= N_LOG);
}

/* The text of a generated file; caller frees. */
static char *generate(struct idx *idx, const struct node *n, size_t *len)
{
	struct fsd *d = fsd_self();
	json_t *status = NULL;
	char *text = NULL, *fallback;

	switch (n->kind) {
	case N_CONTROL:
		*len = strlen(control_help);
		return xstrdup(control_help);
	case N_PLAN:
		fallback = xasprintf(
			"no plan yet for %s: archive writes one when it "
			"starts\n",
			n->session);
		text = fsd_read_session_text(d, n->session, "plan.txt",
					     fallback, len);
		free(fallback);
		return text;
	case N_REPORT:
		fallback = xasprintf("no verify report yet for %s\n",
				     n->session);
		text = fsd_read_session_text(d, n->session, "report.txt",
					     fallback, len);
		free(fallback);
		return text;
	case N_LOG:
		return fsd_read_log(d, n->session, len);
	default:
		break;
	}
	if (idx)
		status = report_status(idx, n->kind == N_ROOT_STATUS ||
						     n->kind ==
							     N_ROOT_STATUS_JSON
					     ? NULL
					     : n->session);
	if (status && runs_report_refusals(idx, status) < 0) {
		json_decref(status);
		status = NULL;
	}
	if (status)
		lease_report(store_dirfd(d->store), status);
	if (!status) {
		text = xstrdup("error: cannot read the index\n");
	} else if (n->kind == N_STATUS_JSON || n->kind == N_ROOT_STATUS_JSON) {
		json_t *one = n->kind == N_STATUS_JSON
				      ? json_array_get(json_object_get(
							       status,
							       "sessions"),
						       0)
				      : status;
		char *j = json_dumps(one, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		text = xasprintf("%s\n", j);
		free(j);
	} else {
		text = runs_status_text(status, n->kind == N_STATUS);
	}
	json_decref(status);
	*len = strlen(text);
	return text;
}

static int op_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	struct idx *idx = fsd_idx(fsd_self());
	struct node n;
	int rc;

	(void)fi;
	if ((rc = resolve(idx, path, &n)) < 0)
		return rc;
	*st = n.st;
	/* sizes of generated files must be right for tail and less */
	if (n.kind == N_LOG) {
		st->st_size = (off_t)fsd_log_size(fsd_self(), n.session);
	} else if (is_generated(n.kind) || n.kind == N_CONTROL) {
		size_t len = 0;

		free(generate(idx, &n, &len));
		st->st_size = (off_t)len;
	}
	return 0;
}

/*
 * Where a listing is: libfuse 3.14 hands the kernel the attributes of a
 * readdirplus entry only when the entry has its own offset, so every entry
 * gets one (its position) and a listing resumes after the last one sent.
 */
struct cursor {
	void *buf;
	fuse_fill_dir_t filler;
	off_t skip, pos;
};

/* 1 when the kernel's buffer is full */
static int emit(struct cursor *c, const char *name, const struct stat *st,
		enum fuse_fill_dir_flags fl)
{
	if (++c->pos <= c->skip)
		return 0;
	return c->filler(c->buf, name, st, c->pos, fl);
}

/* A tree entry as a directory entry; non-zero: the buffer is full. */
static int emit_entry(void *ctx, const struct tree_entry *e)
{
	struct stat sb;

	if (e->is_course)
		course_stat(&sb, e->size, e->mtime_ns);
	else
		base_stat(&sb, S_IFDIR | 0555);
	return emit(ctx, e->name, &sb, FUSE_FILL_DIR_PLUS);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct idx *idx = fsd_idx(fsd_self());
	struct node n;
	struct cursor cur = { .buf = buf, .filler = filler, .skip = off };
	int rc;

	(void)fi;
	(void)flags;
	if ((rc = resolve(idx, path, &n)) < 0)
		return rc;
	if (n.kind != N_ROOT && n.kind != N_SESSION && n.kind != N_CATEGORY)
		return -ENOTDIR;
	if (emit(&cur, ".", NULL, 0) || emit(&cur, "..", NULL, 0))
		return 0;
	if (n.kind == N_ROOT) {
		/* status files: sizes come from getattr, not from here */
		if (emit(&cur, "status", NULL, 0) ||
		    emit(&cur, "status.json", NULL, 0))
			return 0;
		return tree_sessions(idx, emit_entry, &cur) < 0 ? -EIO : 0;
	}
	if (n.kind == N_SESSION)
		for (size_t i = 0; i < N_SESSION_FILES; i++)
			if (emit(&cur, session_files[i].name, NULL, 0))
				return 0;
	return tree_children(idx, n.session_id, n.parent, emit_entry, &cur) <
			       0
		       ? -EIO
		       : 0;
}

/*
 * Set once openat2 was refused: ENOSYS before Linux 5.6 and under
 * valgrind, EPERM from some seccomp filters. Later opens go straight to
 * the walk; relaxed order suffices, a thread that misses the store only
 * asks openat2 once more.
 */
static atomic_bool no_openat2;

/*
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS by hand: one openat() per
 * component, each refusing a symlink, so nothing outside dirfd is reached.
 * Stricter than openat2 on what the kernel never sends (FUSE paths are
 * normalised): "", "." and ".." components are refused, ".." and a
 * leading '/' with openat2's answer to an escape.
 */
static int walk_beneath(int dirfd, const char *rel, int flags)
{
	char comp[NAME_MAX + 1];
	const char *p = rel, *slash;
	int fd = dirfd, next, rc;
	struct stat st;
	size_t len;

	if (*rel == '/')
		return -EXDEV;
	for (;;) {
		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len > NAME_MAX) {
			rc = -ENAMETOOLONG;
			goto out_close;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (strcmp(comp, "..") == 0) {
			rc = -EXDEV;
			goto out_close;
		}
		if (!len || strcmp(comp, ".") == 0) {
			rc = -EINVAL;
			goto out_close;
		}
		if (!slash)
			break;
		/*
		 * O_PATH | O_NOFOLLOW opens a symlink itself rather than
		 * failing, and needs no read permission: fstat() then tells
		 * a folder from a link without a race.
		 */
		next = openat(fd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			rc = -errno;
			goto out_close;
		}
		if (fstat(next, &st) < 0)
			rc = -errno;
		else if (S_ISLNK(st.st_mode))
			rc = -ELOOP;
		else if (!S_ISDIR(st.st_mode))
			rc = -ENOTDIR;
		else
			rc = 0;
		if (fd != dirfd)
			close(fd);
		fd = next;
		if (rc < 0)
			goto out_close;
		p = slash + 1;
	}
	next = openat(fd, comp, flags | O_NOFOLLOW | O_CLOEXEC);
	rc = next < 0 ? -errno : next;
out_close:
	if (fd != dirfd)
		close(fd);
	return rc;
}

/*
 * Opens rel below dirfd without following any symlink: by openat2 where
 * the kernel has it, else by walk_beneath(). Never -ENOSYS.
 */
static int open_beneath(int dirfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd;
	int e;

	if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
		fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		e = errno;
		if (e != ENOSYS && e != EPERM)
			return -e;
		if (!atomic_exchange(&no_openat2, true))
			log_info("openat2 refused (%s): backups are opened one "
				 "path component at a time",
				 strerror(e));
	}
	return walk_beneath(dirfd, rel, flags);
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE;
	struct idx *idx = fsd_idx(fsd_self());
	struct open_file *of;
	struct node n;
	int rc;

	if ((rc = resolve(idx, path, &n)) < 0)
		return rc;
	if (n.kind == N_CATEGORY || n.kind == N_SESSION || n.kind == N_ROOT)
		return -EISDIR;
	if (acc != O_RDONLY && n.kind != N_CONTROL)
		return -EACCES;
	of = xcalloc(1, sizeof(*of));
	of->kind = n.kind;
	of->fd = -1;
	snprintf(of->session, sizeof(of->session), "%s", n.session);
	if (n.kind == N_COURSE) {
		char *rel = xasprintf("%s/%s", n.session, n.rel);

		of->fd = open_beneath(store_dirfd(fsd_self()->store), rel,
				      O_RDONLY);
		free(rel);
		if (of->fd < 0) {
			rc = of->fd == -ELOOP ? -ENOENT : of->fd;
			/*
			 * ENOSYS on OPEN tells the kernel this filesystem
			 * needs no open: it would stop sending them, and
			 * read without a handle
			 */
			if (rc == -ENOSYS)
				rc = -EIO;
			free(of);
			return rc;
		}
		/* a backup never changes once renamed into place */
		fi->keep_cache = 1;
	} else {
		if (acc != O_WRONLY)
			of->data = generate(idx, &n, &of->len);
		fi->direct_io = 1;
		fi->nonseekable = 0;
	}
	fi->fh = (uint64_t)(uintptr_t)of;
	return 0;
}

/*
 * The handle op_open made, or NULL: a kernel that once took ENOSYS for an
 * answer to OPEN sends reads with no handle at all (fh 0).
 */
static struct open_file *handle(const struct fuse_file_info *fi)
{
	return fi ? (struct open_file *)(uintptr_t)fi->fh : NULL;
}

static int op_read_buf(const char *path, struct fuse_bufvec **bufp,
		       size_t size, off_t off, struct fuse_file_info *fi)
{
	struct open_file *of = handle(fi);
	struct fuse_bufvec *bv;

	(void)path;
	if (!of)
		return -EBADF;
	if (!(bv = malloc(sizeof(*bv))))
		return -ENOMEM;
	*bv = FUSE_BUFVEC_INIT(size);
	if (of->kind == N_COURSE) {
		/* hand libfuse the fd: it can splice without a copy */
		bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv->buf[0].fd = of->fd;
		bv->buf[0].pos = off;
	} else {
		size_t from = off < 0 || (size_t)off > of->len ? of->len
							       : (size_t)off;
		size_t n = of->len - from < size ? of->len - from : size;

		/* libfuse frees memory buffers after replying: a copy */
		bv->buf[0].mem = xmalloc(n);
		bv->buf[0].size = n;
		if (n)
			memcpy(bv->buf[0].mem, of->data + from, n);
	}
	*bufp = bv;
	return 0;
}

static int op_write(const char *path, const char *buf, size_t size,
		    off_t off, struct fuse_file_info *fi)
{
	struct open_file *of = handle(fi);
	int rc;

	(void)path;
	(void)off;
	if (!of)
		return -EBADF;
	if (of->kind != N_CONTROL)
		return -EACCES;
	rc = fsd_control(fsd_self(), of->session, buf, size);
	return rc < 0 ? rc : (int)size;
}

static int op_truncate(const char *path, off_t size,
		       struct fuse_file_info *fi)
{
	struct node n;
	int rc;

	(void)size;
	(void)fi;
	if ((rc = resolve(fsd_idx(fsd_self()), path, &n)) < 0)
		return rc;
	/* `echo cmd > control` opens with O_TRUNC: nothing to truncate */
	return n.kind == N_CONTROL ? 0 : -EACCES;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct open_file *of = handle(fi);

	(void)path;
	if (!of)
		return -EBADF;
	if (of->fd >= 0)
		close(of->fd);
	free(of->data);
	free(of);
	return 0;
}

/*
 * The tree is the index's: nothing is created, removed, renamed or
 * re-moded through the mount. These answer EROFS, the error `cp` and
 * `mkdir` users know, where libfuse's default (ENOSYS) reads as a bug.
 */
static int op_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)path;
	(void)mode;
	(void)dev;
	return -EROFS;
}

static int op_mkdir(const char *path, mode_t mode)
{
	(void)path;
	(void)mode;
	return -EROFS;
}

static int op_remove(const char *path)
{
	(void)path;
	return -EROFS;
}

static int op_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EROFS;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	(void)from;
	(void)to;
	(void)flags;
	return -EROFS;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return -EROFS;
}

static int op_chown(const char *path, uid_t uid, gid_t gid,
		    struct fuse_file_info *fi)
{
	(void)path;
	(void)uid;
	(void)gid;
	(void)fi;
	return -EROFS;
}

static int op_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	(void)path;
	(void)tv;
	(void)fi;
	return -EROFS;
}

static int op_create(const char *path, mode_t mode,
		     struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return -EROFS;
}

static int op_setxattr(const char *path, const char *name,
		       const char *value, size_t size, int flags)
{
	(void)path;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	return -EROFS;
}

static int op_removexattr(const char *path, const char *name)
{
	(void)path;
	(void)name;
	return -EROFS;
}

#define XATTR_PREFIX "user.sessionarchiver."
/* The attributes, in tree_course_attrs()'s order (enum tree_attr). */
static const char *const xattr_cols[N_TREE_ATTRS] = {
	"state", "sha256", "source_id", "archive_id", "shortname", "error",
};
#define N_XATTRS N_TREE_ATTRS

/* The course's xattr values, NULL where the index has none. */
static int course_xattrs(struct idx *idx, const struct node *n,
			 char *vals[N_XATTRS])
{
	int rc = idx ? tree_course_attrs(idx, n->id, vals) : -1;

	return rc < 0 ? -EIO : rc == 0 ? -ENOENT : 0;
}

static void free_vals(char *vals[N_XATTRS])
{
	for (size_t i = 0; i < N_XATTRS; i++)
		free(vals[i]);
}

static int op_getxattr(const char *path, const char *name, char *value,
		       size_t size)
{
	char *vals[N_XATTRS];
	struct idx *idx;
	struct node n;
	size_t len;
	int rc;

	/* ls asks for ACLs and SELinux labels of every file: no lookup */
	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0)
		return -ENODATA;
	idx = fsd_idx(fsd_self());
	if ((rc = resolve(idx, path, &n)) < 0)
		return rc;
	if (n.kind != N_COURSE)
		return -ENODATA;
	if ((rc = course_xattrs(idx, &n, vals)) < 0)
		return rc;
	rc = -ENODATA;
	for (size_t i = 0; i < N_XATTRS; i++) {
		if (strcmp(name + strlen(XATTR_PREFIX), xattr_cols[i]) != 0 ||
		    !vals[i])
			continue;
		len = strlen(vals[i]);
		if (size == 0)
			rc = (int)len;
		else if (size < len)
			rc = -ERANGE;
		else
			memcpy(value, vals[i], len), rc = (int)len;
	}
	free_vals(vals);
	return rc;
}

static int op_listxattr(const char *path, char *list, size_t size)
{
	struct idx *idx = fsd_idx(fsd_self());
	char *vals[N_XATTRS];
	struct node n;
	size_t need = 0;
	int rc;

	if ((rc = resolve(idx, path, &n)) < 0)
		return rc;
	if (n.kind != N_COURSE)
		return 0;
	if ((rc = course_xattrs(idx, &n, vals)) < 0)
		return rc;
	for (size_t i = 0; i < N_XATTRS; i++) {
		size_t l;

		if (!vals[i])
			continue;
		l = strlen(XATTR_PREFIX) + strlen(xattr_cols[i]) + 1;
		if (size && need + l <= size) {
			memcpy(list + need, XATTR_PREFIX, strlen(XATTR_PREFIX));
			memcpy(list + need + strlen(XATTR_PREFIX),
			       xattr_cols[i], strlen(xattr_cols[i]) + 1);
		}
		need += l;
	}
	free_vals(vals);
	if (size && need > size)
		return -ERANGE;
	return (int)need;
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return fstatvfs(store_dirfd(fsd_self()->store), sv) < 0 ? -errno : 0;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fsd *d = fuse_get_context()->private_data;

	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	/* new backups must show within a second; status files never cache */
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 1.0;
	cfg->negative_timeout = 0;
	cfg->use_ino = 0;
	fsd_start(d);
	return d;
}

const struct fuse_operations fs_ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readdir = op_readdir,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_remove,
	.rmdir = op_remove,
	.symlink = op_link,
	.rename = op_rename,
	.link = op_link,
	.chmod = op_chmod,
	.chown = op_chown,
	.truncate = op_truncate,
	.utimens = op_utimens,
	.open = op_open,
	.read_buf = op_read_buf,
	.write = op_write,
	.release = op_release,
	.create = op_create,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.statfs = op_statfs,
};
