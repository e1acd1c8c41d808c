/*
 * control: the language of the mount's control files.
 *
 * One command per write, one line of text:
 *   archive [jobs=N] [window=HH:MM-HH:MM]
 *   restore target=<N|id:N|idnumber:X|path:/A/B> [jobs=N]
 *   verify [deep]
 *   purge source|archive preview|dry-run|confirm
 *   pause | resume | cancel | index
 * A trailing newline is allowed (echo adds one); anything else that is not
 * exactly this grammar is refused, so that a typo never starts an
 * operation. Pure functions: any thread may call them.
 */
#ifndef SA_CONTROL_H
#define SA_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

/* Longest control write accepted, in bytes. */
#define CONTROL_MAX 1024

enum control_op {
	CONTROL_ARCHIVE,
	CONTROL_RESTORE,
	CONTROL_VERIFY,
	CONTROL_PURGE,
	CONTROL_PAUSE,
	CONTROL_RESUME,
	CONTROL_CANCEL,
	CONTROL_INDEX,
};

struct control_cmd {
	enum control_op op;
	unsigned jobs;     /* 0: not given */
	char window[12];   /* "HH:MM-HH:MM" or "" */
	char target[CONTROL_MAX]; /* restore: as written, e.g. "id:12" */
	bool deep;         /* verify deep */
	const char *side;  /* purge: "source" or "archive" */
	const char *mode;  /* purge: "preview", "dry-run" or "confirm" */
};

/*
 * Parses one control write of len bytes (not NUL-terminated). Returns 0 and
 * fills cmd, or -1 with a reason a person understands in err ("unknown
 * command 'archve'", "jobs must be a number from 1 to 64", ...).
 */
int control_parse(const char *buf, size_t len, struct control_cmd *cmd,
		  char *err, size_t errlen);

/*
 * cmd written back in the grammar above, one line without its newline:
 * what control_parse() reads as cmd again. The mount hands it to the
 * command line (`sessionarchiver control SESSION LINE`), so that how a
 * command becomes options is decided in one place, next to the options.
 * 0, or -1 when len is too small.
 */
int control_format(const struct control_cmd *cmd, char *buf, size_t len);

/* "archive", "restore", ... */
const char *control_op_name(enum control_op op);

/* Text shown when the control file is read: the grammar above. */
extern const char control_help[];

#endif
