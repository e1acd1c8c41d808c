/*
 * hook: runs an administrator's hook program ([hooks] pre_backup,
 * post_restore) for one course, the same way for every operation.
 */
#ifndef SA_HOOK_H
#define SA_HOOK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Runs program with the child's default environment plus vars (KEY=VALUE,
 * NULL-terminated), in its own process group, killed after timeout_s; its
 * pid in *running_pid while it runs (a cancel kills it). Its output goes
 * to the log under label. 0 when it exited 0; else -1 with why: how it
 * ended and its last words.
 */
int hook_run(const char *program, char *const *vars, unsigned timeout_s,
	     _Atomic pid_t *running_pid, const char *label, char *why,
	     size_t whylen);

/* The course a hook runs for, as its SA_* variables tell it. */
struct hook_course {
	const char *session;       /* SA_SESSION */
	int64_t source_id;         /* SA_SOURCE_COURSE_ID */
	int64_t archive_id;        /* SA_ARCHIVE_COURSE_ID, 0: not set */
	const char *shortname;     /* SA_SHORTNAME */
	const char *fullname;      /* SA_FULLNAME, NULL: not set */
	const char *category_path; /* SA_CATEGORY_PATH, NULL: not set */
	int64_t category_id;       /* SA_CATEGORY_ID, 0: not set */
	const char *mbz;           /* SA_MBZ: the backup's path */
	const char *moodle;        /* SA_MOODLE, NULL: "" */
};

/*
 * hook_run() of the hook name ("pre_backup") for course c, labelled
 * "NAME hook for course ID".
 */
int hook_run_course(const char *name, const char *program,
		    const struct hook_course *c, unsigned timeout_s,
		    _Atomic pid_t *running_pid, char *why, size_t whylen);

#endif
