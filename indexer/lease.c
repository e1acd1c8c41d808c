/*
 * Leases (see lease.h): taking one, its heartbeat thread, taking over a
 * silent holder, finishing or releasing it. The session lease, the course
 * claims and the shared-archive members are all this one mechanism on
 * different files.
 */
#include "lease.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#define LEASE_MAX 4096
#define TAKEOVER_FILE ".lease-takeover"
/*
 * status cannot know each host's [store] lease_grace: a member is shown
 * until its heartbeat is older than the default one.
 */
#define LEASE_REPORT_GRACE 300

struct lease {
	int metafd; /* our own dup of the folder: the caller may close theirs */
	char *name, *takeover; /* the lease file and its takeover lock */
	char *host, *operation, token[33];
	int64_t started;
	unsigned interval;
	bool signal_on_loss; /* the session lease stops its process */
	atomic_bool lost;
	json_t *detail; /* more fields of the file, under lock */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
};

void lease_holder_release(struct lease_holder *h)
{
	free(h->host);
	free(h->operation);
	free(h->token);
	free(h->state);
	json_decref(h->fields);
	memset(h, 0, sizeof(*h));
}

static int read_holder(int metafd, const char *name, struct lease_holder *out)
{
	char buf[LEASE_MAX];
	struct stat sb;
	json_t *j;
	ssize_t n;
	int fd;

	memset(out, 0, sizeof(*out));
	fd = openat(metafd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1
				       : log_err("cannot read the lease '%s': "
						 "%s",
						 name, strerror(errno));
	n = read(fd, buf, sizeof(buf));
	if (n < 0 || fstat(fd, &sb) < 0) {
		int saved = errno;

		close(fd);
		return log_err("cannot read the lease '%s': %s", name,
			       strerror(saved));
	}
	close(fd);
	j = json_loadb(buf, (size_t)n, 0, NULL);
	out->host = xstrdup(json_is_object(j) && journal_str(j, "host")
				    ? journal_str(j, "host")
				    : "(unknown)");
	out->operation = xstrdup(json_is_object(j) &&
						 journal_str(j, "operation")
					 ? journal_str(j, "operation")
					 : "(unknown)");
	if (json_is_object(j) && journal_str(j, "token")) {
		out->token = xstrdup(journal_str(j, "token"));
		out->pid = journal_int(j, "pid", 0);
		out->started = journal_int(j, "started", 0);
		out->heartbeat = journal_int(j, "heartbeat", 0);
		if (journal_str(j, "state"))
			out->state = xstrdup(journal_str(j, "state"));
		out->fields = json_incref(j);
	} else {
		/* being written, or its writer died before it could: the
		   file's age stands for the heartbeat */
		out->started = out->heartbeat = sb.st_mtim.tv_sec;
	}
	json_decref(j);
	return 0;
}

int lease_read(int metafd, struct lease_holder *out)
{
	return read_holder(metafd, LEASE_FILE, out);
}

/* The file's text; state non-NULL for a finished claim. */
static char *lease_text(struct lease *l, const char *state)
{
	json_t *j = json_pack("{s:i, s:s, s:I, s:s, s:I, s:I, s:s}", "v", 1,
			      "host", l->host, "pid", (json_int_t)getpid(),
			      "operation", l->operation, "started",
			      (json_int_t)l->started, "heartbeat",
			      (json_int_t)time(NULL), "token", l->token);
	char *text;

	pthread_mutex_lock(&l->lock);
	if (l->detail)
		json_object_update_missing(j, l->detail);
	pthread_mutex_unlock(&l->lock);
	if (state)
		json_object_set_new(j, "state", json_string(state));
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	return text;
}

/* O_EXCL: fails with EEXIST when someone holds it. */
static int create_lease(struct lease *l)
{
	char *text = lease_text(l, NULL);
	size_t len = strlen(text);
	int fd, rc = 0;

	fd = openat(l->metafd, l->name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(text);
		return -1;
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		rc = -1;
	if (close(fd) < 0)
		rc = -1;
	if (rc < 0) {
		int saved = errno;

		unlinkat(l->metafd, l->name, 0);
		errno = saved;
	}
	free(text);
	return rc;
}

static bool pid_alive(int64_t pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static bool silent(const struct lease_holder *h, const char *host,
		   unsigned grace)
{
	/* a finished claim is an outcome, not a holder that may die */
	if (h->state)
		return false;
	if (h->token && strcmp(h->host, host) == 0 && !pid_alive(h->pid))
		return true;
	return time(NULL) - h->heartbeat > (int64_t)grace;
}

/*
 * Replaces a silent holder's lease with ours. One contender at a time, by
 * an O_EXCL takeover file, so that of several hosts finding the same
 * silent holder exactly one takes it; ours is renamed over the old one,
 * so that the lease file never goes missing meanwhile (a newcomer's
 * O_EXCL would win that gap). 0 when ours, 1 when another contender is at
 * it (busy), 2 to look again, -1 (errno).
 */
static int take_over(struct lease *l, const struct lease_holder *seen,
		     unsigned grace)
{
	struct lease_holder now;
	struct stat sb;
	bool same;
	char *text;
	int fd, rc;

	fd = openat(l->metafd, l->takeover,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno != EEXIST)
		return -1;
	if (fd < 0) {
		/* a contender that died while taking over left it */
		if (fstatat(l->metafd, l->takeover, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
		    time(NULL) - sb.st_mtim.tv_sec > (int64_t)grace) {
			unlinkat(l->metafd, l->takeover, 0);
			return 2;
		}
		return 1;
	}
	close(fd);
	same = read_holder(l->metafd, l->name, &now) == 0 &&
	       (seen->token ? now.token && !strcmp(seen->token, now.token)
			    : !now.token);
	lease_holder_release(&now);
	rc = 2;
	if (same) {
		text = lease_text(l, NULL);
		rc = store_write_atomic(l->metafd, l->name, text,
					strlen(text), 0644) < 0
			     ? -1
			     : 0;
		free(text);
	}
	unlinkat(l->metafd, l->takeover, 0);
	return rc;
}

/*
 * Is the lease file still ours? 1 yes, 0 taken over or gone (logged, and
 * remembered: a lost lease is never ours again), -1 unreadable now.
 */
static int still_ours(struct lease *l)
{
	struct lease_holder h;
	int rc;

	if (atomic_load(&l->lost))
		return 0;
	rc = read_holder(l->metafd, l->name, &h);
	if (rc < 0)
		return -1;
	if (rc == 0 && h.token && strcmp(h.token, l->token) == 0) {
		lease_holder_release(&h);
		return 1;
	}
	if (rc == 1 && !h.host)
		log_err("the lease '%s' of this %s is gone (removed by another "
			"host that judged it silent?): stopping it",
			l->name, l->operation);
	else
		log_err("the lease '%s' was taken over by host %s (pid %lld, "
			"%s): stopping this %s",
			l->name, h.host, (long long)h.pid, h.operation,
			l->operation);
	lease_holder_release(&h);
	atomic_store(&l->lost, true);
	return 0;
}

/* Writes the file anew if it is still ours; false when lost. */
static bool heartbeat(struct lease *l)
{
	char *text;
	int ours = still_ours(l);

	if (ours < 0)
		return true; /* unreadable now: say so next time, not die */
	if (!ours)
		return false;
	text = lease_text(l, NULL);
	if (store_write_atomic(l->metafd, l->name, text, strlen(text), 0644) <
	    0)
		log_warn("cannot refresh the lease '%s': %s", l->name,
			 strerror(errno));
	free(text);
	return true;
}

static void *heartbeat_thread(void *arg)
{
	struct lease *l = arg;
	struct timespec at;

	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += l->interval;
		if (pthread_cond_timedwait(&l->wake, &l->lock, &at) !=
			    ETIMEDOUT ||
		    l->stop)
			continue;
		pthread_mutex_unlock(&l->lock);
		if (!heartbeat(l)) {
			if (l->signal_on_loss)
				kill(getpid(), SIGTERM);
			return NULL;
		}
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static void lease_free(struct lease *l)
{
	if (l->metafd >= 0)
		close(l->metafd);
	free(l->name);
	free(l->takeover);
	json_decref(l->detail);
	free(l->host);
	free(l->operation);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->wake);
	free(l);
}

static struct lease *acquire(int metafd, const char *name,
			     const char *takeover, bool signal_on_loss,
			     const char *host, const char *operation,
			     unsigned grace, json_t *detail,
			     enum lease_result *res, struct lease_holder *other)
{
	struct lease *l = xcalloc(1, sizeof(*l));
	unsigned char rnd[16];
	bool took_over = false;

	memset(other, 0, sizeof(*other));
	*res = LEASE_ERROR;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->wake, NULL);
	l->metafd = fcntl(metafd, F_DUPFD_CLOEXEC, 0);
	l->name = xstrdup(name);
	l->takeover = xstrdup(takeover);
	l->signal_on_loss = signal_on_loss;
	l->detail = detail;
	l->host = xstrdup(host);
	l->operation = xstrdup(operation);
	l->started = time(NULL);
	l->interval = grace / 6 ? grace / 6 : 1;
	if (l->metafd < 0 || getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		log_err("cannot take the lease '%s': %s", name,
			strerror(errno));
		goto out_free;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(l->token + 2 * i, 3, "%02x", rnd[i]);
	for (int tries = 0;; tries++) {
		int rc;

		if (create_lease(l) == 0)
			break;
		if (errno != EEXIST || tries == 20) {
			log_err("cannot write the lease '%s': %s", name,
				strerror(errno));
			goto out_free;
		}
		lease_holder_release(other);
		rc = read_holder(l->metafd, l->name, other);
		if (rc < 0)
			goto out_free;
		if (rc == 1)
			continue; /* released meanwhile */
		if (!silent(other, l->host, grace)) {
			*res = LEASE_BUSY;
			goto out_free;
		}
		rc = take_over(l, other, grace);
		if (rc < 0) {
			log_err("cannot take the lease '%s' over: %s", name,
				strerror(errno));
			goto out_free;
		}
		if (rc == 0) {
			took_over = true;
			break;
		}
		if (rc == 1) {
			*res = LEASE_BUSY;
			goto out_free;
		}
	}
	if (pthread_create(&l->thread, NULL, heartbeat_thread, l) != 0) {
		unlinkat(l->metafd, l->name, 0);
		log_err("cannot start the lease heartbeat");
		goto out_free;
	}
	*res = took_over ? LEASE_TAKEN_OVER : LEASE_TAKEN;
	if (!took_over)
		lease_holder_release(other);
	return l;

out_free:
	if (*res != LEASE_BUSY)
		lease_holder_release(other);
	lease_free(l);
	return NULL;
}

struct lease *lease_take(int metafd, const char *host, const char *operation,
			 unsigned grace, enum lease_result *res,
			 struct lease_holder *other)
{
	return acquire(metafd, LEASE_FILE, TAKEOVER_FILE, true, host,
		       operation, grace, NULL, res, other);
}

struct lease *lease_claim(int dirfd, const char *name, const char *host,
			  const char *operation, unsigned grace,
			  json_t *detail, bool signal_on_loss,
			  enum lease_result *res, struct lease_holder *other)
{
	char *takeover = xasprintf(".%s.takeover", name);
	struct lease *l = acquire(dirfd, name, takeover, signal_on_loss, host,
				  operation, grace, detail, res, other);

	free(takeover);
	return l;
}

bool lease_held(struct lease *l)
{
	return still_ours(l) != 0;
}

int lease_set_detail(struct lease *l, json_t *detail)
{
	char *text;
	int rc;

	pthread_mutex_lock(&l->lock);
	json_decref(l->detail);
	l->detail = detail;
	pthread_mutex_unlock(&l->lock);
	if (still_ours(l) == 0)
		return -1;
	text = lease_text(l, NULL);
	rc = store_write_atomic(l->metafd, l->name, text, strlen(text), 0644);
	free(text);
	return rc;
}

static void stop_heartbeat(struct lease *l)
{
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
}

int lease_finish(struct lease *l, const char *state)
{
	char *text;
	int rc = -1;

	stop_heartbeat(l);
	if (still_ours(l) > 0) {
		text = lease_text(l, state);
		rc = store_write_atomic(l->metafd, l->name, text,
					strlen(text), 0644);
		if (rc < 0)
			log_warn("cannot write the outcome into '%s': %s",
				 l->name, strerror(errno));
		free(text);
	}
	lease_free(l);
	return rc;
}

void lease_release(struct lease *l)
{
	if (!l)
		return;
	stop_heartbeat(l);
	if (still_ours(l) > 0)
		unlinkat(l->metafd, l->name, 0);
	lease_free(l);
}

int lease_list(int dirfd, const char *host, unsigned grace,
	       struct lease_holder **out, size_t *n)
{
	/* its own fd: a dup would share (and move) the caller's offset */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *dir;

	*out = NULL;
	*n = 0;
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return log_err("cannot list leases: %s", strerror(errno));
	}
	while ((de = readdir(dir))) {
		struct lease_holder h;
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".json") != 0 ||
		    read_holder(dirfd, de->d_name, &h) != 0)
			continue;
		if (!h.token || h.state || silent(&h, host, grace)) {
			lease_holder_release(&h);
			continue;
		}
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = h;
	}
	closedir(dir);
	return 0;
}

/* The live members of a shared archive, with their counts. */
static json_t *members_json(int metafd)
{
	int fd = metafd < 0 ? -1
			    : openat(metafd, LEASE_MEMBERS_DIR,
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	json_t *out = json_array();
	struct lease_holder *live;
	size_t n;

	/* no local pid is judged here: the mount is on another host too */
	if (fd < 0 || lease_list(fd, "", LEASE_REPORT_GRACE, &live, &n) < 0) {
		if (fd >= 0)
			close(fd);
		return out;
	}
	close(fd);
	for (size_t i = 0; i < n; i++) {
		json_t *f = live[i].fields;

		json_array_append_new(
			out,
			json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "host",
				  live[i].host, "pid", (json_int_t)live[i].pid,
				  "heartbeat", (json_int_t)live[i].heartbeat,
				  "done", (json_int_t)journal_int(f, "done", 0),
				  "failed",
				  (json_int_t)journal_int(f, "failed", 0),
				  "elsewhere",
				  (json_int_t)journal_int(f, "elsewhere", 0),
				  "left",
				  (json_int_t)journal_int(f, "left", 0)));
		lease_holder_release(&live[i]);
	}
	free(live);
	return out;
}

void lease_report(int storefd, json_t *status)
{
	json_t *session;
	size_t i;

	json_array_foreach(json_object_get(status, "sessions"), i, session) {
		const char *name = json_string_value(
			json_object_get(session, "session"));
		int metafd = name ? journal_open_meta(storefd, name) : -1;
		struct lease_holder h;
		json_t *lease = json_null();

		if (metafd >= 0 && lease_read(metafd, &h) == 0) {
			lease = json_pack("{s:s, s:I, s:s, s:I, s:I}", "host",
					  h.token ? h.host : "(unreadable)",
					  "pid", (json_int_t)h.pid, "operation",
					  h.operation, "started",
					  (json_int_t)h.started, "heartbeat",
					  (json_int_t)h.heartbeat);
			lease_holder_release(&h);
		}
		json_object_set_new(session, "lease", lease ? lease : json_null());
		json_object_set_new(session, "members", members_json(metafd));
		if (metafd >= 0)
			close(metafd);
	}
}
