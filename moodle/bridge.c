/*
 * bridge: the C side of the PHP bridge (see moodle.h): its command line,
 * one run to its answer, and the worker that answers request after request
 * through child.c's talking-child API.
 */
#include "moodle.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "xalloc.h"

#define BRIDGE_MARKER "SESSIONARCHIVER-JSON:"

/*
 * The PHP bridge: $SA_BRIDGE, else next to this program in a build tree,
 * else the installed one under SA_DATADIR. Caller frees.
 */
static char *bridge_script(void)
{
	/* build/ and build/asan/ sit below the repository's moodle/bridge */
	static const char *const rel[] = {
		"../moodle/bridge/sessionarchiver-bridge.php",
		"../../moodle/bridge/sessionarchiver-bridge.php",
	};
	const char *env = getenv("SA_BRIDGE");
	char *path;

	if (env && *env == '/')
		return xstrdup(env);
	for (size_t i = 0; i < 2; i++)
		if ((path = child_beside_self(rel[i], R_OK)))
			return path;
	return xasprintf("%s/sessionarchiver-bridge.php", SA_DATADIR);
}

char **bridge_argv(struct moodle *m, const struct bridge_opts *bo,
		   const char *cmd, char *const args[])
{
	size_t n = 0, k = 0;
	char **all, **argv, *script;

	while (args && args[n])
		n++;
	all = xcalloc(n + 5, sizeof(*all));
	all[k++] = xasprintf("--moodle=%s", bo->moodle_dir);
	if (bo->no_recyclebin)
		all[k++] = xstrdup("--recyclebin=no");
	if (bo->session)
		all[k++] = xasprintf("--session=%s", bo->session);
	all[k++] = xstrdup(cmd);
	for (size_t i = 0; i < n; i++)
		all[k++] = xstrdup(args[i]);
	script = bridge_script();
	argv = moodle_cli_argv(m, script, all);
	free(script);
	moodle_argv_free(all);
	return argv;
}

/* The answer's error, if it is one: moves it into err, frees j. */
static json_t *answer_or_error(json_t *j, char *err, size_t errlen)
{
	const char *e = json_string_value(json_object_get(j, "error"));

	if (!json_is_object(j) || e) {
		snprintf(err, errlen, "%s", e ? e : "the bridge gave no answer");
		json_decref(j);
		return NULL;
	}
	return j;
}

json_t *bridge_run(char **argv, unsigned timeout_s, _Atomic pid_t *running_pid,
		   char *err, size_t errlen)
{
	struct child_opts o = { .argv = argv, .envp = child_default_env,
				.out_fd = -1, .timeout_s = timeout_s,
				.own_group = true, .running_pid = running_pid };
	struct child_result res;
	const char *mark, *nl;
	char how[128], words[400];
	json_t *j = NULL;

	if (child_run(&o, &res) < 0) {
		snprintf(err, errlen, "cannot run '%s': %s", argv[0],
			 strerror(errno));
		return NULL;
	}
	mark = strstr(res.output, "\n" BRIDGE_MARKER "\n");
	if (mark && (nl = strchr(mark + 1, '\n')))
		j = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, NULL);
	if (!j) {
		moodle_cli_words(res.output, words, sizeof(words));
		snprintf(err, errlen, "the bridge %s: %s",
			 child_describe(&res, timeout_s, how, sizeof(how)),
			 words);
	}
	child_result_release(&res);
	return j ? answer_or_error(j, err, errlen) : NULL;
}

struct bridge_worker {
	struct child_proc *proc;  /* NULL once it died and was reaped */
	char **argv;            /* owned when started by bridge_worker_start */
	unsigned requests;
	uint64_t peak_memory;   /* bytes, from its latest answer */
	char *last_words;       /* what it printed before it died */
};

/*
 * A worker that stopped answering: reaped at once, so that its failure
 * says how it ended (killed by a signal, its exit status) with all it
 * printed. timeout_s: the one it was killed at, or 0.
 */
