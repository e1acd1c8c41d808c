/*
 * hook: runs an administrator's hook program ([hooks] pre_backup,
 * post_restore) for one course, the same way for every operation.
 */
#ifndef SA_HOOK_H
#define SA_HOOK_H

#include <stddef.h>
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

#endif
