#include "history.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx_sql.h"
#include "xalloc.h"

/* Fibonacci hashing of an id into slots (a power of two). */
static size_t slot_of(int64_t id, size_t slots)
{
	return (size_t)(((uint64_t)id * 11400714819323198485ull) >> 32) &
	       (slots - 1);
}

static size_t *probe(size_t *table, size_t slots,
		     const struct course_history *v, int64_t id,
		     bool by_archive)
{
	for (size_t i = slot_of(id, slots);; i = (i + 1) & (slots - 1)) {
		size_t at = table[i];

		if (!at || (by_archive ? v[at - 1].archive_id
				       : v[at - 1].source_id) == id)
			return &table[i];
	}
}

/* Room for n courses, the table at most half full: rebuilt when it grows. */
static void rehash(struct history *h, size_t n)
{
	size_t slots = 64;

	while (slots < 2 * n)
		slots *= 2;
	if (slots <= h->slots)
		return;
	free(h->by_source);
	h->by_source = xcalloc(slots, sizeof(*h->by_source));
	h->slots = slots;
	for (size_t i = 0; i < h->n; i++)
		*probe(h->by_source, slots, h->v, h->v[i].source_id, false) =
			i + 1;
}

static struct course_history *course(struct history *h, int64_t id)
{
	size_t *at;

	if (2 * (h->n + 1) > h->slots)
		rehash(h, h->n + 1);
	at = probe(h->by_source, h->slots, h->v, id, false);
	if (*at)
		return &h->v[*at - 1];
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 64;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	memset(&h->v[h->n], 0, sizeof(h->v[h->n]));
	h->v[h->n].source_id = id;
	*at = ++h->n;
	return &h->v[h->n - 1];
}

static void set(char **dst, const char *value)
{
	free(*dst);
	*dst = xstrdup_or_null(value);
}

enum col {
	C_EVENT,
	C_SOURCE_ID,
	C_SITE,
	C_ARCHIVE_ID,
	C_CATEGORY_ID,
	C_AFTER_ID,
	C_HOOK_ERROR,
	C_ERROR,
	C_ORIGINAL_FULL,
	C_CLEANED_FULL,
	C_ORIGINAL_SHORT,
	C_CLEANED_SHORT,
	C_RESULT,
	C_DRY_RUN,
	C_SIDE,
	C_PASSED,
	C_TIME,
	C_SOURCE,
	C_LINE,
	C_ID,
};

/* Keeps the latest verify report, and the latest restore against it. */
static void fold_verify(struct history_verify *hv, sqlite3_stmt *st,
			const char *ev)
{
	int64_t time = sqlite3_column_int64(st, C_TIME);
	int64_t line = sqlite3_column_int64(st, C_LINE);
	int64_t id = sqlite3_column_int64(st, C_ID);
	const char *source = (const char *)sqlite3_column_text(st, C_SOURCE);

	/* a line without a time is older than any: it never counts */
	if (sqlite3_column_type(st, C_TIME) == SQLITE_NULL)
		return;
	if (strcmp(ev, "verify_report") == 0) {
		if (hv->seen && (time < hv->time ||
				 (time == hv->time &&
				  (line < hv->line ||
				   (line == hv->line && id < hv->id)))))
			return;
		hv->seen = true;
		hv->passed = sqlite3_column_int(st, C_PASSED) != 0;
		hv->time = time, hv->line = line, hv->id = id;
		free(hv->source);
		hv->source = xstrdup(source);
	} else if (strcmp(ev, "restore") == 0) {
		/* in time order: a later second starts the count again */
		if (!hv->restore_seen || time > hv->restore_time) {
			hv->restore_seen = true;
			hv->restore_time = time;
			hv->restore_line = line;
			hv->restore_sources = false;
			free(hv->restore_source);
			hv->restore_source = xstrdup(source);
		} else if (strcmp(source, hv->restore_source) != 0) {
			hv->restore_sources = true;
		} else if (line > hv->restore_line) {
			hv->restore_line = line;
		}
	}
}

/* Once every event is folded: is a restore newer than the report? */
static void settle_verify(struct history_verify *hv)
{
	hv->restore_after =
		hv->seen && hv->restore_seen &&
		(hv->restore_time > hv->time ||
		 (hv->restore_time == hv->time &&
		  (hv->restore_sources ||
		   strcmp(hv->restore_source, hv->source) != 0 ||
		   hv->restore_line >= hv->line)));
}

