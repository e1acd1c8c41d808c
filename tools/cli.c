/*
 * Option handling shared by all subcommands. A global option may come
 * before or after the subcommand, so each subcommand's getopt_long table is
 * the union of its own options and the global ones; this file builds that
 * union once per call.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "exitcode.h"
#include "idx.h"
#include "journal.h"
#include "lease.h"
#include "op_archive.h"
#include "op_restore.h"
#include "op_purge.h"
#include "op_verify.h"
#include "log.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

enum {
	OPT_STORE = 0x100,
	OPT_INDEX,
	OPT_SYSLOG,
	OPT_JSON,
	OPT_SET,
};

static const struct option global_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "index", required_argument, NULL, OPT_INDEX },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "set", required_argument, NULL, OPT_SET },
	{ "help", no_argument, NULL, 'h' },
};
#define N_GLOBAL (sizeof(global_options) / sizeof(global_options[0]))
static const struct option json_option = { "json", no_argument, NULL,
					   OPT_JSON };

const struct cli_command cli_commands[] = {
	{ "init", cmd_init, "create a store in a directory" },
	{ "index", cmd_index, "bring the local index up to date with the store" },
	{ "list", cmd_list, "list the courses of a session" },
	{ "status", cmd_status, "is an operation running, what remains to do" },
	{ "check", cmd_check, "re-read every backup and compare checksums" },
	{ "plan", cmd_plan, "show what an archive would do (plan archive ...)" },
	{ "archive", cmd_archive, "back a session's courses up into the store" },
	{ "restore", cmd_restore, "restore a session's backups on the archive platform" },
	{ "verify", cmd_verify, "compare the archive with the source category" },
	{ "purge", cmd_purge, "delete a session's courses on one platform" },
	{ "pause", cmd_pause, "pause the operation running on a session" },
	{ "resume", cmd_resume, "resume a paused operation" },
	{ "cancel", cmd_cancel, "cancel the operation running on a session" },
	{ "inspect", cmd_inspect, "show what Moodle backups (.mbz) hold" },
	{ "mount", cmd_mount, "mount the configured store (sessionarchiverfs)" },
	{ "doctor", cmd_doctor, "check the configuration, store, platforms" },
	{ "control", cmd_control, "run a control-file command (what the mount runs)" },
	{ NULL, NULL, NULL },
};

const struct cli_command *cli_find_command(const char *name)
{
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, bool json_ok)
{
	struct option all[64];
	char shorts[64];
	size_t n = 0;
	int c;

	for (const struct option *o = longopts; o && o->name; o++)
		all[n++] = *o;
	for (size_t i = 0; i < N_GLOBAL; i++)
		all[n++] = global_options[i];
	if (json_ok)
		all[n++] = json_option;
	memset(&all[n], 0, sizeof(all[n]));
	/* main() stops at the subcommand ("+"); subcommands take options
	 * anywhere among their arguments, as GNU tools do */
	snprintf(shorts, sizeof(shorts), "%sc:qvh", shortopts ? shortopts : "");

	for (;;) {
		c = getopt_long(argc, argv, shorts, all, NULL);
		switch (c) {
		case 'c': cli->config_path = optarg; continue;
		case OPT_STORE: cli->store_path = optarg; continue;
		case OPT_INDEX: cli->index_path = optarg; continue;
		case 'q': cli->verbosity = -1; continue;
		case 'v': cli->verbosity++; continue;
		case OPT_SYSLOG: cli->use_syslog = true; continue;
		case OPT_JSON: cli->json = true; continue;
		case OPT_SET:
			if (cli->n_sets == (int)(sizeof(cli->sets) /
						 sizeof(cli->sets[0]))) {
				log_err("too many --set options");
				return '?';
			}
			cli->sets[cli->n_sets++] = optarg;
			continue;
		default: break;
		}
		break;
	}
	switch (cli->verbosity) {
	case -1: log_set_level(LOG_WARNING); break;
	case 0: log_set_level(LOG_NOTICE); break;
	case 1: log_set_level(LOG_INFO); break;
	default: log_set_level(LOG_DEBUG); break;
	}
	log_use_syslog(cli->use_syslog);
	return c;
}

