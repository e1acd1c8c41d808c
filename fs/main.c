/*
 * sessionarchiverfs STORE MOUNTPOINT [-f] [-o OPTIONS]: mounts a store.
 *
 * Options go through fuse_opt_parse() so that the same command line works
 * from a shell, from `mount -t fuse.sessionarchiverfs STORE MNT -o ...`
 * (mount.fuse3 runs us as "sessionarchiverfs STORE MNT -o ...") and from
 * fstab. The store is checked before mounting: a directory that is not a
 * store never gets a mount.
 */
#include <archive.h>
#include <errno.h>
#include <fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exitcode.h"
#include "log.h"
#include "store.h"
#include "storefs.h"

struct fs_options {
	char *store;  /* first non-option argument */
	char *index;  /* -o index=FILE, the local SQLite index */
	char *config; /* -o config=FILE */
	int show_help;
	int show_version;
	int nonopts;
};

#define FS_OPT(t, p) { t, offsetof(struct fs_options, p), 1 }
static const struct fuse_opt fs_opt_spec[] = {
	FS_OPT("index=%s", index),
	FS_OPT("config=%s", config),
	FS_OPT("-h", show_help),
	FS_OPT("--help", show_help),
	FS_OPT("-V", show_version),
	FS_OPT("--version", show_version),
	FUSE_OPT_END,
};

static int fs_opt_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct fs_options *o = data;

	(void)outargs;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	/* the first bare argument is the store; the mountpoint goes on to
	 * libfuse */
	if (o->nonopts++ == 0) {
		o->store = strdup(arg);
		return o->store ? 0 : -1;
	}
	return 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sessionarchiverfs STORE MOUNTPOINT [-f] [-o OPTIONS]\n"
		"\n"
		"Mount a sessionarchiver store: sessions, categories and "
		"course backups,\nread-only.\n"
		"\n"
		"Options:\n"
		"  -o index=FILE     the local SQLite index\n"
		"  -o config=FILE    the sessionarchiver configuration\n"
		"  -o allow_other    let other users see the mount\n"
		"  -f                stay in the foreground\n"
		"  -d                debug (implies -f)\n"
		"  -h, --help        this help\n"
		"  -V, --version     versions of the tool and of libfuse\n"
		"\nExit codes: 0 unmounted cleanly, 1 mount failed, 2 usage, "
		"7 not a store.\n");
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fs_options opts = { 0 };
	struct storefs fs = { 0 };
	char err[512];
	int code, rc;

	log_set_ident("sessionarchiverfs");
	if (fuse_opt_parse(&args, &opts, fs_opt_spec, fs_opt_proc) < 0) {
		rc = SA_EXIT_USAGE;
		goto out_free_args;
	}
	if (opts.show_version) {
		printf("sessionarchiverfs %s\nlibfuse %s, libarchive %s\n",
		       SA_VERSION, fuse_pkgversion(), archive_version_string());
		rc = SA_EXIT_OK;
		goto out_free_args;
	}
	if (opts.show_help) {
		usage(stdout);
		rc = SA_EXIT_OK;
		goto out_free_args;
	}
	if (opts.nonopts != 2) {
		usage(stderr);
		rc = SA_EXIT_USAGE;
		goto out_free_args;
	}
	fs.store = store_open(opts.store, &code, err, sizeof(err));
	if (!fs.store) {
		log_err("%s", err);
		rc = code == STORE_ERR_IO ? SA_EXIT_FAILURE : SA_EXIT_NOSTORE;
		goto out_free_args;
	}
	/*
	 * Read-only view; the kernel checks modes when others may look.
	 * libfuse 3.14 warns about its own default thread cap unless one is
	 * given; 16 threads cover parallel readers of large backups.
	 */
	if (fuse_opt_add_arg(&args, "-odefault_permissions,ro,max_threads=16,"
				    "fsname=sessionarchiverfs,"
				    "subtype=sessionarchiverfs") < 0) {
		rc = SA_EXIT_FAILURE;
		goto out_free_store;
	}
	rc = fuse_main(args.argc, args.argv, &storefs_ops, &fs) == 0
		     ? SA_EXIT_OK
		     : SA_EXIT_FAILURE;
out_free_store:
	store_free(fs.store);
out_free_args:
	fuse_opt_free_args(&args);
	free(opts.store);
	free(opts.index);
	free(opts.config);
	return rc;
}
