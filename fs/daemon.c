/*
 * The daemon's own work. A control command becomes exactly the
 * sessionarchiver command line a person would type, run as a child process
 * in its own process group with its output appended to the session's log:
 * one code path per operation, and a crashing operation never takes the
 * mount down. The check that nothing runs and the start of the child happen
 * under one lock so that two writes cannot both start an operation.
 *
 * The index is a cache an administrator may delete and have made again
 * (`index --rebuild` after `rm`): each thread's connection looks at the
 * path now and then and moves to the new file, for a connection holds the
 * deleted one open and would go on reading it.
 */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "control.h"
#include "gate.h"
#include "idx.h"
#include "journal.h"
#include "log.h"
#include "printable.h"
#include "runs.h"
#include "scan.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

/* A thread's index connection and the file it is on. */
struct conn {
	struct idx *idx;
	dev_t dev;
	ino_t ino;
	struct timespec looked; /* CLOCK_MONOTONIC_COARSE: path last stat'd */
};

static bool same_file(const struct conn *c, const struct stat *st)
{
	return st->st_dev == c->dev && st->st_ino == c->ino;
}

static void conn_free(struct conn *c)
{
	struct stat st;

	if (!c)
		return;
	/*
	 * The last connection to a database to close checkpoints it, then
	 * deletes its -wal and -shm by name: after a replacement, the new
	 * index's. SQLite skips that for a file it sees moved, unless it
	 * never read it; this makes sure.
	 */
	if (stat(idx_path(c->idx), &st) < 0 || !same_file(c, &st))
		idx_free_no_checkpoint(c->idx);
	else
		idx_free(c->idx);
	free(c);
}

static void free_conn(void *p)
{
	conn_free(p);
}

/*
 * A connection to the file now at the index path, or NULL with the reason
 * in err. Only to a file some sessionarchiver has finished setting up
 * (the read-only open refuses any other schema): a new, empty index would
 * otherwise be migrated here under the feet of the CLI run making it, and
 * that run's own migration would fail.
 */
static struct conn *conn_open(struct fsd *d, char *err, size_t errlen)
{
	struct conn *c;
	struct stat st;
	struct idx *idx;

	/* before the open: a file replaced in between is seen replaced at
	 * the next look, never the other way round */
	if (stat(d->index_path, &st) < 0) {
		snprintf(err, errlen, "cannot open index '%s': %s",
			 d->index_path, strerror(errno));
		return NULL;
	}
	if (!(idx = idx_open(d->index_path, IDX_READONLY, err, errlen)))
		return NULL;
	idx_free(idx);
	if (!(idx = idx_open(d->index_path, 0, err, errlen)))
		return NULL;
	/* up to 16 threads hold one each: keep their page caches small */
	idx_exec(idx, "PRAGMA cache_size = -1024");
	c = xcalloc(1, sizeof(*c));
	c->idx = idx;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &c->looked);
	return c;
}

/*
 * Tells the log, once for each new index file, that it is read; or, when
 * it stays unusable (err) for longer than a CLI run takes to set one up,
 * that it is not.
 */
static void note_replacement(struct fsd *d, const struct stat *st,
			     const char *err)
{
	bool tell = false, warn = false;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	pthread_mutex_lock(&d->index_lock);
	if (st->st_dev != d->replacement_dev ||
	    st->st_ino != d->replacement_ino) {
		d->replacement_dev = st->st_dev;
		d->replacement_ino = st->st_ino;
		d->replacement_seen = now.tv_sec;
		d->replacement_told = d->replacement_warned = false;
	}
	if (!err && !d->replacement_told)
		tell = d->replacement_told = true;
	else if (err && !d->replacement_warned &&
		 now.tv_sec - d->replacement_seen >= 10)
		warn = d->replacement_warned = true;
	pthread_mutex_unlock(&d->index_lock);
	if (tell)
		log_info("index '%s' was replaced: reading the new file",
			 d->index_path);
	if (warn)
		log_warn("still reading the deleted index: %s", err);
}

/*
 * A thread opened c: when it is on another file than the newest any
 * thread read, the index was replaced, whichever thread sees it first (a
 * thread that held the old file may be gone; a new one opens the new).
 */
