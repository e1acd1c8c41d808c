/*
 * sessionarchiver init --store DIR: makes DIR a store. Both platforms then
 * mount the same DIR; running init a second time is refused so that a
 * store id never changes under an index that caches it.
 */
#include <stdio.h>

#include "cli.h"
#include "exitcode.h"
#include "log.h"
#include "store.h"

int cmd_init(struct cli *cli, int argc, char **argv)
{
	char err[512];
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, false)) != -1) {
		if (c == 'h') {
			printf("usage: sessionarchiver init --store DIR\n\n"
			       "Create a store in DIR (created if missing).\n");
			return SA_EXIT_OK;
		}
		return cli_usage(cli, "--store DIR");
	}
	if (optind != argc || !cli->store_path)
		return cli_usage(cli, "--store DIR");
	rc = store_create(cli->store_path, err, sizeof(err));
	if (rc == STORE_ERR_EXISTS) {
		log_err("%s", err);
		return SA_EXIT_REFUSED;
	}
	if (rc != STORE_OK) {
		log_err("%s", err);
		return SA_EXIT_FAILURE;
	}
	log_msg(LOG_NOTICE, "created store '%s'", cli->store_path);
	return SA_EXIT_OK;
}
