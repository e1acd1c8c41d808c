/*
 * op_purge: deleting an outgoing category and its courses on the source
 * platform (after a passing verify) or on the archive platform (an old
 * session), with preview and dry run. See op_purge.c.
 */
#ifndef SA_OP_PURGE_H
#define SA_OP_PURGE_H

struct cli;

int cmd_purge(struct cli *cli, int argc, char **argv);

#endif