static void note_file(struct fsd *d, const struct conn *c)
{
	struct stat st = { .st_dev = c->dev, .st_ino = c->ino };
	bool changed;

	pthread_mutex_lock(&d->index_lock);
	changed = d->file_known &&
		  (d->file_dev != c->dev || d->file_ino != c->ino);
	d->file_known = true;
	d->file_dev = c->dev;
	d->file_ino = c->ino;
	pthread_mutex_unlock(&d->index_lock);
	if (changed)
		note_replacement(d, &st, NULL);
}

/*
 * Logs a failure of a thread's first open (err) once, not once for each
 * operation while the index is missing or broken; NULL: it opened.
 */
static void note_open_error(struct fsd *d, const char *err)
{
	bool tell;

	pthread_mutex_lock(&d->index_lock);
	tell = err && strcmp(d->open_error, err) != 0;
	snprintf(d->open_error, sizeof(d->open_error), "%s", err ? err : "");
	pthread_mutex_unlock(&d->index_lock);
	if (tell)
		log_err("%s", err);
}

/* The sessionarchiver next to this program, else the installed one. */
static char *find_cli(void)
{
	char *path = child_beside_self("sessionarchiver", X_OK);

	if (path)
		return path;
	path = xasprintf("%s/sessionarchiver", SA_BINDIR);
	if (access(path, X_OK) == 0)
		return path;
	free(path);
	return NULL;
}

int fsd_init(struct fsd *d, struct store *store, const char *index_path,
	     const char *config_path, unsigned rescan_s)
{
	char err[512];
	struct idx *idx;

	memset(d, 0, sizeof(*d));
	d->store = store;
	d->index_path = xstrdup(index_path);
	d->config_path = config_path ? xstrdup(config_path) : NULL;
	d->cli_path = find_cli();
	d->rescan_s = rescan_s;
	d->uid = getuid();
	d->gid = getgid();
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	pthread_mutex_init(&d->index_lock, NULL);
	pthread_mutex_init(&d->refusals_lock, NULL);
	pthread_key_create(&d->idx_key, free_conn);
	/* create and migrate once, before any thread opens it */
	idx = idx_open(d->index_path, 0, err, sizeof(err));
	if (!idx)
		return log_err("%s", err);
	/* the mount alone records refusals: its start is the moment to
	 * bring those of older versions to the current form */
	if (runs_tidy_refused(idx) < 0)
		log_warn("refusals of older versions stay in the index");
	idx_free(idx);
	return 0;
}

static long elapsed_ms(const struct timespec *from, const struct timespec *to)
{
	return (long)(to->tv_sec - from->tv_sec) * 1000 +
	       (to->tv_nsec - from->tv_nsec) / 1000000;
}

struct idx *fsd_idx(struct fsd *d)
{
	struct conn *c = pthread_getspecific(d->idx_key), *fresh;
	struct timespec now;
	struct stat st;
	char err[512];

	if (!c) {
		c = conn_open(d, err, sizeof(err));
		note_open_error(d, c ? NULL : err);
		if (!c)
			return NULL;
		note_file(d, c);
		pthread_setspecific(d->idx_key, c);
		return c->idx;
	}
	/* a stat a second per thread at most: operations come by thousands */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (elapsed_ms(&c->looked, &now) < 1000)
		return c->idx;
	c->looked = now;
	/* no file: one is being made; the deleted index is better than none */
	if (stat(d->index_path, &st) < 0 || same_file(c, &st))
		return c->idx;
	fresh = conn_open(d, err, sizeof(err));
	if (!fresh) {
		note_replacement(d, &st, err);
		return c->idx;
	}
	note_file(d, fresh);
	conn_free(c);
	pthread_setspecific(d->idx_key, fresh);
	return fresh->idx;
}

/* The file this thread's connection is on (0, 0 when none). */
static void conn_file(struct fsd *d, dev_t *dev, ino_t *ino)
{
	const struct conn *c = pthread_getspecific(d->idx_key);

	*dev = c ? c->dev : 0;
	*ino = c ? c->ino : 0;
}

/*
 * Whether this thread's connection is on the file dev/ino: a run recorded
 * in a replaced index has another id, or none, in the new one.
 */
static bool conn_on(struct fsd *d, dev_t dev, ino_t ino)
{
	const struct conn *c = pthread_getspecific(d->idx_key);

	return c && c->dev == dev && c->ino == ino;
}

