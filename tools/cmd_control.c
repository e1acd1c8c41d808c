/*
 * sessionarchiver control SESSION LINE: runs one command of the control
 * files' language (common/control.h) on a session. It is how the mount
 * starts an operation: it hands over the line it accepted, and the
 * command line alone decides which subcommand and options that means,
 * here, next to those options. jobs= and window= apply as --set does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "control.h"
#include "exitcode.h"
#include "log.h"
#include "xalloc.h"

/* The subcommand's argv for cmd on session (NULL-ended); caller frees. */
static char **subcommand_argv(const struct control_cmd *cmd,
			      const char *session)
{
	char **argv = xcalloc(8, sizeof(*argv));
	int n = 0;

	argv[n++] = xstrdup(control_op_name(cmd->op));
	argv[n++] = xstrdup(session);
	if (cmd->op == CONTROL_RESTORE)
		/* "restore target=12" means the category id 12 */
		argv[n++] = xasprintf("--target=%s%s",
				      strspn(cmd->target, "0123456789") ==
						      strlen(cmd->target)
					      ? "id:"
					      : "",
				      cmd->target);
	if (cmd->deep)
		argv[n++] = xstrdup("--deep");
	if (cmd->op == CONTROL_PURGE) {
		argv[n++] = xasprintf("--side=%s", cmd->side);
		argv[n++] = xasprintf("--%s", cmd->mode);
	}
	return argv;
}

int cmd_control(struct cli *cli, int argc, char **argv)
{
	static const char synopsis[] = "SESSION 'COMMAND [ARGS]'";
	const struct cli_command *sub;
	struct control_cmd cmd;
	char err[512], *sets[2] = { NULL, NULL };
	char **sub_argv;
	int c, n, rc, added = 0;

	/* --json is the subcommand's to honour (purge preview, verify) */
	while ((c = cli_getopt(cli, argc, argv, "", NULL, true)) != -1) {
		if (c == 'h') {
			printf("usage: sessionarchiver control %s\n\nRun one "
			       "command of the mount's control files on "
			       "SESSION, as the mount does:\n%s",
			       synopsis, control_help);
			return SA_EXIT_OK;
		}
		return cli_usage(cli, synopsis);
	}
	if (argc - optind != 2)
		return cli_usage(cli, synopsis);
	if (control_parse(argv[optind + 1], strlen(argv[optind + 1]), &cmd,
			  err, sizeof(err)) < 0) {
		log_err("control '%s': %s", argv[optind + 1], err);
		return SA_EXIT_USAGE;
	}
	/* before the subcommand loads the configuration, after -c/--set */
	if (cmd.jobs)
		sets[0] = xasprintf("jobs.parallel=%u", cmd.jobs);
	if (cmd.window[0])
		sets[1] = xasprintf("window.hours=%s", cmd.window);
	for (int i = 0; i < 2; i++) {
		if (!sets[i])
			continue;
		if (cli->cfg || cli->n_sets == (int)(sizeof(cli->sets) /
						     sizeof(cli->sets[0]))) {
			log_err("control: too many --set options");
			free(sets[0]);
			free(sets[1]);
			return SA_EXIT_USAGE;
		}
		cli->sets[cli->n_sets++] = sets[i];
		added++;
	}
	sub_argv = subcommand_argv(&cmd, argv[optind]);
	for (n = 0; sub_argv[n]; n++)
		;
	sub = cli_find_command(sub_argv[0]);
	cli->command = sub->name;
	/* the subcommand parses afresh, as main() hands it its argv */
	optind = 0;
	rc = sub->run(cli, n, sub_argv);
	for (int i = 0; i < n; i++)
		free(sub_argv[i]);
	free(sub_argv);
	/* the configuration, if loaded, holds copies of the values */
	cli->n_sets -= added;
	free(sets[0]);
	free(sets[1]);
	return rc;
}
