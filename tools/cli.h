/*
 * cli: what every sessionarchiver subcommand shares: the global options
 * (accepted before or after the subcommand), opening the store, and the
 * table of subcommands. One process runs one command; nothing here is
 * shared between threads.
 */
#ifndef SA_CLI_H
#define SA_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "lease.h"

struct config;
struct idx;
struct store;

struct cli {
	const char *config_path; /* -c/--config, NULL: the default file */
	const char *store_path;  /* --store */
	const char *index_path;  /* --index */
	bool json;               /* --json where the command supports it */
	int verbosity;           /* -q: -1, default 0, -v: 1, -vv: 2 */
	bool use_syslog;         /* --syslog */
	const char *command;     /* the subcommand's name */
	const char *sets[32];    /* --set section.key=value, in order */
	int n_sets;
	struct config *cfg;      /* loaded by cli_config() */
	bool cfg_from_file;      /* a configuration file was read */
};

/*
 * The configuration: -c FILE, else the default file when it exists, else
 * the defaults; then every --set. Loaded once and kept in cli->cfg. NULL
 * (the error reported) on a bad file or value: exit with SA_EXIT_USAGE.
 */
struct config *cli_config(struct cli *cli);
/* Frees what cli holds (the configuration). */
void cli_release(struct cli *cli);

/*
 * getopt_long over a subcommand's arguments that also understands the
 * global options (-c, --store, --index, --set, -q, -v, --syslog, -h) and, when
 * json_ok, --json. A shortopts starting with '+' stops at the first
 * non-option (main() before the subcommand). Returns like getopt_long for the subcommand's own
 * options; global ones are consumed and stored in cli. '?' means a usage
 * error that was already reported; 'h' means --help was asked.
 */
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, bool json_ok);

/* Prints "usage: sessionarchiver CMD ARGS" to stderr; returns SA_EXIT_USAGE. */
int cli_usage(const struct cli *cli, const char *synopsis);

/*
 * Opens the store named by --store (or the config). Reports the error and
 * returns NULL with the exit code to use in *exit_code.
 */
struct store *cli_open_store(struct cli *cli, int *exit_code);

/*
 * Opens the index for the store: --index, else [store] index of the
 * configuration file when one was read, else a per-user state file named after the store's id
 * ($XDG_STATE_HOME or ~/.local/state, /sessionarchiver/<id>.db). Reports
 * the error and returns NULL.
 */
struct idx *cli_open_index(struct cli *cli, struct store *st);

struct cli_command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
};

/* Every subcommand, ending with a NULL name. */
extern const struct cli_command cli_commands[];
/* The subcommand called name, or NULL. */
const struct cli_command *cli_find_command(const char *name);

/*
 * Copies every log message of this run into this host's operation log of
 * the session (metafd: its .session folder), unless stderr is that file
 * already. Returns the fd to give to cli_session_log_close(), or -1.
 */
/*
 * Takes the store lease of session (metafd: its .session folder) for
 * operation: the session is then this process's on every host sharing the
 * store. Take it before reading the session's state. A silent holder
 * taken over is logged and left in *taken_from for cli_note_takeover()
 * (zeroed otherwise). NULL with *exit_code SA_EXIT_BUSY (the holder
 * named) or SA_EXIT_FAILURE. Release with lease_release().
 */
struct lease *cli_session_lease(struct cli *cli, int metafd,
				const char *session, const char *operation,
				struct lease_holder *taken_from, int *exit_code);

/* Writes a takeover to metafd/journal, once its name is known; frees it. */
void cli_note_takeover(int metafd, const char *journal, const char *operation,
		       struct lease_holder *from);

int cli_session_log(int metafd);
void cli_session_log_close(int fd);

/* The subcommands; each returns an enum sa_exit value. */
int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_index(struct cli *cli, int argc, char **argv);
int cmd_list(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_mount(struct cli *cli, int argc, char **argv);
int cmd_pause(struct cli *cli, int argc, char **argv);
int cmd_resume(struct cli *cli, int argc, char **argv);
int cmd_cancel(struct cli *cli, int argc, char **argv);
int cmd_doctor(struct cli *cli, int argc, char **argv);
int cmd_control(struct cli *cli, int argc, char **argv);

#endif
