/*
 * op_archive: the first half of the transfer, on the source platform.
 *
 * Selection of the session's category (by name, by category, or the
 * session that ended last), the plan (every course, its target file in the
 * store, its estimated size, the store's free space and the verdict), and
 * the run: Moodle's own backup.php for each course into a temporary folder
 * inside the store, checked, renamed into place, recorded in the manifest,
 * the journal and the index; through the engine (window, parallel jobs,
 * pause/resume/cancel, progress, mail).
 */
#ifndef SA_OP_ARCHIVE_H
#define SA_OP_ARCHIVE_H

struct cli;

/* Per-course overhead added to the estimate: the XML of a backup. */
#define ARCHIVE_OVERHEAD (16 * 1024)
/* Free space must exceed the estimate by this much (percent). */
#define ARCHIVE_MARGIN_PCT 10

int cmd_plan(struct cli *cli, int argc, char **argv);
int cmd_archive(struct cli *cli, int argc, char **argv);

#endif
