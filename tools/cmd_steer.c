/*
 * sessionarchiver pause|resume|cancel SESSION: steers the operation running
 * on a session by signal (SIGUSR1, SIGUSR2, SIGTERM), the same way the
 * mount's control file does. The run is found in the index, alive.
 */
#include <stdio.h>

#include "cli.h"
#include "exitcode.h"
#include "idx.h"
#include "log.h"
#include "runs.h"
#include "store.h"

static int steer(struct cli *cli, int argc, char **argv,
		 enum runs_steer how, const char *what)
{
	static const char synopsis[] = "SESSION";
	struct run_info run;
	struct store *st;
	struct idx *idx;
	int64_t session_id;
	char why[512];
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, false)) != -1) {
		if (c == 'h') {
			printf("usage: sessionarchiver %s SESSION\n\n%s\n",
			       cli->command, what);
			return SA_EXIT_OK;
		}
		return cli_usage(cli, synopsis);
	}
	if (argc - optind != 1)
		return cli_usage(cli, synopsis);
	if (!(st = cli_open_store(cli, &rc)))
		return rc;
	if (!(idx = cli_open_index(cli, st))) {
		store_free(st);
		return SA_EXIT_FAILURE;
	}
	rc = SA_EXIT_FAILURE;
	session_id = idx_session_find(idx, argv[optind]);
	if (session_id == 0)
		log_err("no session '%s' in the index", argv[optind]);
	else if (session_id > 0 &&
		 runs_steer(idx, session_id, argv[optind], how, &run, why,
			    sizeof(why)) < 0)
		log_err("%s", why);
	else if (session_id > 0) {
		log_msg(LOG_NOTICE, "%s: %s sent to %s (pid %d)", argv[optind],
			cli->command, run.operation, (int)run.pid);
		rc = SA_EXIT_OK;
	}
	idx_free(idx);
	store_free(st);
	return rc;
}

int cmd_pause(struct cli *cli, int argc, char **argv)
{
	return steer(cli, argc, argv, RUNS_PAUSE,
		     "Pause the operation running on SESSION: running courses "
		     "finish, none starts\nuntil resume.");
}

int cmd_resume(struct cli *cli, int argc, char **argv)
{
	return steer(cli, argc, argv, RUNS_RESUME,
		     "Resume a paused operation.");
}

int cmd_cancel(struct cli *cli, int argc, char **argv)
{
	return steer(cli, argc, argv, RUNS_CANCEL,
		     "Cancel the operation running on SESSION: running "
		     "courses are stopped and\ncleaned up; they are redone "
		     "next time.");
}
