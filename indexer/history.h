/*
 * What happened to each course of a session, folded once from the events
 * the index holds (the manifest's and every journal's lines, in time
 * order): backed up or failed, restored as N into category C on site S or
 * failed why, the post_restore hook's outcome, the latest verify result,
 * purged on either side. Found by source id or by archive id in constant
 * time: restore, verify and purge read a 10,000-course session linearly.
 */
#ifndef SA_HISTORY_H
#define SA_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idx;

struct course_history {
	int64_t source_id;
	/* archive */
	bool backed_up;        /* a backup line is recorded */
	bool backup_failed;    /* the latest backup attempt failed */
	/* restore */
	bool restore_started;  /* started, no end recorded since */
	int64_t after_id;      /* of that start: Moodle's new ids come after */
	bool restored;
	bool restore_failed;   /* the latest restore attempt failed */
	int64_t archive_id;    /* the latest restore's copy (0: none) */
	int64_t category_id;   /* where that copy was put */
	char *restore_site;    /* that restore's site hash */
	bool hook_failed;      /* the latest post_restore run failed */
	char *hook_error;      /* how it failed, NULL when it did not */
	/* the names as the backup had them and as restore cleaned them */
	char *original_fullname, *cleaned_fullname;
	char *original_shortname, *cleaned_shortname;
	/* the latest backup or restore failure not followed by a success:
	   its error, else its event's name; NULL when none */
	char *error;
	/* verify and purge */
	char verify_result[16]; /* the latest verify's, "" when none */
	bool purged_source, purged_archive; /* a real (not dry run) purge */
	bool purged;            /* of either side, or of a line naming none */
};

/*
 * The session's latest verify report (latest by time, then line) and
 * whether a restore is newer. Journal times are in seconds: a restore in
 * the same second counts as newer unless the same journal has it on an
 * earlier line.
 */
struct history_verify {
	bool seen;            /* a report with a time is recorded */
	bool passed;
	bool restore_after;   /* a restore newer than that report */
	/* how the fold finds them, in time order */
	int64_t time, line, id;
	char *source;
	bool restore_seen;
	int64_t restore_time; /* the latest restore's */
	char *restore_source; /* a journal with a restore at restore_time */
	int64_t restore_line; /* its latest line at restore_time */
	bool restore_sources; /* more than one journal at restore_time */
};

struct history {
	struct course_history *v; /* in order of first event */
	size_t n, cap;
	bool archive_complete;    /* an archive_complete line is recorded */
	int64_t latest_category;  /* the category of the latest restore */
	struct history_verify verify;
	/* open addressing: slots hold index + 1 into v, 0 is empty */
	size_t *by_source, *by_archive;
	size_t slots;
};

/* Folds session_id's events. 0, or -1 (logged). history_release() after. */
int history_load(struct idx *idx, int64_t session_id, struct history *h);
/*
 * Folds only the events of the course of that source id (h->n is 0 or
 * 1): what one finished course changed, without reading the session's
 * every event. The session-level facts (archive_complete, verify,
 * latest_category) are not read.
 */
int history_load_course(struct idx *idx, int64_t session_id,
			int64_t source_id, struct history *h);
void history_release(struct history *h);

/*
 * Every course a restore of any session recorded making on site (a site
 * hash), sorted, duplicates gone: on a platform that is its own archive,
 * these are copies, never originals. 0, or -1 (logged). Caller frees.
 */
int history_copies_on_site(struct idx *idx, const char *site, int64_t **out,
			   size_t *n);
/* Is id among copies (from history_copies_on_site)? */
bool history_is_copy(const int64_t *copies, size_t n, int64_t id);

/* The course of that source id, or NULL. */
const struct course_history *history_find(const struct history *h,
					  int64_t source_id);
/* The course whose latest restore made archive_id, or NULL. */
const struct course_history *history_find_copy(const struct history *h,
					       int64_t archive_id);

#endif
