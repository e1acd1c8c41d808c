/*
 * The shared archive (see share.h): joining, claiming courses, leaving.
 */
#include "share.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "journal.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

struct share {
	struct lease *member;
	int claimsfd;
	char *name;
	unsigned grace;
};

static int open_dir(int metafd, const char *name)
{
	int fd;

	if (mkdirat(metafd, name, 0755) < 0 && errno != EEXIST)
		return log_err("cannot create '%s/%s': %s", SESSION_META_DIR,
			       name, strerror(errno));
	fd = openat(metafd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		log_err("cannot open '%s/%s': %s", SESSION_META_DIR, name,
			strerror(errno));
	return fd;
}

static bool is_live(const struct lease_holder *live, size_t n,
		    const char *entry)
{
	for (size_t i = 0; i < n; i++) {
		char *name = xasprintf("%s-%lld", live[i].host,
				       (long long)live[i].pid);
		bool same = strcmp(name, entry) == 0;

		free(name);
		if (same)
			return true;
	}
	return false;
}

/*
 * Under the session lease: what no live member owns goes (dead members'
 * files and temporary folders; with no live member at all, the last
 * round's claims too).
 */
static int tidy(int metafd, int membersfd, int claimsfd, unsigned grace)
{
	struct lease_holder *live;
	size_t n;
	int tmpfd;
	DIR *d;
	struct dirent *de;

	if (lease_list(membersfd, journal_host(), grace, &live, &n) < 0)
		return -1;
	d = fdopendir(openat(membersfd, ".", O_RDONLY | O_DIRECTORY |
						    O_CLOEXEC));
	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] != '.' && len > 5 &&
		    strcmp(de->d_name + len - 5, ".json") == 0) {
			char *stem = xstrndup(de->d_name, len - 5);

			if (!is_live(live, n, stem))
				unlinkat(membersfd, de->d_name, 0);
			free(stem);
		}
	}
	if (d)
		closedir(d);
	tmpfd = openat(metafd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = tmpfd >= 0 ? fdopendir(tmpfd) : NULL;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    !is_live(live, n, de->d_name))
			store_remove_tree(tmpfd, de->d_name);
	if (d)
		closedir(d);
	else if (tmpfd >= 0)
		close(tmpfd);
	if (n == 0) {
		d = fdopendir(openat(claimsfd, ".", O_RDONLY | O_DIRECTORY |
							   O_CLOEXEC));
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(claimsfd, de->d_name, 0);
		if (d)
			closedir(d);
	}
	for (size_t i = 0; i < n; i++)
		lease_holder_release(&live[i]);
	free(live);
	return 0;
}

static json_t *counts(int64_t done, int64_t failed, int64_t elsewhere,
		      int64_t left)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "done", (json_int_t)done,
			 "failed", (json_int_t)failed, "elsewhere",
			 (json_int_t)elsewhere, "left", (json_int_t)left);
}

struct share *share_join(struct cli *cli, int metafd, const char *session,
			 struct lease_holder *taken_from, int *exit_code)
{
	struct share *s = xcalloc(1, sizeof(*s));
	struct lease_holder other;
	enum lease_result res;
	struct lease *session_lease;
	char *file;
	int membersfd = -1;

	s->claimsfd = -1;
	s->grace = cli->cfg->store.lease_grace;
	session_lease = cli_session_lease(cli, metafd, session,
					  LEASE_JOIN_OPERATION, taken_from,
					  exit_code);
	if (!session_lease) {
		free(s);
		return NULL;
	}
	*exit_code = SA_EXIT_FAILURE;
	s->name = xasprintf("%s-%lld", journal_host(), (long long)getpid());
	if ((membersfd = open_dir(metafd, LEASE_MEMBERS_DIR)) < 0 ||
	    (s->claimsfd = open_dir(metafd, LEASE_CLAIMS_DIR)) < 0 ||
	    (mkdirat(metafd, "tmp", 0755) < 0 && errno != EEXIST) ||
	    tidy(metafd, membersfd, s->claimsfd, s->grace) < 0)
		goto out_fail;
	file = xasprintf("%s.json", s->name);
	/* a member lost (silent past the grace) must stop: others redo its
	 * courses, and a new round clears the claims */
	s->member = lease_claim(membersfd, file, journal_host(),
				LEASE_JOIN_OPERATION, s->grace,
				counts(0, 0, 0, 0), true, &res, &other);
	free(file);
	lease_holder_release(&other);
	if (!s->member) {
		log_err("cannot join the shared archive of '%s'", session);
		goto out_fail;
	}
	close(membersfd);
	lease_release(session_lease);
	*exit_code = SA_EXIT_OK;
	return s;

out_fail:
	if (membersfd >= 0)
		close(membersfd);
	lease_release(session_lease);
	lease_holder_release(taken_from);
	share_leave(s);
	return NULL;
}

void share_leave(struct share *s)
{
	if (!s)
		return;
	lease_release(s->member);
	if (s->claimsfd >= 0)
		close(s->claimsfd);
	free(s->name);
	free(s);
}

const char *share_member(const struct share *s)
{
	return s->name;
}

void share_counts(struct share *s, int64_t done, int64_t failed,
		  int64_t elsewhere, int64_t left)
{
	if (lease_set_detail(s->member, counts(done, failed, elsewhere, left)) <
	    0)
		log_warn("cannot update this member's counts: %s",
			 strerror(errno));
}

enum share_claim share_claim(struct share *s, int64_t course,
			     const char *file, struct lease **claim,
			     char *who, size_t wholen, char **their_file)
{
	char name[32];
	struct lease_holder other;
	enum lease_result res;
	enum share_claim out;
	const char *theirs;

	*their_file = NULL;
	snprintf(name, sizeof(name), "%lld.json", (long long)course);
	*claim = lease_claim(s->claimsfd, name, journal_host(), "archive",
			     s->grace,
			     json_pack("{s:s, s:s}", "member", s->name, "file",
				       file),
			     false, &res, &other);
	snprintf(who, wholen, "host %s (pid %lld)",
		 other.host ? other.host : "?", (long long)other.pid);
	switch (res) {
	case LEASE_TAKEN:
		out = SHARE_CLAIMED;
		break;
	case LEASE_TAKEN_OVER:
		out = SHARE_TAKEN_OVER;
		break;
	case LEASE_BUSY:
		out = !other.state                      ? SHARE_BUSY
		      : strcmp(other.state, "done") == 0 ? SHARE_DONE_ELSEWHERE
							: SHARE_FAILED_ELSEWHERE;
		theirs = journal_str(other.fields, "file");
		if (out == SHARE_DONE_ELSEWHERE && theirs)
			*their_file = xstrdup(theirs);
		break;
	default:
		out = SHARE_ERROR;
	}
	lease_holder_release(&other);
	return out;
}
