/*
 * libFuzzer target for indexer/mbz: any bytes through mbz_read_mem() in
 * both modes; every result is released so LeakSanitizer sees the error
 * paths too. Seeds: tests/fuzz/corpus/mbz (tiny tar.gz and zip backups).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Icommon -Iindexer \
 *     $(pkg-config --cflags libarchive expat libcrypto) \
 *     tests/fuzz/fuzz_mbz.c indexer/mbz.c common/strbuf.c common/xalloc.c \
 *     $(pkg-config --libs libarchive expat libcrypto) -o /tmp/fuzz_mbz
 *   mkdir -p /tmp/mbz-corpus
 *   /tmp/fuzz_mbz -max_total_time=60 /tmp/mbz-corpus tests/fuzz/corpus/mbz
 */
#include <stddef.h>
#include <stdint.h>

#include "mbz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbz_info info;
	char err[256];

	mbz_info_init(&info);
	mbz_read_mem(data, size, MBZ_FULL, &info, err, sizeof(err));
	mbz_info_release(&info);
	mbz_read_mem(data, size, MBZ_FAST, &info, err, sizeof(err));
	mbz_info_release(&info);
	return 0;
}
