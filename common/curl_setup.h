/*
 * curl_setup: what every libcurl handle of the tool is given (the web
 * services of moodle/rest.c, the mail of tools/mail.c), in one place.
 * Header only: common/ links no libcurl, and the mount uses none.
 */
#ifndef SA_CURL_SETUP_H
#define SA_CURL_SETUP_H

#include <curl/curl.h>

/* Sets one option unless an earlier one failed. */
#define SETOPT(rc, h, opt, val)                                          \
	do {                                                             \
		if ((rc) == CURLE_OK)                                    \
			(rc) = curl_easy_setopt((h), (opt), (val));       \
	} while (0)

/*
 * url, only over protocols (e.g. "http,https"), within the time limits,
 * curl's words for a failure into errbuf (CURL_ERROR_SIZE bytes), and no
 * signals: they would hit other threads, and the resolver must not use
 * them. CURLE_OK, or the first option that failed.
 */
static inline CURLcode curl_setup(CURL *h, const char *url,
				  const char *protocols, long connect_s,
				  long total_s, char *errbuf)
{
	CURLcode rc = CURLE_OK;

	SETOPT(rc, h, CURLOPT_URL, url);
	SETOPT(rc, h, CURLOPT_PROTOCOLS_STR, protocols);
	SETOPT(rc, h, CURLOPT_CONNECTTIMEOUT, connect_s);
	SETOPT(rc, h, CURLOPT_TIMEOUT, total_s);
	SETOPT(rc, h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(rc, h, CURLOPT_ERRORBUFFER, errbuf);
	return rc;
}

#endif
