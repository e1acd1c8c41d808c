/*
 * engine: the one mechanism every long operation (archive, restore, purge)
 * runs its courses through.
 *
 * It starts up to `parallel` courses at a time, each on its own thread, and
 * keeps on the calling thread everything that is shared: the index, the
 * progress bar, the run's counters in the index, the mails. Around the
 * courses it enforces the hour window (wait for the next opening, or stop
 * with --no-wait; at the window's end let running courses finish or abort
 * them), and obeys signals: SIGUSR1 pauses (running courses finish, none
 * starts), SIGUSR2 resumes, SIGTERM, SIGINT and SIGHUP cancel (running
 * courses are aborted and cleaned up). An aborted course is neither done
 * nor failed: it is redone by the next run.
 *
 * A course can also end because the platform or the store under it is
 * down: that is not the course's failure. It stays pending like an aborted
 * one, and after stop_after such courses in a row the run stops (running
 * courses aborted, none started) instead of failing every course left.
 *
 * In a shared archive a course may be another host's: it comes back
 * later while that host has it (ENGINE_DEFERRED), and is not this run's
 * once that host ended it (ENGINE_ELSEWHERE).
 */
#ifndef SA_ENGINE_H
#define SA_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct config_mail;
struct config_window;
struct idx;

struct engine_item {
	int64_t id;     /* the source course id */
	char *label;    /* its shortname, for status and progress */
	int64_t bytes;  /* its estimated size */
	void *data;     /* the operation's own */
};

enum engine_outcome {
	ENGINE_DONE,
	ENGINE_FAILED,
	ENGINE_ABORTED,       /* stopped by cancel or the window: redo later */
	ENGINE_PLATFORM_DOWN, /* Moodle cannot be reached: redo later */
	ENGINE_STORE_DOWN,    /* the store is full or unwritable: redo later */
	ENGINE_DEFERRED,      /* another host has it now: look again later */
	ENGINE_ELSEWHERE,     /* another host did it (or failed it) */
};

/* What a running course shares with the engine. */
struct engine_job {
	_Atomic pid_t pid;  /* the program running for it (child_opts) */
	atomic_bool abort;  /* the engine wants it stopped */
};

struct engine_ops {
	/* On a worker thread: do the course. err says why on failure. */
	enum engine_outcome (*run)(void *ctx, struct engine_item *it,
				   struct engine_job *job, char *err,
				   size_t errlen);
	/*
	 * On the calling thread, as each course ends: record it. It may
	 * find that a failure was the platform's or the store's, rewrite
	 * err and return what the engine counts; else it returns outcome.
	 */
	enum engine_outcome (*done)(void *ctx, struct engine_item *it,
				    enum engine_outcome outcome, char *err,
				    size_t errlen);
};

struct engine_config {
	const char *operation;              /* "archive" */
	const char *session;
	unsigned parallel;                  /* >= 1 */
	const struct config_window *window;
	bool no_wait;                       /* outside the window: stop */
	const struct config_mail *mail;     /* NULL: no mail */
	const char *start_summary;          /* body of the first mail */
	bool quiet;                         /* no progress bar */
	struct idx *idx;                    /* for the run's counters */
	int64_t run_id;
	unsigned stop_after;                /* outages in a row; 0: never */
};

struct engine_result {
	int64_t done, failed, aborted, not_started;
	int64_t elsewhere;  /* ended by another host of a shared archive */
	int64_t outages;    /* courses left pending: platform or store down */
	bool cancelled;
	bool window_closed; /* stopped because the window closed */
	/* stopped after stop_after outages in a row: which, and why */
	enum engine_outcome stopped_by; /* ENGINE_DONE when not stopped */
	char stop_reason[1024];
};

/* Runs the items. 0, or -1 when it could not start at all (logged). */
int engine_run(const struct engine_config *cfg, struct engine_item *items,
	       size_t n, const struct engine_ops *ops, void *ctx,
	       struct engine_result *res);

/* Logs "OPERATION of SESSION: N done, N failed, ..." for a run's end. */
void engine_log_summary(const struct engine_config *cfg,
			const struct engine_result *res);

/*
 * The clock of the operations: the time, or SA_NOW=<unix time> when set
 * (tests), from which the clock then runs on.
 */
time_t engine_now(void);

/* Writes a course's failure reason into err; returns ENGINE_FAILED. */
enum engine_outcome engine_fail(char *err, size_t errlen, const char *fmt,
				...) __attribute__((format(printf, 3, 4)));

/* True for ENGINE_PLATFORM_DOWN and ENGINE_STORE_DOWN. */
static inline bool engine_outage(enum engine_outcome o)
{
	return o == ENGINE_PLATFORM_DOWN || o == ENGINE_STORE_DOWN;
}

/* Signals the program a job runs (its process group). */
void engine_kill_job(struct engine_job *job, int sig);

#endif
