/*
 * The run loop. Worker threads only run courses and report; the calling
 * thread owns all shared state and is the only one that receives the
 * control signals (workers block them). Signal handlers only set flags;
 * the loop looks at them at least every 200 ms.
 */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "notify.h"
#include "printable.h"
#include "progress.h"
#include "runs.h"
#include "strbuf.h"
#include "xalloc.h"

static volatile sig_atomic_t want_pause, want_resume, want_cancel;

/*
 * The window's clock. SA_NOW=<unix time> (tests, as op_archive.c reads it
 * for --auto) sets the instant the loop starts at; from there it runs at
 * the real pace, so that a window can also close during a run.
 */
time_t engine_now(void)
{
	static time_t offset;
	static bool read_env;
	const char *fake;
	unsigned long long v;

	if (!read_env) {
		read_env = true;
		fake = getenv("SA_NOW");
		if (fake && config_parse_uint(fake, 0, INT64_MAX, &v) == 0)
			offset = (time_t)v - time(NULL);
	}
	return time(NULL) + offset;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_pause = 1;
	else if (sig == SIGUSR2)
		want_resume = 1;
	else
		want_cancel = 1;
}

struct slot {
	struct engine_item *item;
	struct engine_job job;
	enum engine_outcome outcome;
	char err[1024];
	bool busy;     /* a thread runs it */
	bool finished; /* the thread reported */
	pthread_t tid;
	/* courses finished before this one started: see outages_in_row */
	unsigned long finished_before;
};

struct loop {
	const struct engine_config *cfg;
	const struct engine_ops *ops;
	void *ctx;
	struct slot *slots;
	pthread_mutex_t lock; /* guards the slots' busy/finished flags */
	pthread_cond_t cond;  /* a slot finished */
	size_t running;
};

/*
 * The courses to start: the items in order, then those another host had
 * when their turn came (ENGINE_DEFERRED), looked at again at most once a
 * second until that host ends them or is found dead.
 */
struct queue {
	struct engine_item *items;
	size_t n, next;
	struct engine_item **again, **later;
	size_t n_again, again_next, n_later;
	time_t retry_at;
};

static size_t queue_left(const struct queue *q)
{
	return q->n - q->next + q->n_again - q->again_next + q->n_later;
}

static struct engine_item *queue_next(struct queue *q, time_t now)
{
	if (q->next < q->n)
		return &q->items[q->next];
	if (q->again_next == q->n_again && q->n_later && now >= q->retry_at) {
		struct engine_item **swap = q->again;

		q->again = q->later;
		q->n_again = q->n_later;
		q->again_next = 0;
		q->later = swap;
		q->n_later = 0;
		q->retry_at = now + 1;
	}
	return q->again_next < q->n_again ? q->again[q->again_next] : NULL;
}

static void queue_pop(struct queue *q)
{
	if (q->next < q->n)
		q->next++;
	else
		q->again_next++;
}

struct worker_arg {
	struct loop *l;
	struct slot *s;
};

static void *worker_main(void *arg)
{
	struct worker_arg *w = arg;
	struct slot *s = w->s;
	struct loop *l = w->l;

	free(w);
	s->outcome = l->ops->run(l->ctx, s->item, &s->job, s->err,
				 sizeof(s->err));
	pthread_mutex_lock(&l->lock);
	s->finished = true;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

void engine_kill_job(struct engine_job *job, int sig)
{
	pid_t pid = atomic_load(&job->pid);

	if (pid > 0) {
		kill(-pid, sig);
		kill(pid, sig);
	}
}

static int start_slot(struct loop *l, struct slot *s, struct engine_item *it)
{
	struct worker_arg *w = xmalloc(sizeof(*w));
	sigset_t block, old;
	int rc;

	memset(s, 0, sizeof(*s));
	s->item = it;
	s->busy = true;
	w->l = l;
	w->s = s;
	/* workers never see the control signals: the loop handles them */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(&s->tid, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		free(w);
		s->busy = false;
		return log_err("cannot start a worker thread: %s",
			       strerror(rc));
	}
	l->running++;
	return 0;
}

void engine_log_summary(const struct engine_config *cfg,
			const struct engine_result *res)
{
	char outages[64] = "";

	char elsewhere[64] = "";

	if (res->outages)
		snprintf(outages, sizeof(outages),
			 "%lld pending after an outage, ",
			 (long long)res->outages);
	if (res->elsewhere)
		snprintf(elsewhere, sizeof(elsewhere),
			 ", %lld done by other hosts",
			 (long long)res->elsewhere);
	log_msg(LOG_NOTICE,
		"%s of %s: %lld done, %lld failed, %lld aborted, %s%lld not "
		"started%s",
		cfg->operation, cfg->session, (long long)res->done,
		(long long)res->failed, (long long)res->aborted, outages,
		(long long)res->not_started, elsewhere);
}

static void abort_running(struct loop *l, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct slot *s = &l->slots[i];

		if (!s->busy || s->finished)
			continue;
		atomic_store(&s->job.abort, true);
		engine_kill_job(&s->job, SIGTERM);
	}
}