static void *scanner_main(void *arg)
{
	struct fsd *d = arg;
	struct scan_options so = { .quiet = true, .threads = 1 };
	struct scan_stats stats;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		struct idx *idx;
		struct timespec until;

		pthread_mutex_unlock(&d->lock);
		idx = fsd_idx(d);
		if (idx && scan_store(idx, d->store, &so, &stats) == 0 &&
		    (stats.read || stats.vanished || stats.lines))
			log_info("scan: %ld backups read, %ld gone, %ld "
				 "journal lines",
				 stats.read, stats.vanished, stats.lines);
		pthread_mutex_lock(&d->lock);
		if (d->rescan_s == 0)
			break;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += d->rescan_s;
		while (!d->stop &&
		       pthread_cond_timedwait(&d->wake, &d->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

void fsd_start(struct fsd *d)
{
	if (pthread_create(&d->scanner, NULL, scanner_main, d) == 0)
		d->scanner_started = true;
	else
		log_err("cannot start the background scan");
}

/* The session's .session folder (created when missing if create). */
static int open_meta(struct fsd *d, const char *session, bool create)
{
	return create ? journal_make_meta(store_dirfd(d->store), session, false)
		      : journal_open_meta(store_dirfd(d->store), session);
}

/* One time-stamped line, msg as it is, in this host's log of the session. */
static void log_line(struct fsd *d, const char *session, const char *msg)
{
	char stamp[32], *name, *text, *line;
	struct tm tm;
	time_t now = time(NULL);
	int fd;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S%z", &tm);
	/* a log line is one line, whatever the message held */
	text = printable_dup(msg, 0);
	line = xasprintf("%s sessionarchiverfs: %s", stamp, text);
	free(text);
	log_info("%s: %s", session, msg);
	fd = open_meta(d, session, true);
	name = journal_log_name();
	if (fd < 0 || store_append_line(fd, name, line) < 0)
		log_warn("cannot write the log of session '%s': %s", session,
			 strerror(errno));
	if (fd >= 0)
		close(fd);
	free(name);
	free(line);
}

/*
 * What the log of a session was told of its refusals: a script writing
 * bad commands in a loop must not fill the store's log (nor syslog).
 */
struct fsd_refusals {
	struct fsd_refusals *next;
	time_t window;        /* CLOCK_MONOTONIC_COARSE s: when it began */
	unsigned logged;      /* refusals logged in the window */
	unsigned long untold; /* refusals not logged, nor counted in the log */
	char session[];
};

/* The session's entry, made when missing if make; refusals_lock held. */
static struct fsd_refusals *refusals_of(struct fsd *d, const char *session,
					bool make)
{
	struct fsd_refusals *r;
	size_t len = strlen(session);

	for (r = d->refusals; r; r = r->next)
		if (strcmp(r->session, session) == 0)
			return r;
	if (!make)
		return NULL;
	r = xcalloc(1, sizeof(*r) + len + 1);
	memcpy(r->session, session, len + 1);
	r->next = d->refusals;
	d->refusals = r;
	return r;
}

/*
 * Counts a refusal of session: true when the log takes it. *untold is set
 * to the refusals a window now over did not log, to be counted first.
 */
static bool refusal_admit(struct fsd *d, const char *session,
			  unsigned long *untold)
{
	struct fsd_refusals *r;
	struct timespec now;
	bool admit;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	pthread_mutex_lock(&d->refusals_lock);
	r = refusals_of(d, session, true);
	*untold = 0;
	if (r->logged == 0 || now.tv_sec - r->window >= FSD_REFUSALS_WINDOW) {
		*untold = r->untold;
		r->untold = 0;
		r->logged = 0;
		r->window = now.tv_sec;
	}
	admit = r->logged < FSD_REFUSALS_LOGGED;
	if (admit)
		r->logged++;
	else
		r->untold++;
	pthread_mutex_unlock(&d->refusals_lock);
	return admit;
}

/* The refusals of session not logged yet, from now on counted. */
static unsigned long refusals_untold(struct fsd *d, const char *session)
{
	struct fsd_refusals *r;
	unsigned long n = 0;

	pthread_mutex_lock(&d->refusals_lock);
	if ((r = refusals_of(d, session, false))) {
		n = r->untold;
		r->untold = 0;
	}
	pthread_mutex_unlock(&d->refusals_lock);
	return n;
}

static void tell_untold(struct fsd *d, const char *session, unsigned long n)
{
	char msg[160];

	if (n == 0)
		return;
	snprintf(msg, sizeof(msg),
		 "%lu more refused control writes not logged (the log takes "
		 "%d in %d s)",
		 n, FSD_REFUSALS_LOGGED, FSD_REFUSALS_WINDOW);
	log_line(d, session, msg);
}

/*
 * One line in this host's log of the session, after the count of the
 * refusals it did not take, so that the log stays in order.
 */
static void session_log(struct fsd *d, const char *session, const char *fmt,
			...) __attribute__((format(printf, 3, 4)));
static void session_log(struct fsd *d, const char *session, const char *fmt,
			...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		return;
	tell_untold(d, session, refusals_untold(d, session));
	log_line(d, session, msg);
	free(msg);
}

void fsd_release(struct fsd *d)
{
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
	if (d->scanner_started)
		pthread_join(d->scanner, NULL);
	while (d->refusals) {
		struct fsd_refusals *r = d->refusals;

		d->refusals = r->next;
		tell_untold(d, r->session, r->untold);
		free(r);
	}
	/* the main thread's connection: key destructors run only on exit
	 * of other threads */
	conn_free(pthread_getspecific(d->idx_key));
	pthread_setspecific(d->idx_key, NULL);
	pthread_key_delete(d->idx_key);
	pthread_mutex_destroy(&d->refusals_lock);
	pthread_mutex_destroy(&d->index_lock);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d->index_path);
	free(d->config_path);
	free(d->cli_path);
}

/* The command as the log shows it: one line, bounded, printable. */
static void quote_command(const char *buf, size_t len, char *out,
			  size_t outlen)
{
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	printable_copy(buf, len, 0, out, outlen);
}

struct reaped {
	struct fsd *d;
	pid_t pid;
	int64_t run_id;
	dev_t index_dev; /* the index file run_id is a row of */
	ino_t index_ino;
	char session[256];
	char op[32];
};

static void *reaper_main(void *arg)
{
	struct reaped *r = arg;
	struct idx *idx;
	char why[96];
	int status;

	while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status))
		snprintf(why, sizeof(why), "exit status %d",
			 WEXITSTATUS(status));
	else
		snprintf(why, sizeof(why), "killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	session_log(r->d, r->session, "%s (pid %d) ended: %s", r->op,
		    (int)r->pid, why);
	idx = fsd_idx(r->d);
	if (idx && r->run_id > 0 &&
	    !conn_on(r->d, r->index_dev, r->index_ino))
		log_info("%s: the index was replaced while %s (pid %d) ran: "
			 "its run is not there to end",
			 r->session, r->op, (int)r->pid);
	else if (idx && r->run_id > 0) {
		bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		char *err = ok ? NULL
			       : xasprintf("%s ended with %s; see log", r->op,
					   why);

		runs_end(idx, r->run_id, ok ? "finished" : "failed", err);
		free(err);
	}
	atomic_fetch_sub(&r->d->children, 1);
	free(r);
	return NULL;
}

