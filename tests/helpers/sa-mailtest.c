/*
 * sa-mailtest: sends one mail the way sessionarchiver does, for the
 * integration tests (tests/integration/test_mail.py).
 *
 *   sa-mailtest CONFIG SUBJECT < BODY
 *
 * Loads CONFIG with config_load_file(), checks it, reads the body from
 * stdin (at most MAIL_BODY_MAX bytes) and calls mail_send(). Exit 0 when
 * the server took the mail, 1 with the reason on stderr, 2 on bad usage.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mail.h"
#include "strbuf.h"

static int read_stdin(struct strbuf *sb)
{
	char chunk[4096];
	ssize_t n;

	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
		if (n < 0 || sb_add(sb, chunk, (size_t)n) < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct config *cfg;
	struct strbuf body;
	char err[1024];
	int ret = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: sa-mailtest CONFIG SUBJECT < BODY\n");
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "sa-mailtest: curl_global_init failed\n");
		return 1;
	}
	cfg = config_new();
	sb_init(&body, MAIL_BODY_MAX);
	if (config_load_file(cfg, argv[1], err, sizeof(err)) < 0 ||
	    config_check(cfg, err, sizeof(err)) < 0)
		goto out;
	if (read_stdin(&body) < 0) {
		snprintf(err, sizeof(err), "cannot read the body from stdin");
		goto out;
	}
	if (mail_send(&cfg->mail, argv[2], body.buf, err, sizeof(err)) < 0)
		goto out;
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "sa-mailtest: %s\n", err);
	sb_release(&body);
	config_free(cfg);
	curl_global_cleanup();
	return ret;
}