/* After outages in a row: stop the run, so the rest stays pending. */
static void stop_if_down(const struct engine_config *cfg,
			 struct engine_result *res, const struct slot *s,
			 unsigned in_row)
{
	if (!cfg->stop_after || in_row < cfg->stop_after ||
	    res->stopped_by != ENGINE_DONE || res->cancelled)
		return;
	res->stopped_by = s->outcome;
	snprintf(res->stop_reason, sizeof(res->stop_reason), "%s", s->err);
	log_err("%s of %s: stopping after %u courses in a row could not be "
		"done: %s; the courses not done stay pending",
		cfg->operation, cfg->session, in_row, s->err);
}

static char *current_labels(struct loop *l, unsigned n)
{
	struct strbuf sb;

	sb_init(&sb, 512);
	for (unsigned i = 0; i < n; i++) {
		if (!l->slots[i].busy)
			continue;
		if (sb.len)
			sb_adds(&sb, ", ");
		if (sb_adds(&sb, l->slots[i].item->label) < 0)
			break;
	}
	if (sb.len == 0) {
		sb_release(&sb);
		return NULL;
	}
	return sb_detach(&sb, NULL);
}

static bool any_finished(const struct loop *l, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (l->slots[i].busy && l->slots[i].finished)
			return true;
	return false;
}

static void timed_wait(struct loop *l, int ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)ms * 1000000;
	until.tv_sec += until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;
	pthread_cond_timedwait(&l->cond, &l->lock, &until);
}

static void set_state(const struct engine_config *cfg, const char *state)
{
	if (cfg->idx && cfg->run_id > 0)
		runs_set_state(cfg->idx, cfg->run_id, state);
}

/*
 * A line of the end mail's list of failed courses. The shortname and the
 * error come from Moodle: escaped, so that neither can write to the
 * reader's terminal or split the line. The list is capped: a line that
 * does not fit is left out whole.
 */
static void add_failure(struct strbuf *failures,
			const struct engine_item *it, const char *err)
{
	struct strbuf line;

	sb_init(&line, 0);
	sb_adds(&line, "  ");
	printable_add(&line, it->label ? it->label : "-", 0);
	sb_printf(&line, " (id %lld): ", (long long)it->id);
	printable_add(&line, err, 0);
	sb_addch(&line, '\n');
	sb_add(failures, line.buf, line.len);
	sb_release(&line);
}

static void end_mail(struct notify *nt, const struct engine_config *cfg,
		     const struct engine_result *res, const char *failures)
{
	char *body, *stop = NULL, what[64];

	snprintf(what, sizeof(what), "%s",
		 res->cancelled       ? "cancelled"
		 : res->stopped_by == ENGINE_PLATFORM_DOWN
			 ? "stopped: Moodle cannot be reached"
		 : res->stopped_by == ENGINE_STORE_DOWN
			 ? "stopped: the store is full or cannot be written"
		 : res->window_closed ? "stopped at the end of the window"
		 : res->failed        ? "finished with failures"
				      : "finished");
	if (res->stopped_by != ENGINE_DONE) {
		char *why = printable_dup(res->stop_reason, 0);

		stop = xasprintf("\nStopped after %u courses in a row could "
				 "not be done: %s\nThe courses not done stay "
				 "pending: the next run does them.\n",
				 cfg->stop_after, why);
		free(why);
	}
	body = xasprintf("%s of session %s: %lld done, %lld failed, %lld "
			 "aborted, %lld pending (outage), %lld not "
			 "started.\n%s%s%s",
			 cfg->operation, cfg->session, (long long)res->done,
			 (long long)res->failed, (long long)res->aborted,
			 (long long)res->outages, (long long)res->not_started,
			 stop ? stop : "",
			 failures[0] ? "\nFailed courses:\n" : "", failures);
	free(stop);
	notify_send(nt, what, body);
	free(body);
}