int cli_usage(const struct cli *cli, const char *synopsis)
{
	fprintf(stderr,
		"usage: sessionarchiver %s %s\n"
		"Try 'sessionarchiver %s --help' for more information.\n",
		cli->command, synopsis, cli->command);
	return SA_EXIT_USAGE;
}

struct config *cli_config(struct cli *cli)
{
	const char *path = cli->config_path;
	char err[512];

	if (cli->cfg)
		return cli->cfg;
	cli->cfg = config_new();
	if (!path && access(CONFIG_DEFAULT_PATH, F_OK) == 0)
		path = CONFIG_DEFAULT_PATH;
	if (path) {
		if (config_load_file(cli->cfg, path, err, sizeof(err)) < 0)
			goto out_fail;
		cli->cfg_from_file = true;
	}
	for (int i = 0; i < cli->n_sets; i++) {
		char *key = xstrdup(cli->sets[i]), *eq = strchr(key, '=');
		int rc;

		if (!eq) {
			snprintf(err, sizeof(err),
				 "--set '%s': expected section.key=value",
				 cli->sets[i]);
			free(key);
			goto out_fail;
		}
		*eq = '\0';
		rc = config_set(cli->cfg, key, eq + 1, err, sizeof(err));
		free(key);
		if (rc < 0)
			goto out_fail;
	}
	if (config_check(cli->cfg, err, sizeof(err)) < 0)
		goto out_fail;
	journal_set_host(cli->cfg->store.host);
	return cli->cfg;

out_fail:
	log_err("%s", err);
	config_free(cli->cfg);
	cli->cfg = NULL;
	return NULL;
}

void cli_release(struct cli *cli)
{
	config_free(cli->cfg);
	cli->cfg = NULL;
}

struct store *cli_open_store(struct cli *cli, int *exit_code)
{
	const struct config *cfg;
	const char *path = cli->store_path;
	char err[512];
	struct store *st;
	int code;

	if (!path) {
		if (!(cfg = cli_config(cli))) {
			*exit_code = SA_EXIT_USAGE;
			return NULL;
		}
		path = cfg->store.path;
	}
	if (!path) {
		log_err("no store given: use --store DIR or [store] path in "
			"the configuration");
		*exit_code = SA_EXIT_USAGE;
		return NULL;
	}
	st = store_open(path, &code, err, sizeof(err));
	if (!st) {
		log_err("%s", err);
		*exit_code = code == STORE_ERR_IO ? SA_EXIT_FAILURE
						  : SA_EXIT_NOSTORE;
	}
	return st;
}

struct idx *cli_open_index(struct cli *cli, struct store *st)
{
	char err[512], *path;
	struct idx *idx;

	if (!cli->index_path && !cli_config(cli))
		return NULL;
	if (cli->index_path)
		path = xstrdup(cli->index_path);
	else if (cli->cfg_from_file && cli->cfg->store.index)
		path = xstrdup(cli->cfg->store.index);
	else
		path = idx_default_path(store_id(st));
	idx = idx_open(path, 0, err, sizeof(err));
	if (!idx)
		log_err("%s", err);
	free(path);
	return idx;
}

