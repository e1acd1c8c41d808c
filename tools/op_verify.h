/*
 * op_verify: the control report that proves a session's archive complete.
 * See op_verify.c.
 */
#ifndef SA_OP_VERIFY_H
#define SA_OP_VERIFY_H

struct cli;

int cmd_verify(struct cli *cli, int argc, char **argv);

#endif