int engine_run(const struct engine_config *cfg, struct engine_item *items,
	       size_t n, const struct engine_ops *ops, void *ctx,
	       struct engine_result *res)
{
	struct sigaction sa = { .sa_handler = on_signal }, old[5];
	static const int sigs[5] = { SIGUSR1, SIGUSR2, SIGTERM, SIGINT,
				     SIGHUP };
	unsigned parallel = cfg->parallel ? cfg->parallel : 1;
	struct loop l = { .cfg = cfg, .ops = ops, .ctx = ctx };
	struct run_counters rc = { .total = (int64_t)n };
	struct progress *bar;
	struct notify nt;
	struct strbuf failures;
	char last_err[1024];
	bool paused = false, waiting = false, closing = false;
	/*
	 * A course done after an outage ends the streak only if it started
	 * after that outage was seen: one that was nearly done when the
	 * database went down says nothing about the database now.
	 */
	unsigned outages_in_row = 0;
	unsigned long finished = 0, last_outage = 0;
	bool stopping = false;
	struct queue q = { .items = items, .n = n };
	struct engine_item *it;
	time_t last_update = 0;

	memset(res, 0, sizeof(*res));
	if (cfg->window && cfg->no_wait &&
	    !config_window_contains(cfg->window, engine_now())) {
		/* cron tries again every few minutes: no mail, no start */
		res->window_closed = true;
		res->not_started = (int64_t)n;
		return 0;
	}
	want_pause = want_resume = want_cancel = 0;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 5; i++)
		sigaction(sigs[i], &sa, &old[i]);
	for (size_t i = 0; i < n; i++)
		rc.bytes_total += items[i].bytes;
	l.slots = xcalloc(parallel, sizeof(*l.slots));
	q.again = xcalloc(n + 1, sizeof(*q.again));
	q.later = xcalloc(n + 1, sizeof(*q.later));
	pthread_mutex_init(&l.lock, NULL);
	pthread_cond_init(&l.cond, NULL);
	sb_init(&failures, 64 * 1024);
	notify_init(&nt, cfg->mail, cfg->operation, cfg->session);
	notify_send(&nt, "started", cfg->start_summary ? cfg->start_summary
						      : "");
	bar = progress_new(cfg->operation, (int64_t)n, rc.bytes_total,
			   cfg->quiet);

	pthread_mutex_lock(&l.lock);
	for (;;) {
		time_t now = engine_now();
		bool open = !cfg->window ||
			    config_window_contains(cfg->window, now);
		bool changed = false;

		/* what finished: recorded on this thread, lock released */
		for (unsigned i = 0; i < parallel; i++) {
			struct slot *s = &l.slots[i];

			if (!s->busy || !s->finished)
				continue;
			pthread_mutex_unlock(&l.lock);
			pthread_join(s->tid, NULL);
			s->outcome = ops->done(ctx, s->item, s->outcome,
					       s->err, sizeof(s->err));
			if (s->outcome == ENGINE_DEFERRED) {
				q.later[q.n_later++] = s->item;
				pthread_mutex_lock(&l.lock);
				s->busy = false;
				l.running--;
				changed = true;
				continue;
			}
			finished++;
			if ((s->outcome == ENGINE_DONE ||
			     s->outcome == ENGINE_FAILED) &&
			    s->finished_before >= last_outage)
				outages_in_row = 0;
			if (s->outcome == ENGINE_DONE) {
				res->done++;
				rc.bytes_done += s->item->bytes;
			} else if (engine_outage(s->outcome)) {
				res->outages++;
				outages_in_row++;
				last_outage = finished;
				stop_if_down(cfg, res, s, outages_in_row);
			} else if (s->outcome == ENGINE_ELSEWHERE) {
				res->elsewhere++;
				rc.total--;
				rc.bytes_total -= s->item->bytes;
			} else if (s->outcome == ENGINE_FAILED) {
				res->failed++;
				snprintf(last_err, sizeof(last_err), "%s",
					 s->err);
				rc.last_error = last_err;
				add_failure(&failures, s->item, s->err);
			} else {
				res->aborted++;
			}
			rc.done = res->done;
			rc.failed = res->failed;
			notify_progress(&nt, res->done, res->failed,
					(int64_t)n,
					s->outcome != ENGINE_FAILED);
			pthread_mutex_lock(&l.lock);
			s->busy = false;
			l.running--;
			changed = true;
		}
		if (res->stopped_by != ENGINE_DONE && !stopping) {
			/* they would meet the same outage */
			stopping = true;
			abort_running(&l, parallel);
		}
		if (want_cancel && !res->cancelled) {
			res->cancelled = true;
			log_msg(LOG_NOTICE, "%s of %s: cancelled, stopping "
					    "running courses",
				cfg->operation, cfg->session);
			abort_running(&l, parallel);
		}
		if (want_pause) {
			want_pause = 0;
			if (!paused) {
				paused = true;
				set_state(cfg, "paused");
				log_msg(LOG_NOTICE, "%s of %s: paused",
					cfg->operation, cfg->session);
				notify_send(&nt, "paused",
					    "Running courses finish; none "
					    "starts until resume.\n");
			}
		}
		if (want_resume) {
			want_resume = 0;
			if (paused) {
				paused = false;
				set_state(cfg, "running");
				log_msg(LOG_NOTICE, "%s of %s: resumed",
					cfg->operation, cfg->session);
			}
		}
		if (!open && l.running > 0 && !closing &&
		    cfg->window->at_end == CONFIG_AT_END_ABORT) {
			closing = true;
			log_msg(LOG_NOTICE, "%s of %s: the window closed, "
					    "aborting running courses",
				cfg->operation, cfg->session);
			abort_running(&l, parallel);
		}
		if (open)
			closing = false;
		if (!open && queue_left(&q) && !res->cancelled &&
		    l.running == 0) {
			if (cfg->no_wait) {
				res->window_closed = true;
				break;
			}
			if (!waiting) {
				char *body, when[64];
				time_t at = config_window_next_open(cfg->window,
								    now);
				struct tm tm;

				waiting = true;
				localtime_r(&at, &tm);
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M",
					 &tm);
				set_state(cfg, "waiting-window");
				log_msg(LOG_NOTICE,
					"%s of %s: outside the window, waiting "
					"until %s",
					cfg->operation, cfg->session, when);
				body = xasprintf("Waiting for the window to "
						 "open at %s.\n",
						 when);
				notify_send(&nt, "waiting for the window",
					    body);
				free(body);
			}
		}
		if (open && waiting) {
			waiting = false;
			set_state(cfg, paused ? "paused" : "running");
		}
		/* start what may start */
		while (open && !paused && !res->cancelled &&
		       res->stopped_by == ENGINE_DONE &&
		       l.running < parallel && (it = queue_next(&q, now))) {
			unsigned i;

			for (i = 0; i < parallel && l.slots[i].busy; i++)
				;
			if (start_slot(&l, &l.slots[i], it) < 0)
				break;
			l.slots[i].finished_before = finished;
			queue_pop(&q);
			changed = true;
		}
		if (l.running == 0 &&
		    (!queue_left(&q) || res->cancelled ||
		     res->stopped_by != ENGINE_DONE))
			break;
		if (changed || now != last_update) {
			char *cur = current_labels(&l, parallel);

			rc.current = cur;
			pthread_mutex_unlock(&l.lock);
			progress_update(bar,
					res->done + res->failed + res->elsewhere,
					rc.bytes_done, cur);
			if (cfg->idx && cfg->run_id > 0)
				runs_update(cfg->idx, cfg->run_id, &rc);
			rc.last_error = NULL;
			pthread_mutex_lock(&l.lock);
			free(cur);
			rc.current = NULL;
			last_update = now;
		}
		/* a worker may have finished while the lock was released to
		 * record another: its signal is gone, do not sleep on it */
		if (!any_finished(&l, parallel))
			timed_wait(&l, 200);
	}
	pthread_mutex_unlock(&l.lock);
	res->not_started = (int64_t)queue_left(&q);
	free(q.again);
	free(q.later);
	progress_end(bar);
	if (cfg->idx && cfg->run_id > 0)
		runs_update(cfg->idx, cfg->run_id, &rc);
	end_mail(&nt, cfg, res, failures.buf);
	sb_release(&failures);
	for (int i = 0; i < 5; i++)
		sigaction(sigs[i], &old[i], NULL);
	pthread_cond_destroy(&l.cond);
	pthread_mutex_destroy(&l.lock);
	free(l.slots);
	return 0;
}

enum engine_outcome engine_fail(char *err, size_t errlen, const char *fmt,
				...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ENGINE_FAILED;
}

