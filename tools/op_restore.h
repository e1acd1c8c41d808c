/*
 * op_restore: the second half of the transfer, on the archive platform.
 * See op_restore.c for the exactly-once rule.
 */
#ifndef SA_OP_RESTORE_H
#define SA_OP_RESTORE_H

struct cli;

int cmd_restore(struct cli *cli, int argc, char **argv);

#endif
