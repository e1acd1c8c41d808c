/*
 * Parsing control-file writes. The input comes from any process that may
 * write the file, so it is treated as hostile: bounded, checked byte by
 * byte, and every word must be one the grammar knows.
 */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 8

const char control_help[] =
	"# write one command to this file, e.g.: echo archive > control\n"
	"# archive [jobs=N] [window=HH:MM-HH:MM]\n"
	"# restore target=<N|id:N|idnumber:X|path:/A/B> [jobs=N]\n"
	"# verify [deep]\n"
	"# purge source|archive preview|dry-run|confirm\n"
	"# pause | resume | cancel | index\n"
	"# the outcome: the write fails with an error code (EINVAL, EBUSY,\n"
	"# EPERM, EIO) and the reason is in status (last_refused) and log\n";

static const char *const op_names[] = {
	[CONTROL_ARCHIVE] = "archive", [CONTROL_RESTORE] = "restore",
	[CONTROL_VERIFY] = "verify",   [CONTROL_PURGE] = "purge",
	[CONTROL_PAUSE] = "pause",     [CONTROL_RESUME] = "resume",
	[CONTROL_CANCEL] = "cancel",   [CONTROL_INDEX] = "index",
};
#define N_OPS (sizeof(op_names) / sizeof(op_names[0]))

const char *control_op_name(enum control_op op)
{
	return (size_t)op < N_OPS ? op_names[op] : "?";
}

struct words {
	char buf[CONTROL_MAX + 1];
	char *w[MAX_WORDS];
	int n;
};

/* Splits on blanks; refuses control characters and a second line. */
static int split(const char *in, size_t len, struct words *ws, char *err,
		 size_t errlen)
{
	char *p, *save;

	if (len == 0 || (len == 1 && in[0] == '\n')) {
		snprintf(err, errlen, "empty command");
		return -1;
	}
	if (len > CONTROL_MAX) {
		snprintf(err, errlen, "command longer than %d bytes",
			 CONTROL_MAX);
		return -1;
	}
	if (in[len - 1] == '\n')
		len--;
	if (len > 0 && in[len - 1] == '\r')
		len--;
	memcpy(ws->buf, in, len);
	ws->buf[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)ws->buf[i];

		if (c == '\n') {
			snprintf(err, errlen,
				 "one command per write: found a second line");
			return -1;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(err, errlen,
				 "control character 0x%02x in command", c);
			return -1;
		}
	}
	ws->n = 0;
	/* strtok_r: libfuse calls write on many threads at once */
	for (p = strtok_r(ws->buf, " \t", &save); p;
	     p = strtok_r(NULL, " \t", &save)) {
		if (ws->n == MAX_WORDS) {
			snprintf(err, errlen, "too many words in command");
			return -1;
		}
		ws->w[ws->n++] = p;
	}
	if (ws->n == 0) {
		snprintf(err, errlen, "empty command");
		return -1;
	}
	return 0;
}

static int parse_jobs(const char *v, unsigned *jobs, char *err,
		      size_t errlen)
{
	char *end;
	long n;

	if (*v < '0' || *v > '9' || (n = strtol(v, &end, 10), *end) ||
	    n < 1 || n > 64) {
		snprintf(err, errlen,
			 "jobs must be a number from 1 to 64, not '%.32s'", v);
		return -1;
	}
	*jobs = (unsigned)n;
	return 0;
}

static bool hhmm(const char *s, int *minutes)
{
	if (!(s[0] >= '0' && s[0] <= '2' && s[1] >= '0' && s[1] <= '9' &&
	      s[2] == ':' && s[3] >= '0' && s[3] <= '5' && s[4] >= '0' &&
	      s[4] <= '9'))
		return false;
	*minutes = ((s[0] - '0') * 10 + s[1] - '0') * 60 +
		   (s[3] - '0') * 10 + s[4] - '0';
	return *minutes < 24 * 60 || (*minutes == 24 * 60);
}

static int parse_window(const char *v, char out[12], char *err,
			size_t errlen)
{
	int a, b;

	if (strlen(v) != 11 || v[5] != '-' || !hhmm(v, &a) ||
	    !hhmm(v + 6, &b) || a == 24 * 60 || a == b) {
		snprintf(err, errlen,
			 "window must be HH:MM-HH:MM (e.g. 20:00-06:00), not "
			 "'%.32s'",
			 v);
		return -1;
	}
	memcpy(out, v, 12);
	return 0;
}

static int parse_target(const char *v, char *out, char *err, size_t errlen)
{
	bool digits = *v != '\0';

	for (const char *p = v; *p; p++)
		digits &= *p >= '0' && *p <= '9';
	if (digits || (strncmp(v, "id:", 3) == 0 && v[3]) ||
	    (strncmp(v, "idnumber:", 9) == 0 && v[9]) ||
	    (strncmp(v, "path:/", 6) == 0 && v[6])) {
		if (strncmp(v, "id:", 3) == 0) {
			digits = true;
			for (const char *p = v + 3; *p; p++)
				digits &= *p >= '0' && *p <= '9';
			if (!digits)
				goto out_bad;
		}
		snprintf(out, CONTROL_MAX, "%s", v);
		return 0;
	}
out_bad:
	snprintf(err, errlen,
		 "target must be a category id, id:N, idnumber:X or "
		 "path:/A/B, not '%.64s'",
		 v);
	return -1;
}