int cli_session_log(int metafd)
{
	char *name = journal_log_name();
	struct stat a, b;
	int fd = openat(metafd, name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			0644);

	free(name);
	if (fd < 0) {
		log_warn("cannot open the session's log: %s", strerror(errno));
		return -1;
	}
	/* started by the mount, our stderr is that log already */
	if (fstat(STDERR_FILENO, &a) == 0 && fstat(fd, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		close(fd);
		return -1;
	}
	log_set_file_fd(fd);
	return fd;
}

void cli_session_log_close(int fd)
{
	if (fd < 0)
		return;
	log_set_file_fd(-1);
	close(fd);
}

/* "host H (pid P, operation)", or what an unreadable lease is. */
static char *holder_text(const struct lease_holder *h)
{
	if (!h->token)
		return xstrdup("an unreadable lease (being written, or its "
			       "writer died)");
	return xasprintf("host %s (pid %lld, %s)", h->host, (long long)h->pid,
			 h->operation);
}

/*
 * A shared archive running on the session: "N host(s): host H (pid P,
 * archive --share), ..." in *who, 1; 0 when none; -1 (logged).
 */
static int shared_archive_running(int metafd, unsigned grace, char **who)
{
	struct lease_holder *members;
	struct strbuf sb;
	size_t n;
	int fd = openat(metafd, LEASE_MEMBERS_DIR,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*who = NULL;
	if (fd < 0)
		return errno == ENOENT ? 0
				       : log_err("cannot open '%s': %s",
						 LEASE_MEMBERS_DIR,
						 strerror(errno));
	if (lease_list(fd, journal_host(), grace, &members, &n) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	sb_init(&sb, 0);
	sb_printf(&sb, "%zu host(s)", n);
	for (size_t i = 0; i < n; i++) {
		char *h = holder_text(&members[i]);

		sb_printf(&sb, "%s %s", i ? "," : ":", h);
		free(h);
		lease_holder_release(&members[i]);
	}
	free(members);
	if (n)
		*who = sb_detach(&sb, NULL);
	sb_release(&sb);
	return n > 0;
}

struct lease *cli_session_lease(struct cli *cli, int metafd,
				const char *session, const char *operation,
				struct lease_holder *taken_from, int *exit_code)
{
	unsigned grace = cli->cfg ? cli->cfg->store.lease_grace : 300;
	bool joining = strcmp(operation, LEASE_JOIN_OPERATION) == 0;
	struct lease_holder other;
	enum lease_result res;
	struct lease *l;
	char *holder, *members;
	time_t now;
	int running;

	memset(taken_from, 0, sizeof(*taken_from));
	/*
	 * Members join one at a time, each holding it for a moment; a lease
	 * file is empty between its O_EXCL creation and its write, so an
	 * unreadable one is given a moment too.
	 */
	for (int tries = 0;; tries++) {
		bool being_written, member_joining;

		l = lease_take(metafd, journal_host(), operation, grace, &res,
			       &other);
		if (res != LEASE_BUSY)
			break;
		being_written = !other.token && tries < 20;
		member_joining = joining && tries < 100 &&
				 strcmp(other.operation,
					LEASE_JOIN_OPERATION) == 0;
		if (!being_written && !member_joining)
			break;
		lease_holder_release(&other);
		usleep(100 * 1000);
	}
	now = time(NULL);
	if (res == LEASE_ERROR)
		*exit_code = SA_EXIT_FAILURE;
	if (res == LEASE_ERROR)
		return l;
	if (res == LEASE_BUSY) {
		holder = holder_text(&other);
		log_err("session '%s' is held by %s, last heartbeat %llds ago: "
			"refused; a holder silent for %us ([store] "
			"lease_grace) is taken over",
			session, holder, (long long)(now - other.heartbeat),
			grace);
		*exit_code = SA_EXIT_BUSY;
		free(holder);
		lease_holder_release(&other);
		return NULL;
	}
	/* members of a shared archive hold no lease while they work */
	running = joining ? 0 : shared_archive_running(metafd, grace, &members);
	if (running != 0) {
		if (running > 0)
			log_err("session '%s' is being archived by a shared "
				"archive on %s: refused until it ends (a member "
				"silent for %us, [store] lease_grace, no "
				"longer counts)",
				session, members, grace);
		free(members);
		lease_holder_release(&other);
		lease_release(l);
		*exit_code = running > 0 ? SA_EXIT_BUSY : SA_EXIT_FAILURE;
		return NULL;
	}
	if (res == LEASE_TAKEN_OVER) {
		holder = holder_text(&other);
		log_msg(LOG_NOTICE,
			"session '%s': took the lease over from %s, silent for "
			"%llds",
			session, holder, (long long)(now - other.heartbeat));
		*taken_from = other;
		free(holder);
	}
	return l;
}

void cli_note_takeover(int metafd, const char *journal, const char *operation,
		       struct lease_holder *from)
{
	json_t *ev;

	if (!from->host)
		return;
	ev = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:s, s:I}", "event",
		       "lease_takeover", "host", journal_host(), "pid",
		       (json_int_t)getpid(), "operation", operation,
		       "from_host", from->host, "from_pid",
		       (json_int_t)from->pid, "from_operation",
		       from->operation, "from_heartbeat",
		       (json_int_t)from->heartbeat);
	if (!ev || journal_append(metafd, journal, ev) < 0)
		log_warn("cannot write the lease takeover to the journal "
			 "'%s': %s",
			 journal, strerror(errno));
	json_decref(ev);
	lease_holder_release(from);
}