/*
 * argv of the command line that runs cmd on session; caller frees. The
 * command goes over as a control line (`sessionarchiver control SESSION
 * LINE`), written back from what was parsed rather than as the bytes of
 * the write: which subcommand and options it means is the CLI's to say.
 */
static char **command_argv(struct fsd *d, const struct control_cmd *cmd,
			   const char *session)
{
	char **argv = xcalloc(12, sizeof(*argv)), line[CONTROL_MAX + 1];
	int n = 0;

	argv[n++] = xstrdup(d->cli_path);
	argv[n++] = xstrdup("--store");
	argv[n++] = xstrdup(store_path(d->store));
	argv[n++] = xstrdup("--index");
	argv[n++] = xstrdup(d->index_path);
	if (d->config_path) {
		argv[n++] = xstrdup("--config");
		argv[n++] = xstrdup(d->config_path);
	}
	argv[n++] = xstrdup("control");
	argv[n++] = xstrdup(session);
	/* a parsed command is shorter than the write it came from */
	if (control_format(cmd, line, sizeof(line)) < 0)
		line[0] = '\0';
	argv[n++] = xstrdup(line);
	return argv;
}

static void free_argv(char **argv)
{
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

static int start_operation(struct fsd *d, struct idx *idx,
			   int64_t session_id, const char *session,
			   const struct control_cmd *cmd, char *why,
			   size_t whylen)
{
	char **argv = command_argv(d, cmd, session);
	struct child_opts o = { .argv = argv, .envp = child_default_env, .own_group = true };
	struct run_info busy;
	struct reaped *r;
	char *name = journal_log_name();
	int metafd = open_meta(d, session, true);
	pthread_t tid;
	int64_t run_id;
	pid_t pid;

	o.out_fd = metafd < 0 ? -1
			      : openat(metafd, name,
				       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
				       0644);
	if (metafd >= 0)
		close(metafd);
	free(name);
	if (o.out_fd < 0) {
		snprintf(why, whylen, "cannot open the log of '%s': %s",
			 session, strerror(errno));
		free_argv(argv);
		return -EIO;
	}
	pid = child_start(&o);
	close(o.out_fd);
	free_argv(argv);
	if (pid < 0) {
		snprintf(why, whylen, "cannot start '%s': %s", d->cli_path,
			 strerror(errno));
		return -EIO;
	}
	run_id = runs_begin(idx, session_id, control_op_name(cmd->op), pid,
			    cmd->window[0] ? cmd->window : NULL, &busy);
	r = xcalloc(1, sizeof(*r));
	r->d = d;
	r->pid = pid;
	r->run_id = run_id;
	conn_file(d, &r->index_dev, &r->index_ino);
	snprintf(r->session, sizeof(r->session), "%s", session);
	snprintf(r->op, sizeof(r->op), "%s", control_op_name(cmd->op));
	atomic_fetch_add(&d->children, 1);
	if (pthread_create(&tid, NULL, reaper_main, r) != 0) {
		/* cannot wait for it: it will be a zombie, but runs */
		atomic_fetch_sub(&d->children, 1);
		free(r);
	} else {
		pthread_detach(tid);
	}
	session_log(d, session, "started %s (pid %d)",
		    control_op_name(cmd->op), (int)pid);
	return 0;
}

/* pause, resume and cancel reach a running operation by signal */
static int steer(struct fsd *d, struct idx *idx, int64_t session_id,
		 const char *session, const struct control_cmd *cmd,
		 char *why, size_t whylen)
{
	enum runs_steer how = cmd->op == CONTROL_CANCEL ? RUNS_CANCEL
			      : cmd->op == CONTROL_PAUSE ? RUNS_PAUSE
							 : RUNS_RESUME;
	struct run_info run;
	char reason[512];
	int rc = runs_steer(idx, session_id, session, how, &run, reason,
			    sizeof(reason));

	if (rc < 0) {
		snprintf(why, whylen, "%s: %s", control_op_name(cmd->op),
			 reason);
		return rc;
	}
	session_log(d, session, "%s sent to %s (pid %d)",
		    control_op_name(cmd->op), run.operation, (int)run.pid);
	return 0;
}

int fsd_control(struct fsd *d, const char *session, const char *buf,
		size_t len)
{
	struct control_cmd cmd;
	struct run_info busy;
	struct idx *idx = fsd_idx(d);
	char why[1024], quoted[128], reason[4 * sizeof(why)];
	bool parsed = false;
	unsigned long untold;
	int64_t session_id;
	int rc, gate;

	if (!idx)
		return -EIO;
	session_id = idx_session_find(idx, session);
	if (session_id <= 0)
		return session_id == 0 ? -ENOENT : -EIO;
	quote_command(buf, len, quoted, sizeof(quoted));
	if (control_parse(buf, len, &cmd, why, sizeof(why)) < 0) {
		rc = -EINVAL;
		goto out_refused;
	}
	parsed = true;
	pthread_mutex_lock(&d->lock);
	if (cmd.op == CONTROL_PAUSE || cmd.op == CONTROL_RESUME ||
	    cmd.op == CONTROL_CANCEL) {
		rc = steer(d, idx, session_id, session, &cmd, why,
			   sizeof(why));
		pthread_mutex_unlock(&d->lock);
		if (rc < 0)
			goto out_refused;
		return 0;
	}
	rc = runs_active(idx, session_id, &busy);
	if (rc != 0) {
		pthread_mutex_unlock(&d->lock);
		if (rc < 0) {
			snprintf(why, sizeof(why), "cannot read the index");
			rc = -EIO;
		} else {
			snprintf(why, sizeof(why),
				 "%s refused: %s is already running on '%s' "
				 "(pid %d)",
				 control_op_name(cmd.op), busy.operation,
				 session, (int)busy.pid);
			rc = -EBUSY;
		}
		goto out_refused;
	}
	if (cmd.op == CONTROL_PURGE &&
	    (gate = gate_purge(idx, session_id, cmd.side, cmd.mode, why,
			       sizeof(why))) != 0) {
		pthread_mutex_unlock(&d->lock);
		rc = gate < 0 ? -EIO : -EPERM;
		goto out_refused;
	}
	if (!d->cli_path) {
		pthread_mutex_unlock(&d->lock);
		snprintf(why, sizeof(why),
			 "cannot find the sessionarchiver program next to "
			 "sessionarchiverfs or in %s",
			 SA_BINDIR);
		rc = -EIO;
		goto out_refused;
	}
	rc = start_operation(d, idx, session_id, session, &cmd, why,
			     sizeof(why));
	pthread_mutex_unlock(&d->lock);
	if (rc < 0)
		goto out_refused;
	return 0;

out_refused:
	/* the index hands it to JSON, which refuses anything but UTF-8 */
	printable_copy(why, strlen(why), 0, reason, sizeof(reason));
	if (refusal_admit(d, session, &untold)) {
		char *msg = xasprintf("control '%s' refused: %s", quoted,
				      reason);

		tell_untold(d, session, untold);
		log_line(d, session, msg);
		free(msg);
	}
	/* a write that does not parse names no operation */
	if (runs_refused(idx, session_id,
			 parsed ? control_op_name(cmd.op) : "control",
			 reason) < 0)
		log_warn("cannot record the refusal in the index");
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Appends at most the last `tail` bytes of dirfd/name to sb, or only
 * counts them into *size when sb is NULL (getattr needs no content).
 */
static void add_file_tail(struct strbuf *sb, size_t *size, int dirfd,
			  const char *name, size_t tail)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char buf[65536];
	off_t pos;
	ssize_t n;

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0) {
		pos = st.st_size > (off_t)tail ? st.st_size - (off_t)tail : 0;
		if (!sb)
			*size += (size_t)(st.st_size - pos);
		while (sb && (n = pread(fd, buf, sizeof(buf), pos)) > 0) {
			sb_add(sb, buf, (size_t)n);
			pos += n;
		}
	}
	close(fd);
}

