/*
 * Exit codes of sessionarchiver and sessionarchiverfs. One table, the same
 * in README.md and the man pages: scripts and cron rely on these numbers,
 * so a shipped value never changes meaning.
 */
#ifndef SA_EXITCODE_H
#define SA_EXITCODE_H

enum sa_exit {
	SA_EXIT_OK = 0,
	SA_EXIT_FAILURE = 1,     /* generic failure */
	SA_EXIT_USAGE = 2,       /* bad command line or configuration */
	SA_EXIT_WINDOW = 3,      /* outside the hour window; cron retries */
	SA_EXIT_REFUSED = 4,     /* refused by a safety rule */
	SA_EXIT_UNREACHABLE = 5, /* a Moodle platform cannot be reached */
	SA_EXIT_PARTIAL = 6,     /* the run ended, some courses failed */
	SA_EXIT_NOSTORE = 7,     /* not a store, or a format we cannot read */
	SA_EXIT_BUSY = 8,        /* another run holds the session */
	SA_EXIT_MOUNTPOINT = 9,  /* mountpoint missing, not a folder, busy */
	SA_EXIT_STORE_FULL = 10, /* the store is full or cannot be written */
};

#endif
