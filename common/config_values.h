/*
 * config_values: what the files of the configuration share, not for its
 * users (they see config.h): the row type of config.c's key table, and the
 * helpers of the value parsers. config.c holds the table and most
 * parsers; config_net.c those of network values (URLs, database URLs,
 * mail addresses).
 */
#ifndef SA_CONFIG_VALUES_H
#define SA_CONFIG_VALUES_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

enum key_type {
	KT_STRING,   /* char *, owned */
	KT_PATH,     /* char *, owned, absolute */
	KT_BOOL,     /* bool */
	KT_UINT,     /* unsigned, min..max */
	KT_DURATION, /* unsigned seconds, min..max */
	KT_ENUM,     /* an enum, one of names[] */
	KT_DB,       /* struct config_db */
	KT_SELECTOR, /* struct config_selector */
	KT_ADDRS,    /* struct config_mail: to, n_to */
	KT_EVERY,    /* struct config_mail: every_kind, every */
	KT_HOURS,    /* struct config_window: start_min, end_min */
	KT_DAYS,     /* unsigned day mask */
	KT_MONTHDAY, /* struct config_session: year_month, year_day */
};

/* the value names a secret file: never echo it, check its mode */
#define F_SECRET 0x1u
/* an empty value is an error rather than "unset" */
#define F_NONEMPTY 0x2u
/* {Y} and {Y+1} are allowed (checked) in the value */
#define F_PATTERN 0x4u

struct key_def;
/* Stores value into field (replacing what was there), or -1 with why set. */
typedef int (*parse_fn)(const struct key_def *def, void *field,
			const char *value, char *why, size_t whylen);

struct key_def {
	const char *section;
	const char *key;
	enum key_type type;
	size_t offset; /* of the field in struct config */
	parse_fn parse;
	unsigned long long min, max; /* KT_UINT, KT_DURATION */
	const char *const *names;    /* KT_ENUM, NULL-terminated */
	unsigned flags;
};

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"
#define ALNUM LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

/*
 * Writes "fmt, got 'value'" into why and returns -1; the value is left out
 * when NULL and for secret keys, in case someone typed the password itself
 * there.
 */
int cfg_bad(const struct key_def *def, const char *value, char *why,
	    size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Replaces the char * at field with a copy of value, NULL when empty. */
void cfg_set_string(void *field, const char *value);
/* [s, s+n) with blanks trimmed at both ends */
void cfg_trim(const char **s, size_t *n);
/* The decimal of [s, s+n) within min..max: digits only, 0 or -1. */
int cfg_uint_n(const char *s, size_t n, unsigned long long min,
	       unsigned long long max, unsigned long long *out);
/* s is not empty and holds only characters of allowed */
bool cfg_chars_ok(const char *s, const char *allowed);
/* Releases what a field owns; scalars need nothing. */
void cfg_free_field(const struct key_def *def, void *field);

/* ---- config_net.c ------------------------------------------------------ */

int parse_db(const struct key_def *def, void *field, const char *value,
	     char *why, size_t whylen);
int parse_http_url(const struct key_def *def, void *field, const char *value,
		   char *why, size_t whylen);
int parse_smtp_url(const struct key_def *def, void *field, const char *value,
		   char *why, size_t whylen);
int parse_address(const struct key_def *def, void *field, const char *value,
		  char *why, size_t whylen);
int parse_addrs(const struct key_def *def, void *field, const char *value,
		char *why, size_t whylen);
void cfg_free_db(struct config_db *db);
void cfg_free_addrs(struct config_mail *m);

#endif