static void fold(struct history *h, sqlite3_stmt *st)
{
	const char *ev = (const char *)sqlite3_column_text(st, C_EVENT);
	const char *error = idx_column_text(st, C_ERROR);
	struct course_history *c;

	if (strcmp(ev, "archive_complete") == 0)
		h->archive_complete = true;
	fold_verify(&h->verify, st, ev);
	if (sqlite3_column_type(st, C_SOURCE_ID) != SQLITE_INTEGER)
		return;
	c = course(h, sqlite3_column_int64(st, C_SOURCE_ID));
	if (strcmp(ev, "backup") == 0) {
		c->backed_up = true;
		c->backup_failed = false;
		set(&c->error, NULL);
	} else if (strcmp(ev, "backup_failed") == 0) {
		c->backup_failed = true;
		set(&c->error, error ? error : ev);
	} else if (strcmp(ev, "restore_started") == 0) {
		c->restore_started = true;
		c->after_id = sqlite3_column_int64(st, C_AFTER_ID);
	} else if (strcmp(ev, "restore") == 0) {
		c->restored = true;
		c->restore_started = c->restore_failed = false;
		c->archive_id = sqlite3_column_int64(st, C_ARCHIVE_ID);
		c->category_id = sqlite3_column_int64(st, C_CATEGORY_ID);
		if (c->category_id)
			h->latest_category = c->category_id;
		set(&c->restore_site, idx_column_text(st, C_SITE));
		set(&c->hook_error, idx_column_text(st, C_HOOK_ERROR));
		c->hook_failed = c->hook_error != NULL;
		set(&c->original_fullname,
		    idx_column_text(st, C_ORIGINAL_FULL));
		set(&c->cleaned_fullname, idx_column_text(st, C_CLEANED_FULL));
		set(&c->original_shortname,
		    idx_column_text(st, C_ORIGINAL_SHORT));
		set(&c->cleaned_shortname,
		    idx_column_text(st, C_CLEANED_SHORT));
		set(&c->error, NULL);
	} else if (strcmp(ev, "restore_failed") == 0) {
		c->restore_failed = true;
		c->restore_started = false;
		set(&c->error, error ? error : ev);
	} else if (strcmp(ev, "hook_rerun") == 0) {
		set(&c->hook_error, idx_column_text(st, C_HOOK_ERROR));
		c->hook_failed = c->hook_error != NULL;
	} else if (strcmp(ev, "verify") == 0) {
		const char *result = idx_column_text(st, C_RESULT);

		snprintf(c->verify_result, sizeof(c->verify_result), "%s",
			 result ? result : "");
	} else if (strcmp(ev, "purge") == 0 &&
		   !sqlite3_column_int(st, C_DRY_RUN)) {
		const char *side = idx_column_text(st, C_SIDE);

		c->purged = true;
		c->purged_source |= side && strcmp(side, "source") == 0;
		c->purged_archive |= side && strcmp(side, "archive") == 0;
	}
}

/* The copies' table, once every course's latest restore is known. */
static void index_copies(struct history *h)
{
	h->by_archive = xcalloc(h->slots, sizeof(*h->by_archive));
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].archive_id)
			*probe(h->by_archive, h->slots, h->v,
			       h->v[i].archive_id, true) = i + 1;
}

#define HISTORY_SELECT                                                 \
	"SELECT event, source_course_id, site,"                       \
	" json_extract(data, '$.archive_course_id'),"                 \
	" json_extract(data, '$.category_id'),"                       \
	" json_extract(data, '$.after_course_id'),"                   \
	" json_extract(data, '$.hook_error'),"                        \
	" json_extract(data, '$.error'),"                             \
	" json_extract(data, '$.original_fullname'),"                 \
	" json_extract(data, '$.cleaned_fullname'),"                  \
	" json_extract(data, '$.original_shortname'),"                \
	" json_extract(data, '$.cleaned_shortname'),"                 \
	" json_extract(data, '$.result'),"                            \
	" coalesce(json_extract(data, '$.dry_run'), 0),"              \
	" json_extract(data, '$.side'),"                              \
	" coalesce(json_extract(data, '$.passed'), 0),"               \
	" time, source, line, id"                                     \
	" FROM events WHERE session_id = ?1"

/* Folds the events of the session, or of its course source_id if not 0. */
static int load(struct idx *idx, int64_t session_id, int64_t source_id,
		struct history *h)
{
	static const char all[] = HISTORY_SELECT " ORDER BY time, id";
	static const char one[] = HISTORY_SELECT
		" AND source_course_id = ?2 ORDER BY time, id";
	sqlite3_stmt *st = idx_stmt(idx, source_id ? one : all);
	int rc;

	memset(h, 0, sizeof(*h));
	rehash(h, 0);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	if (source_id)
		sqlite3_bind_int64(st, 2, source_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fold(h, st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		history_release(h);
		return idx_fail(idx, "cannot read events");
	}
	settle_verify(&h->verify);
	index_copies(h);
	return 0;
}

int history_load(struct idx *idx, int64_t session_id, struct history *h)
{
	return load(idx, session_id, 0, h);
}

int history_load_course(struct idx *idx, int64_t session_id,
			int64_t source_id, struct history *h)
{
	return load(idx, session_id, source_id, h);
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int history_copies_on_site(struct idx *idx, const char *site, int64_t **out,
			   size_t *n)
{
	static const char sql[] =
		"SELECT DISTINCT json_extract(data, '$.archive_course_id')"
		" FROM events WHERE event = 'restore' AND site = ?1"
		" AND json_extract(data, '$.archive_course_id') IS NOT NULL";
	sqlite3_stmt *st = idx_stmt(idx, sql);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, site ? site : "", -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		*n = 0;
		return idx_fail(idx, "cannot read events");
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_id);
	return 0;
}

bool history_is_copy(const int64_t *copies, size_t n, int64_t id)
{
	return n && bsearch(&id, copies, n, sizeof(*copies), cmp_id);
}

void history_release(struct history *h)
{
	for (size_t i = 0; i < h->n; i++) {
		struct course_history *c = &h->v[i];

		free(c->restore_site);
		free(c->hook_error);
		free(c->original_fullname);
		free(c->cleaned_fullname);
		free(c->original_shortname);
		free(c->cleaned_shortname);
		free(c->error);
	}
	free(h->v);
	free(h->by_source);
	free(h->by_archive);
	free(h->verify.source);
	free(h->verify.restore_source);
	memset(h, 0, sizeof(*h));
}

const struct course_history *history_find(const struct history *h,
					  int64_t source_id)
{
	size_t at;

	if (!h->slots)
		return NULL;
	at = *probe(h->by_source, h->slots, h->v, source_id, false);
	return at ? &h->v[at - 1] : NULL;
}

const struct course_history *history_find_copy(const struct history *h,
					       int64_t archive_id)
{
	size_t at;

	if (!h->by_archive || !archive_id)
		return NULL;
	at = *probe(h->by_archive, h->slots, h->v, archive_id, true);
	return at ? &h->v[at - 1] : NULL;
}
