/*
 * The session lease (see lease.h): taking it, its heartbeat thread,
 * taking over a silent holder, releasing it.
 */
#include "lease.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#define LEASE_MAX 4096
#define TAKEOVER_FILE ".lease-takeover"

struct lease {
	int metafd; /* our own dup: the caller may close theirs */
	char *host, *operation, token[33];
	int64_t started;
	unsigned interval;
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
				       : log_err("cannot read the lease: %s",
						 strerror(errno));
	n = read(fd, buf, sizeof(buf));
	if (n < 0 || fstat(fd, &sb) < 0) {
		int saved = errno;

		close(fd);
		return log_err("cannot read the lease: %s", strerror(saved));
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

static char *lease_text(const struct lease *l)
{
	json_t *j = json_pack("{s:i, s:s, s:I, s:s, s:I, s:I, s:s}", "v", 1,
			      "host", l->host, "pid", (json_int_t)getpid(),
			      "operation", l->operation, "started",
			      (json_int_t)l->started, "heartbeat",
			      (json_int_t)time(NULL), "token", l->token);
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(j);
	return text;
}

/* O_EXCL: fails with EEXIST when someone holds it. */
static int create_lease(struct lease *l)
{
	char *text = lease_text(l);
	size_t len = strlen(text);
	int fd, rc = 0;

	fd = openat(l->metafd, LEASE_FILE,
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

		unlinkat(l->metafd, LEASE_FILE, 0);
		errno = saved;
	}
	free(text);
	return rc;
}

static bool pid_alive(int64_t pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static bool holder_silent(const struct lease *l, const struct lease_holder *h,
			  unsigned grace)
{
	if (h->token && strcmp(h->host, l->host) == 0 && !pid_alive(h->pid))
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

	fd = openat(l->metafd, TAKEOVER_FILE,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno != EEXIST)
		return -1;
	if (fd < 0) {
		/* a contender that died while taking over left it */
		if (fstatat(l->metafd, TAKEOVER_FILE, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
		    time(NULL) - sb.st_mtim.tv_sec > (int64_t)grace) {
			unlinkat(l->metafd, TAKEOVER_FILE, 0);
			return 2;
		}
		return 1;
	}
	close(fd);
	same = read_holder(l->metafd, LEASE_FILE, &now) == 0 &&
	       (seen->token ? now.token && !strcmp(seen->token, now.token)
			    : !now.token);
	lease_holder_release(&now);
	rc = 2;
	if (same) {
		text = lease_text(l);
		rc = store_write_atomic(l->metafd, LEASE_FILE, text,
					strlen(text), 0644) < 0
			     ? -1
			     : 0;
		free(text);
	}
	unlinkat(l->metafd, TAKEOVER_FILE, 0);
	return rc;
}

/* Is the lease file still ours? Refreshes it when it is. */
static bool heartbeat(struct lease *l)
{
	struct lease_holder h;
	bool ours;
	char *text;

	if (lease_read(l->metafd, &h) != 0)
		return true; /* unreadable now: say so next time, not die */
	ours = h.token && strcmp(h.token, l->token) == 0;
	if (!ours) {
		log_err("the session lease was taken over by host %s (pid "
			"%lld, %s): stopping this %s",
			h.host, (long long)h.pid, h.operation, l->operation);
		lease_holder_release(&h);
		return false;
	}
	lease_holder_release(&h);
	text = lease_text(l);
	if (store_write_atomic(l->metafd, LEASE_FILE, text, strlen(text),
			       0644) < 0)
		log_warn("cannot refresh the session lease: %s",
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
	free(l->host);
	free(l->operation);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->wake);
	free(l);
}

struct lease *lease_take(int metafd, const char *host, const char *operation,
			 unsigned grace, enum lease_result *res,
			 struct lease_holder *other)
{
	struct lease *l = xcalloc(1, sizeof(*l));
	unsigned char rnd[16];
	bool took_over = false;

	memset(other, 0, sizeof(*other));
	*res = LEASE_ERROR;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->wake, NULL);
	l->metafd = fcntl(metafd, F_DUPFD_CLOEXEC, 0);
	l->host = xstrdup(host);
	l->operation = xstrdup(operation);
	l->started = time(NULL);
	l->interval = grace / 6 ? grace / 6 : 1;
	if (l->metafd < 0 || getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		log_err("cannot take the session lease: %s", strerror(errno));
		goto out_free;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(l->token + 2 * i, 3, "%02x", rnd[i]);
	for (int tries = 0;; tries++) {
		int rc;

		if (create_lease(l) == 0)
			break;
		if (errno != EEXIST || tries == 20) {
			log_err("cannot write the session lease: %s",
				strerror(errno));
			goto out_free;
		}
		lease_holder_release(other);
		rc = lease_read(l->metafd, other);
		if (rc < 0)
			goto out_free;
		if (rc == 1)
			continue; /* released meanwhile */
		if (!holder_silent(l, other, grace)) {
			*res = LEASE_BUSY;
			goto out_free;
		}
		rc = take_over(l, other, grace);
		if (rc < 0) {
			log_err("cannot take the session lease over: %s",
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
		unlinkat(l->metafd, LEASE_FILE, 0);
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

void lease_release(struct lease *l)
{
	struct lease_holder h;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	if (lease_read(l->metafd, &h) == 0 && h.token &&
	    strcmp(h.token, l->token) == 0)
		unlinkat(l->metafd, LEASE_FILE, 0);
	lease_holder_release(&h);
	lease_free(l);
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
		if (metafd >= 0)
			close(metafd);
		json_object_set_new(session, "lease", lease ? lease : json_null());
	}
}
