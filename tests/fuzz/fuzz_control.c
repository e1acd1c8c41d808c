/*
 * libFuzzer target for fs/control: any bytes through control_parse(), and
 * on success the promises the FUSE write handler relies on. Build and run
 * by hand (not part of make):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ifs \
 *         tests/fuzz/fuzz_control.c fs/control.c -o /tmp/fuzz_control
 *   /tmp/fuzz_control -max_total_time=60 tests/fuzz/corpus/control
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

static const struct control_cmd zero;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_cmd cmd;
	char err[256];

	err[0] = '\0';
	if (control_parse((const char *)data, size, &cmd, err, sizeof(err))) {
		/* a refusal says why and leaves nothing that looks parsed */
		if (err[0] == '\0' || memcmp(&cmd, &zero, sizeof(cmd)) != 0)
			abort();
		return 0;
	}
	if ((size_t)cmd.op > CONTROL_INDEX || size == 0 || size > CONTROL_MAX)
		abort();
	if (cmd.jobs > 64)
		abort();
	if (cmd.window[0] != '\0' &&
	    (strlen(cmd.window) != 11 || cmd.window[5] != '-'))
		abort();
	if (strnlen(cmd.target, sizeof(cmd.target)) == sizeof(cmd.target))
		abort();
	if (cmd.op == CONTROL_PURGE) {
		if (!cmd.side || !cmd.mode)
			abort();
	} else if (cmd.side || cmd.mode) {
		abort();
	}
	if ((cmd.op == CONTROL_RESTORE) != (cmd.target[0] != '\0'))
		abort();
	if (cmd.window[0] != '\0' && cmd.op != CONTROL_ARCHIVE)
		abort();
	if (cmd.deep && cmd.op != CONTROL_VERIFY)
		abort();
	/* the grammar has no control character, so none may get through */
	for (const char *p = cmd.target; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	return 0;
}