/* The log files of the session, in sb or counted into *size. */
static void collect_log(struct fsd *d, const char *session, struct strbuf *sb,
			size_t *size)
{
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	DIR *dir;
	int fd;

	fd = open_meta(d, session, false);
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		size_t l = strlen(de->d_name);

		if (strncmp(de->d_name, "log-", 4) == 0 && l > 8 &&
		    strcmp(de->d_name + l - 4, ".txt") == 0) {
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	}
	/* no log yet: names is NULL, which qsort must not be given */
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (n > 1 && sb)
			sb_printf(sb, "== %s ==\n", names[i]);
		else if (n > 1)
			*size += strlen(names[i]) + strlen("==  ==\n");
		add_file_tail(sb, size, dirfd(dir), names[i], LOG_TAIL);
		free(names[i]);
	}
	free(names);
	closedir(dir);
}

char *fsd_read_log(struct fsd *d, const char *session, size_t *len)
{
	struct strbuf sb;

	/* whoever reads the log learns of every refusal so far */
	tell_untold(d, session, refusals_untold(d, session));
	sb_init(&sb, 0);
	collect_log(d, session, &sb, NULL);
	return sb_detach(&sb, len);
}

size_t fsd_log_size(struct fsd *d, const char *session)
{
	size_t size = 0;

	/* as fsd_read_log() will: the size stays that of the text */
	tell_untold(d, session, refusals_untold(d, session));
	collect_log(d, session, NULL, &size);
	return size;
}

char *fsd_read_session_text(struct fsd *d, const char *session,
			    const char *name, const char *fallback,
			    size_t *len)
{
	struct strbuf sb;
	int fd = open_meta(d, session, false);

	sb_init(&sb, 0);
	if (fd >= 0) {
		add_file_tail(&sb, NULL, fd, name, LOG_TAIL);
		close(fd);
	}
	if (sb.len == 0)
		sb_adds(&sb, fallback);
	return sb_detach(&sb, len);
}
