/*
 * The checks run only after a course failed, so that a healthy night pays
 * nothing for them.
 */
#include "outage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "moodle.h"
#include "xalloc.h"

static long long free_bytes(const char *dir)
{
	struct statvfs sv;

	if (!dir || statvfs(dir, &sv) < 0)
		return -1;
	return (long long)sv.f_bavail * (long long)sv.f_frsize;
}

static bool no_write_access(int e)
{
	return e == EROFS || e == EACCES || e == EPERM || e == EIO;
}

/* PHP's and the C library's words for ENOSPC and EDQUOT */
bool outage_out_of_space(const char *output)
{
	return output && (strstr(output, "No space left on device") ||
			  strstr(output, "Disk quota exceeded"));
}

enum engine_outcome outage_store(const struct outage_store_case *c,
				 char *err, size_t errlen)
{
	long long avail = free_bytes(c->store_dir);
	long long moodle_avail = free_bytes(c->dataroot);
	bool store_full = (avail >= 0 && avail < c->need) ||
			  c->sys_errno == ENOSPC || c->sys_errno == EDQUOT;
	char *was = xstrdup(err), where[512] = "";

	if (store_full) {
		snprintf(err, errlen, "no space left on the store: %lld bytes "
			 "free, about %lld needed (%s)",
			 avail, (long long)c->need, was);
	} else if (no_write_access(c->sys_errno)) {
		snprintf(err, errlen, "the store cannot be written: %s", was);
	} else if (outage_out_of_space(c->output)) {
		if (moodle_avail >= 0)
			snprintf(where, sizeof(where),
				 "; Moodle's dataroot '%s' has %lld bytes free",
				 c->dataroot, moodle_avail);
		snprintf(err, errlen, "no space left during the backup: the "
			 "store has %lld bytes free%s (%s)",
			 avail, where, was);
	} else {
		free(was);
		return ENGINE_FAILED;
	}
	free(was);
	return ENGINE_STORE_DOWN;
}

enum engine_outcome outage_platform(struct moodle *m,
				    enum engine_outcome outcome, char *err,
				    size_t errlen)
{
	char *was;

	if (outcome != ENGINE_FAILED || moodle_check(m) == 0)
		return outcome;
	was = xstrdup(err);
	snprintf(err, errlen, "Moodle cannot be reached: %s; %s",
		 moodle_error(m), was);
	free(was);
	return ENGINE_PLATFORM_DOWN;
}
