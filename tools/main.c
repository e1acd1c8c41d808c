/*
 * sessionarchiver: the command line. main() sets up the libraries that
 * must be initialised before any thread, reads the global options that come
 * before the subcommand, and hands over to the subcommand's cmd_ function.
 */
#include <archive.h>
#include <curl/curl.h>
#include <fuse.h>
#include <libpq-fe.h>
#include <mysql.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "idx.h"
#include "log.h"

static void print_version(void)
{
	printf("sessionarchiver %s\n", SA_VERSION);
	int pq = PQlibVersion();

	printf("libfuse %s, libarchive %s, SQLite %s, %s, MySQL client %s, "
	       "libpq %d.%d\n",
	       fuse_pkgversion(), archive_version_details(), idx_sqlite_version(),
	       curl_version(), mysql_get_client_info(), pq / 10000, pq % 10000);
}

static void print_help(void)
{
	printf("usage: sessionarchiver [OPTIONS] COMMAND [ARGS]\n\n"
	       "Move an academic session of Moodle courses to an archive "
	       "Moodle through a\nshared store, prove it complete, then "
	       "purge.\n\nCommands:\n");
	for (const struct cli_command *c = cli_commands; c->name; c++)
		printf("  %-10s %s\n", c->name, c->summary);
	printf("\nGlobal options (before or after the command):\n"
	       "  -c, --config FILE  configuration file\n"
	       "      --store DIR    the store\n"
	       "      --index FILE   the local SQLite index\n"
	       "      --set S.K=V    override a configuration key\n"
	       "  -q, --quiet        only warnings and errors\n"
	       "  -v, --verbose      more detail (twice: debug)\n"
	       "      --syslog       log to syslog instead of stderr\n"
	       "  -h, --help         this help; COMMAND --help for a "
	       "command's\n"
	       "      --version      versions of the tool and its libraries\n"
	       "\nExit codes: 0 success, 1 failure, 2 usage, 3 outside the "
	       "window,\n4 refused by a safety rule, 5 platform unreachable, "
	       "6 some courses failed,\n7 not a store or unknown store format, "
	       "8 another run is active, 9 bad mountpoint (sessionarchiverfs).\n");
}

int main(int argc, char **argv)
{
	static const struct option version_opt[] = {
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { .command = "" };
	const struct cli_command *cmd;
	int c, rc = SA_EXIT_USAGE;

	log_set_ident("sessionarchiver");
	while ((c = cli_getopt(&cli, argc, argv, "+", version_opt, false)) !=
	       -1) {
		if (c == 'V') {
			print_version();
			return SA_EXIT_OK;
		}
		if (c == 'h') {
			print_help();
			return SA_EXIT_OK;
		}
		fprintf(stderr, "usage: sessionarchiver [OPTIONS] COMMAND "
				"[ARGS]\nTry 'sessionarchiver --help'.\n");
		return SA_EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "sessionarchiver: no command given\n"
				"Try 'sessionarchiver --help'.\n");
		return SA_EXIT_USAGE;
	}
	cli.command = argv[optind];
	if ((cmd = cli_find_command(cli.command))) {
		/* libcurl and the MySQL client must start before any thread */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
			log_err("cannot initialise libcurl");
			return SA_EXIT_FAILURE;
		}
		if (mysql_library_init(0, NULL, NULL) != 0) {
			log_err("cannot initialise the MySQL client");
			curl_global_cleanup();
			return SA_EXIT_FAILURE;
		}
		/* the subcommand parses argv from its own name on; optind 0
		 * makes GNU getopt start afresh (and permute again) */
		argc -= optind;
		argv += optind;
		optind = 0;
		rc = cmd->run(&cli, argc, argv);
		cli_release(&cli);
		mysql_library_end();
		curl_global_cleanup();
		return rc;
	}
	fprintf(stderr,
		"sessionarchiver: unknown command '%s'\n"
		"Try 'sessionarchiver --help'.\n",
		cli.command);
	return SA_EXIT_USAGE;
}
