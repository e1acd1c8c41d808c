/*
 * sessionarchiver mount MOUNTPOINT [-o OPTIONS]: mounts the configured
 * store with sessionarchiverfs, passing the configuration and the index on,
 * so that an admin needs to name only the mountpoint. Returns once the
 * mount answers, with sessionarchiverfs's exit code.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

/* sessionarchiverfs next to this program, else the installed one */
static char *find_fs(void)
{
	char *path = child_beside_self("sessionarchiverfs", X_OK);

	return path ? path : xasprintf("%s/sessionarchiverfs", SA_BINDIR);
}

int cmd_mount(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "options", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	static const char synopsis[] = "[-o OPTIONS] MOUNTPOINT";
	const char *extra = NULL;
	char *fsbin, *mopts, *av[8], err[512], *real_config = NULL;
	struct child_opts co = { .argv = av, .envp = child_default_env, .out_fd = -1,
				 .timeout_s = 60 };
	struct child_result res;
	struct store *st;
	int c, rc, n = 0;

	while ((c = cli_getopt(cli, argc, argv, "o:", opts, false)) != -1) {
		switch (c) {
		case 'o': extra = optarg; break;
		case 'h':
			printf("usage: sessionarchiver mount %s\n\n"
			       "Mount the configured store with "
			       "sessionarchiverfs (the configuration and the\n"
			       "index are passed on). Unmount with "
			       "fusermount3 -u MOUNTPOINT.\n",
			       synopsis);
			return SA_EXIT_OK;
		default: return cli_usage(cli, synopsis);
		}
	}
	if (argc - optind != 1)
		return cli_usage(cli, synopsis);
	if (!(st = cli_open_store(cli, &rc)))
		return rc;
	if (cli->cfg_from_file || cli->config_path) {
		real_config = realpath(cli->config_path ? cli->config_path
							: CONFIG_DEFAULT_PATH,
				       NULL);
	}
	mopts = xasprintf("%s%s%s%s%s%s", real_config ? "config=" : "",
			  real_config ? real_config : "",
			  cli->index_path ? (real_config ? ",index=" : "index=")
					  : "",
			  cli->index_path ? cli->index_path : "",
			  extra && (real_config || cli->index_path) ? "," : "",
			  extra ? extra : "");
	fsbin = find_fs();
	av[n++] = fsbin;
	av[n++] = (char *)store_path(st);
	av[n++] = argv[optind];
	if (*mopts) {
		av[n++] = "-o";
		av[n++] = mopts;
	}
	av[n] = NULL;
	if (child_run(&co, &res) < 0) {
		log_err("cannot run '%s': %s", fsbin, strerror(errno));
		rc = SA_EXIT_FAILURE;
	} else {
		fputs(res.output, stderr);
		rc = res.exited ? res.exit_code : SA_EXIT_FAILURE;
		if (!res.exited)
			log_err("'%s' %s", fsbin,
				child_describe(&res, 60, err, sizeof(err)));
	}
	child_result_release(&res);
	free(fsbin);
	free(mopts);
	free(real_config);
	store_free(st);
	return rc;
}
