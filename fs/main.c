/*
 * sessionarchiverfs STORE MOUNTPOINT [-f] [-o OPTIONS]: mounts a store.
 *
 * Options go through fuse_opt_parse() so that the same command line works
 * from a shell, from `mount -t fuse.sessionarchiverfs STORE MNT -o ...`
 * (mount.fuse3 runs us as "sessionarchiverfs STORE MNT -o ...") and from
 * fstab. The store, the mountpoint and the index are checked before
 * mounting, each failure with its own exit code; the command returns once
 * the kernel has the mount, so an `ls` right after it is answered.
 */
#include <archive.h>
#include <errno.h>
#include <fuse.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "exitcode.h"
#include "idx.h"
#include "log.h"
#include "ops.h"
#include "store.h"
#include "xalloc.h"

struct fs_options {
	char *store;      /* first non-option argument */
	char *mountpoint; /* second */
	char *index;      /* -o index=FILE */
	char *config;     /* -o config=FILE */
	unsigned rescan;  /* -o rescan=SECONDS */
	int show_help;
	int show_version;
	int foreground;
	int nonopts;
};

enum { KEY_FOREGROUND };

#define FS_OPT(t, p, v) { t, offsetof(struct fs_options, p), v }
static const struct fuse_opt fs_opt_spec[] = {
	FS_OPT("index=%s", index, 0),
	FS_OPT("config=%s", config, 0),
	FS_OPT("rescan=%u", rescan, 0),
	FS_OPT("-h", show_help, 1),
	FS_OPT("--help", show_help, 1),
	FS_OPT("-V", show_version, 1),
	FS_OPT("--version", show_version, 1),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_FOREGROUND),
	FUSE_OPT_KEY("debug", KEY_FOREGROUND),
	FUSE_OPT_END,
};

static int fs_opt_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct fs_options *o = data;

	(void)outargs;
	if (key == KEY_FOREGROUND) {
		o->foreground = 1;
		return 1;
	}
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	/* the store is ours; the mountpoint goes on to libfuse too */
	if (o->nonopts++ == 0) {
		o->store = strdup(arg);
		return o->store ? 0 : -1;
	}
	if (o->nonopts == 2) {
		o->mountpoint = strdup(arg);
		return o->mountpoint ? 1 : -1;
	}
	return 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sessionarchiverfs STORE MOUNTPOINT [-f] [-o OPTIONS]\n"
		"\n"
		"Mount a sessionarchiver store: sessions, categories and "
		"course backups,\nwith status, control, plan, report and log "
		"files in each session.\n"
		"\n"
		"Options:\n"
		"  -o index=FILE     the local SQLite index (default: per "
		"user, per store)\n"
		"  -o config=FILE    the sessionarchiver configuration\n"
		"  -o rescan=SECONDS re-scan the store this often (default "
		"60, 0: never)\n"
		"  -o allow_other    let other users see the mount\n"
		"  -f                stay in the foreground\n"
		"  -d                debug (implies -f)\n"
		"  -h, --help        this help\n"
		"  -V, --version     versions of the tool and of libfuse\n"
		"\nExit codes: 0 unmounted cleanly, 1 mount failed, 2 usage, "
		"7 not a store,\n9 bad mountpoint (missing, not a folder, "
		"already mounted).\n");
}

/* A mountpoint must exist, be a folder, and not be mounted already. */
static int check_mountpoint(const char *path)
{
	char parent[PATH_MAX];
	struct stat st, pst;

	if (stat(path, &st) < 0)
		return log_err("mountpoint '%s': %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return log_err("mountpoint '%s': Not a directory", path);
	snprintf(parent, sizeof(parent), "%s/..", path);
	if (stat(parent, &pst) == 0 && pst.st_dev != st.st_dev)
		return log_err("mountpoint '%s' is busy: something is "
			       "mounted there already",
			       path);
	return 0;
}

static char *absolute(const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	return xasprintf("%s/%s", cwd, path);
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fs_options opts = { .rescan = 60 };
	struct store *store = NULL;
	struct fsd d;
	char err[512], *index = NULL, *config = NULL;
	bool fsd_ready = false;
	int code, rc;

	log_set_ident("sessionarchiverfs");
	if (fuse_opt_parse(&args, &opts, fs_opt_spec, fs_opt_proc) < 0) {
		rc = SA_EXIT_USAGE;
		goto out_free;
	}
	if (opts.show_version) {
		printf("sessionarchiverfs %s\nlibfuse %s, libarchive %s, "
		       "SQLite %s\n",
		       SA_VERSION, fuse_pkgversion(), archive_version_string(),
		       idx_sqlite_version());
		rc = SA_EXIT_OK;
		goto out_free;
	}
	if (opts.show_help) {
		usage(stdout);
		rc = SA_EXIT_OK;
		goto out_free;
	}
	if (opts.nonopts != 2) {
		usage(stderr);
		rc = SA_EXIT_USAGE;
		goto out_free;
	}
	store = store_open(opts.store, &code, err, sizeof(err));
	if (!store) {
		fprintf(stderr, "sessionarchiverfs: %s\n", err);
		rc = code == STORE_ERR_IO ? SA_EXIT_FAILURE : SA_EXIT_NOSTORE;
		goto out_free;
	}
	if (check_mountpoint(opts.mountpoint) < 0) {
		rc = SA_EXIT_MOUNTPOINT;
		goto out_free;
	}
	if (opts.config) {
		struct config *cfg = config_new();

		config = absolute(opts.config);
		/* a bad configuration is refused before mounting */
		if (config_load_file(cfg, config, err, sizeof(err)) < 0) {
			fprintf(stderr, "sessionarchiverfs: %s\n", err);
			config_free(cfg);
			rc = SA_EXIT_USAGE;
			goto out_free;
		}
		if (!opts.index && cfg->store.index)
			index = absolute(cfg->store.index);
		config_free(cfg);
	}
	if (!index)
		index = opts.index ? absolute(opts.index)
				   : idx_default_path(store_id(store));
	if (fsd_init(&d, store, index, config, opts.rescan) < 0) {
		rc = SA_EXIT_FAILURE;
		goto out_release;
	}
	fsd_ready = true;
	/*
	 * Read-only for everyone but the owner's control files; the kernel
	 * checks modes. libfuse 3.14 warns about its own default idle-thread
	 * cap unless one is given; 16 threads cover parallel readers.
	 */
	if (fuse_opt_add_arg(&args, "-odefault_permissions,max_threads=16,"
				    "max_idle_threads=8,"
				    "fsname=sessionarchiverfs,"
				    "subtype=sessionarchiverfs") < 0) {
		rc = SA_EXIT_FAILURE;
		goto out_release;
	}
	/* once daemonised, stderr is gone: the log goes to syslog */
	if (!opts.foreground)
		log_use_syslog(true);
	rc = fuse_main(args.argc, args.argv, &fs_ops, &d) == 0
		     ? SA_EXIT_OK
		     : SA_EXIT_FAILURE;
out_release:
	if (fsd_ready)
		fsd_release(&d);
out_free:
	store_free(store);
	fuse_opt_free_args(&args);
	free(opts.store);
	free(opts.mountpoint);
	free(opts.index);
	free(opts.config);
	free(index);
	free(config);
	return rc;
}