static void bury(struct bridge_worker *w, unsigned timeout_s, char *how,
		 size_t len)
{
	struct child_result res;

	w->last_words = xstrdup(child_proc_output(w->proc));
	child_proc_end(w->proc, 2, &res);
	w->proc = NULL;
	if (res.output && *res.output) {
		char *all = xasprintf("%s%s", w->last_words, res.output);

		free(w->last_words);
		w->last_words = all;
	}
	if (timeout_s)
		snprintf(how, len, "timed out after %u s", timeout_s);
	else
		child_describe(&res, 0, how, len);
	child_result_release(&res);
}

struct bridge_worker *bridge_worker_spawn(char *const argv[], char *err,
					  size_t errlen)
{
	struct bridge_worker *w = xcalloc(1, sizeof(*w));
	struct child_opts o = { .argv = (char **)argv,
				.envp = child_default_env, .own_group = true,
				.capture_cap = 64 * 1024 };

	w->proc = child_proc_start(&o);
	if (!w->proc) {
		snprintf(err, errlen, "cannot run '%s': %s", argv[0],
			 strerror(errno));
		free(w);
		return NULL;
	}
	return w;
}

struct bridge_worker *bridge_worker_start(struct moodle *m,
					  const struct bridge_opts *bo,
					  char *err, size_t errlen)
{
	char **argv = bridge_argv(m, bo, "worker", NULL);
	struct bridge_worker *w;

	if (!argv) {
		snprintf(err, errlen, "cannot run the bridge: %s",
			 moodle_error(m));
		return NULL;
	}
	if (!(w = bridge_worker_spawn(argv, err, errlen))) {
		moodle_argv_free(argv);
		return NULL;
	}
	w->argv = argv;
	return w;
}

unsigned bridge_worker_requests(const struct bridge_worker *w)
{
	return w->requests;
}

uint64_t bridge_worker_peak_memory(const struct bridge_worker *w)
{
	return w->peak_memory;
}

const char *bridge_worker_output(const struct bridge_worker *w)
{
	return w->proc ? child_proc_output(w->proc) : w->last_words;
}

pid_t bridge_worker_pid(const struct bridge_worker *w)
{
	return w->proc ? child_proc_pid(w->proc) : 0;
}

json_t *bridge_worker_call(struct bridge_worker *w, json_t *request,
			   unsigned timeout_s, bool *dead, char *err,
			   size_t errlen)
{
	char *line = json_dumps(request, JSON_COMPACT), *answer = NULL;
	char words[400], how[128];
	json_t *j;
	int rc;

	if (dead)
		*dead = false;
	if (!w->proc) {
		snprintf(err, errlen, "the bridge worker has ended");
		free(line);
		if (dead)
			*dead = true;
		return NULL;
	}
	child_proc_clear_output(w->proc);
	rc = line ? child_proc_write(w->proc, line) : -1;
	free(line);
	if (rc == 0)
		rc = child_proc_read(w->proc, timeout_s, &answer);
	if (rc < 0) {
		int e = errno;

		if (e == ETIMEDOUT)
			child_proc_kill(w->proc, SIGKILL);
		bury(w, e == ETIMEDOUT ? timeout_s : 0, how, sizeof(how));
		moodle_cli_words(w->last_words, words, sizeof(words));
		snprintf(err, errlen, "the bridge worker stopped: %s%s%s", how,
			 words[0] ? ": " : "", words);
		if (dead)
			*dead = true;
		return NULL;
	}
	j = json_loads(answer, 0, NULL);
	free(answer);
	w->requests++;
	if (!j) {
		snprintf(err, errlen, "the bridge worker's answer is not JSON");
		return NULL;
	}
	if (json_is_integer(json_object_get(j, "peak_memory")))
		w->peak_memory = (uint64_t)json_integer_value(
			json_object_get(j, "peak_memory"));
	return answer_or_error(j, err, errlen);
}

void bridge_worker_end(struct bridge_worker *w)
{
	if (!w)
		return;
	child_proc_end(w->proc, 10, NULL);
	moodle_argv_free(w->argv);
	free(w->last_words);
	free(w);
}