/* key=value arguments allowed after the verb, each at most once */
static int parse_options(struct words *ws, int from, struct control_cmd *c,
			 const char *allowed, char *err, size_t errlen)
{
	unsigned seen = 0;

	for (int i = from; i < ws->n; i++) {
		char *eq = strchr(ws->w[i], '=');
		const char *key = ws->w[i];
		unsigned bit;

		if (!eq) {
			snprintf(err, errlen,
				 "unexpected '%.32s' after %s (options are "
				 "key=value)",
				 ws->w[i], control_op_name(c->op));
			return -1;
		}
		*eq = '\0';
		if (strcmp(key, "jobs") == 0)
			bit = 1;
		else if (strcmp(key, "window") == 0)
			bit = 2;
		else if (strcmp(key, "target") == 0)
			bit = 4;
		else
			bit = 0;
		if (!bit || !strstr(allowed, key)) {
			snprintf(err, errlen, "%s takes no option '%.32s'",
				 control_op_name(c->op), key);
			return -1;
		}
		if (seen & bit) {
			snprintf(err, errlen, "option '%s' given twice", key);
			return -1;
		}
		seen |= bit;
		if ((bit == 1 && parse_jobs(eq + 1, &c->jobs, err, errlen)) ||
		    (bit == 2 &&
		     parse_window(eq + 1, c->window, err, errlen)) ||
		    (bit == 4 && parse_target(eq + 1, c->target, err, errlen)))
			return -1;
	}
	if (strstr(allowed, "target") && !(seen & 4)) {
		snprintf(err, errlen,
			 "restore needs target=<category>, e.g. "
			 "restore target=path:/Archives");
		return -1;
	}
	return 0;
}

static int no_arguments(struct words *ws, struct control_cmd *c, char *err,
			size_t errlen)
{
	if (ws->n == 1)
		return 0;
	snprintf(err, errlen, "%s takes no argument", control_op_name(c->op));
	return -1;
}

static int parse(const char *buf, size_t len, struct control_cmd *cmd,
		 char *err, size_t errlen)
{
	static const struct words ws_zero;
	struct words ws = ws_zero;
	size_t op;

	memset(cmd, 0, sizeof(*cmd));
	if (split(buf, len, &ws, err, errlen) < 0)
		return -1;
	for (op = 0; op < N_OPS; op++)
		if (strcmp(ws.w[0], op_names[op]) == 0)
			break;
	if (op == N_OPS) {
		snprintf(err, errlen,
			 "unknown command '%.32s' (archive, restore, verify, "
			 "purge, pause, resume, cancel, index)",
			 ws.w[0]);
		return -1;
	}
	cmd->op = (enum control_op)op;
	switch (cmd->op) {
	case CONTROL_ARCHIVE:
		return parse_options(&ws, 1, cmd, "jobs window", err, errlen);
	case CONTROL_RESTORE:
		return parse_options(&ws, 1, cmd, "jobs target", err, errlen);
	case CONTROL_VERIFY:
		if (ws.n == 1)
			return 0;
		if (ws.n == 2 && strcmp(ws.w[1], "deep") == 0) {
			cmd->deep = true;
			return 0;
		}
		snprintf(err, errlen, "verify takes only 'deep'");
		return -1;
	case CONTROL_PURGE:
		if (ws.n != 3)
			goto out_purge;
		if (strcmp(ws.w[1], "source") == 0)
			cmd->side = "source";
		else if (strcmp(ws.w[1], "archive") == 0)
			cmd->side = "archive";
		if (strcmp(ws.w[2], "preview") == 0)
			cmd->mode = "preview";
		else if (strcmp(ws.w[2], "dry-run") == 0)
			cmd->mode = "dry-run";
		else if (strcmp(ws.w[2], "confirm") == 0)
			cmd->mode = "confirm";
		if (cmd->side && cmd->mode)
			return 0;
out_purge:
		snprintf(err, errlen,
			 "purge needs a side and a mode: purge source|archive "
			 "preview|dry-run|confirm");
		return -1;
	default:
		return no_arguments(&ws, cmd, err, errlen);
	}
}

int control_parse(const char *buf, size_t len, struct control_cmd *cmd,
		  char *err, size_t errlen)
{
	/* a refusal leaves nothing half-parsed (jobs=5 before a bad option) */
	if (parse(buf, len, cmd, err, errlen) == 0)
		return 0;
	memset(cmd, 0, sizeof(*cmd));
	return -1;
}

int control_format(const struct control_cmd *cmd, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s", control_op_name(cmd->op));

	if (n >= 0 && (size_t)n < len && cmd->op == CONTROL_RESTORE)
		n += snprintf(buf + n, len - (size_t)n, " target=%s",
			      cmd->target);
	if (n >= 0 && (size_t)n < len && cmd->jobs)
		n += snprintf(buf + n, len - (size_t)n, " jobs=%u", cmd->jobs);
	if (n >= 0 && (size_t)n < len && cmd->window[0])
		n += snprintf(buf + n, len - (size_t)n, " window=%s",
			      cmd->window);
	if (n >= 0 && (size_t)n < len && cmd->deep)
		n += snprintf(buf + n, len - (size_t)n, " deep");
	if (n >= 0 && (size_t)n < len && cmd->op == CONTROL_PURGE)
		n += snprintf(buf + n, len - (size_t)n, " %s %s", cmd->side,
			      cmd->mode);
	return n >= 0 && (size_t)n < len ? 0 : -1;
}
