/*
 * sessionarchiver status [SESSION] [--json] and list SESSION [--json]: what
 * the index knows, rendered by indexer/report.c with the refusals set
 * apart by indexer/runs.c (the mount's status files use the same
 * rendering).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "idx.h"
#include "log.h"
#include "report.h"
#include "lease.h"
#include "runs.h"
#include "store.h"

/* An index of another store would answer for the wrong courses. */
static int check_owner(struct idx *idx, struct store *st)
{
	char *id;
	int rc = idx_store_id(idx, &id);

	if (rc == 1 && strcmp(id, store_id(st)) != 0)
		rc = log_err("index '%s' belongs to another store (id %s), not "
			     "to '%s' (id %s): use another --index",
			     idx_path(idx), id, store_path(st), store_id(st));
	free(id);
	return rc < 0 ? -1 : 0;
}

static int open_both(struct cli *cli, struct store **st, struct idx **idx)
{
	int rc;

	if (!(*st = cli_open_store(cli, &rc)))
		return rc;
	if (!(*idx = cli_open_index(cli, *st))) {
		store_free(*st);
		return SA_EXIT_FAILURE;
	}
	if (check_owner(*idx, *st) < 0) {
		idx_free(*idx);
		store_free(*st);
		return SA_EXIT_FAILURE;
	}
	return SA_EXIT_OK;
}

static void print_json(json_t *j)
{
	/* straight to stdout: no copy of a 10,000-course listing */
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	static const char synopsis[] = "[--json] [SESSION]";
	struct store *st = NULL;
	struct idx *idx = NULL;
	json_t *status;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, true)) != -1) {
		if (c == 'h') {
			printf("usage: sessionarchiver status %s\n\n"
			       "Is an operation running, and what remains to "
			       "do: for every session,\nor in detail for one.\n",
			       synopsis);
			return SA_EXIT_OK;
		}
		return cli_usage(cli, synopsis);
	}
	if (argc - optind > 1)
		return cli_usage(cli, synopsis);
	if ((rc = open_both(cli, &st, &idx)) != SA_EXIT_OK)
		return rc;
	status = report_status(idx, optind < argc ? argv[optind] : NULL);
	if (status && runs_report_refusals(idx, status) < 0) {
		json_decref(status);
		status = NULL;
	}
	if (status)
		lease_report(store_dirfd(st), status);
	if (!status) {
		rc = SA_EXIT_FAILURE;
	} else if (cli->json) {
		print_json(optind < argc ? json_array_get(json_object_get(
							    status, "sessions"),
						    0)
					 : status);
	} else {
		char *text = runs_status_text(status, optind < argc);

		fputs(text, stdout);
		free(text);
	}
	json_decref(status);
	idx_free(idx);
	store_free(st);
	return rc;
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
	static const char synopsis[] = "[--json] SESSION";
	struct store *st = NULL;
	struct idx *idx = NULL;
	json_t *list;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "", NULL, true)) != -1) {
		if (c == 'h') {
			printf("usage: sessionarchiver list %s\n\n"
			       "The courses of a session as the index knows "
			       "them: state, source course\nid, size, file, "
			       "shortname, and the error of failed ones.\n",
			       synopsis);
			return SA_EXIT_OK;
		}
		return cli_usage(cli, synopsis);
	}
	if (argc - optind != 1)
		return cli_usage(cli, synopsis);
	if ((rc = open_both(cli, &st, &idx)) != SA_EXIT_OK)
		return rc;
	list = report_list(idx, argv[optind]);
	if (!list) {
		rc = SA_EXIT_FAILURE;
	} else if (cli->json) {
		print_json(list);
	} else {
		char *text = report_list_text(list);

		fputs(text, stdout);
		free(text);
	}
	json_decref(list);
	idx_free(idx);
	store_free(st);
	return rc;
}
