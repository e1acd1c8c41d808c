/*
 * probe: what `doctor` asks of a platform that the operations never ask:
 * which PHP runs, whether the CLI scripts are there, whether a bridge
 * worker starts and answers. The checks' wording and hints stay doctor's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "moodle.h"
#include "xalloc.h"

#define PROBE_PHP_TIMEOUT_S 30

int moodle_probe_php(const struct config_platform *p, char *version,
		     size_t len, char *err, size_t errlen)
{
	char *argv[] = { p->php, "-r", "echo PHP_VERSION;", NULL };
	struct child_opts o = { .argv = argv,
				.envp = child_default_env,
				.out_fd = -1,
				.capture_cap = 4096,
				.timeout_s = PROBE_PHP_TIMEOUT_S,
				.own_group = true };
	struct child_result r;
	char how[128];
	int rc = -2;

	if (child_run(&o, &r) < 0) {
		snprintf(err, errlen, "cannot run '%s': %s", p->php,
			 strerror(errno));
		rc = -1;
	} else if (!child_ok(&r)) {
		snprintf(err, errlen, "'%s -r ...' ended with %s", p->php,
			 child_describe(&r, o.timeout_s, how, sizeof(how)));
	} else {
		snprintf(version, len, "%.40s", r.output ? r.output : "");
		rc = 0;
	}
	child_result_release(&r);
	return rc;
}

int moodle_probe_scripts(const struct config_platform *p, char *missing,
			 size_t len)
{
	/* deletes go through the bridge: Moodle 4.5's delete_course.php
	   dies half way, so whether it is there says nothing */
	static const char *const scripts[] = { "admin/cli/backup.php",
					       "admin/cli/restore_backup.php" };
	size_t used = 0;

	if (len)
		missing[0] = '\0';
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		char *path = xasprintf("%s/%s", p->moodle, scripts[i]);

		if (access(path, R_OK) < 0 && used < len)
			used += (size_t)snprintf(missing + used, len - used,
						 "%s'%s' (%s)", used ? ", " : "",
						 path, strerror(errno));
		free(path);
	}
	return used ? -1 : 0;
}

int moodle_probe_bridge(const struct config_platform *p, double *setup_s,
			char *err, size_t errlen)
{
	struct bridge_opts bo = { .moodle_dir = p->moodle };
	int code;
	struct moodle *m = moodle_open(p, &code, err, errlen);
	struct bridge_worker *w =
		m ? bridge_worker_start(m, &bo, err, errlen) : NULL;
	json_t *ping = json_pack("{s:s}", "command", "ping"), *answer = NULL;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (w)
		answer = bridge_worker_call(w, ping, 120, NULL, err, errlen);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	json_decref(ping);
	*setup_s = (double)(t1.tv_sec - t0.tv_sec) +
		   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	json_decref(answer);
	bridge_worker_end(w);
	moodle_free(m);
	return answer ? 0 : -1;
}
