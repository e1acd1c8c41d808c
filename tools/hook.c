/*
 * The hook runner (see hook.h): one environment, one timeout rule, one way
 * to report a hook's failure, for archive's and restore's hooks alike.
 */
#include "hook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "log.h"
#include "moodle.h"
#include "xalloc.h"

int hook_run(const char *program, char *const *vars, unsigned timeout_s,
	     _Atomic pid_t *running_pid, const char *label, char *why,
	     size_t whylen)
{
	char *argv[] = { (char *)program, NULL }, how[128], words[512];
	size_t n_vars = 0, n = 0;
	struct child_opts o = { .argv = argv, .out_fd = -1,
				.timeout_s = timeout_s, .own_group = true,
				.running_pid = running_pid };
	struct child_result r;
	char **env;
	int rc = 0;

	while (vars[n_vars])
		n_vars++;
	env = xcalloc(n_vars + 3, sizeof(*env));
	env[n++] = child_default_env[0];
	env[n++] = child_default_env[1];
	for (size_t i = 0; i < n_vars; i++)
		env[n++] = vars[i];
	o.envp = env;
	if (child_run(&o, &r) < 0) {
		snprintf(why, whylen, "cannot run '%s': %s", program,
			 strerror(errno));
		free(env);
		return -1;
	}
	if (!child_ok(&r)) {
		moodle_cli_words(r.output, words, sizeof(words));
		snprintf(why, whylen, "%s: %s",
			 child_describe(&r, timeout_s, how, sizeof(how)),
			 words);
		rc = -1;
	}
	if (r.output_len)
		log_lines(LOG_INFO, label, r.output);
	child_result_release(&r);
	free(env);
	return rc;
}

int hook_run_course(const char *name, const char *program,
		    const struct hook_course *c, unsigned timeout_s,
		    _Atomic pid_t *running_pid, char *why, size_t whylen)
{
	char *vars[10], label[64];
	int n = 0, rc;

	vars[n++] = xasprintf("SA_SESSION=%s", c->session);
	vars[n++] = xasprintf("SA_SOURCE_COURSE_ID=%lld",
			      (long long)c->source_id);
	if (c->archive_id)
		vars[n++] = xasprintf("SA_ARCHIVE_COURSE_ID=%lld",
				      (long long)c->archive_id);
	vars[n++] = xasprintf("SA_SHORTNAME=%s", c->shortname);
	if (c->fullname)
		vars[n++] = xasprintf("SA_FULLNAME=%s", c->fullname);
	if (c->category_path)
		vars[n++] = xasprintf("SA_CATEGORY_PATH=%s", c->category_path);
	if (c->category_id)
		vars[n++] = xasprintf("SA_CATEGORY_ID=%lld",
				      (long long)c->category_id);
	vars[n++] = xasprintf("SA_MBZ=%s", c->mbz);
	vars[n++] = xasprintf("SA_MOODLE=%s", c->moodle ? c->moodle : "");
	vars[n] = NULL;
	snprintf(label, sizeof(label), "%s hook for course %lld", name,
		 (long long)c->source_id);
	rc = hook_run(program, vars, timeout_s, running_pid, label, why,
		      whylen);
	for (int i = 0; i < n; i++)
		free(vars[i]);
	return rc;
}
