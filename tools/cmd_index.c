/*
 * sessionarchiver index [--rebuild] [SESSION]: brings the local index up to
 * date with the store (new, changed and vanished backups, new manifest and
 * journal lines), or recreates it from the store alone.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "exitcode.h"
#include "idx.h"
#include "log.h"
#include "scan.h"
#include "store.h"

int cmd_index(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rebuild", no_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	static const char synopsis[] = "[--rebuild] [--threads N] [SESSION]";
	struct scan_options so = { 0 };
	struct scan_stats stats;
	struct store *st;
	struct idx *idx;
	char *end;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", opts, false)) != -1) {
		switch (c) {
		case 'r': so.rebuild = true; break;
		case 't':
			so.threads = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || so.threads < 1 ||
			    so.threads > 64) {
				log_err("bad --threads '%s': a number from 1 "
					"to 64",
					optarg);
				return SA_EXIT_USAGE;
			}
			break;
		case 'h':
			printf("usage: sessionarchiver index %s\n\n"
			       "Bring the index up to date with the store.\n"
			       "  --rebuild    forget what the index knew of "
			       "the store and read it all again\n"
			       "  --threads N  backups read at once (default: "
			       "one per CPU)\n",
			       synopsis);
			return SA_EXIT_OK;
		default: return cli_usage(cli, synopsis);
		}
	}
	if (argc - optind > 1)
		return cli_usage(cli, synopsis);
	so.only = optind < argc ? argv[optind] : NULL;
	so.quiet = cli->verbosity < 0;
	if (so.rebuild && so.only) {
		log_err("--rebuild works on the whole store, not on one "
			"session");
		return SA_EXIT_USAGE;
	}
	if (!(st = cli_open_store(cli, &rc)))
		return rc;
	if (!(idx = cli_open_index(cli, st))) {
		store_free(st);
		return SA_EXIT_FAILURE;
	}
	rc = scan_store(idx, st, &so, &stats) < 0 ? SA_EXIT_FAILURE
						  : SA_EXIT_OK;
	if (rc == SA_EXIT_OK)
		log_msg(LOG_NOTICE,
			"indexed %ld session(s): %ld backups, %ld read (%ld "
			"unreadable), %ld gone, %ld journal lines",
			stats.sessions, stats.files, stats.read, stats.failed,
			stats.vanished, stats.lines);
	idx_free(idx);
	store_free(st);
	return rc;
}
