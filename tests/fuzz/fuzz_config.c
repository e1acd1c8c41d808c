/*
 * libFuzzer target for common/config: any bytes through
 * config_load_string(), then config_set() with the input split at its first
 * '=', and the window and session helpers on whatever loaded. Build and run
 * by hand (not part of make):
 *
 *   clang -std=c17 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *         -Icommon tests/fuzz/fuzz_config.c common/config.c common/strbuf.c \
 *         common/xalloc.c $(pkg-config --cflags --libs inih) -o fuzz_config
 *   ./fuzz_config -max_total_time=60 tests/fuzz/corpus/config
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = config_new();
	char err[1024], name[64];
	char *text = malloc(size + 1), *eq;

	memcpy(text, data, size);
	text[size] = '\0';
	if (config_load_string(cfg, text, "fuzz.conf", err, sizeof(err)) == 0) {
		time_t t = 1795694405; /* 2026-11-26 12:00:05 UTC */

		config_check(cfg, err, sizeof(err));
		config_window_contains(&cfg->window, t);
		config_window_next_open(&cfg->window, t);
		config_window_next_close(&cfg->window, t);
		config_session_name_for(cfg, t, name, sizeof(name));
	}
	eq = strchr(text, '=');
	if (eq) {
		*eq = '\0';
		config_set(cfg, text, eq + 1, err, sizeof(err));
	}
	config_free(cfg);
	free(text);
	return 0;
}
