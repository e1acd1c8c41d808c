# sessionarchiver: one non-recursive Makefile (see README.md, STYLE.md).
#
#   make            build/sessionarchiver and build/sessionarchiverfs
#   make test       unit + integration tests, C built with ASan and UBSan
#   make demo       archive a demo session between two fake Moodle sites
#   make bench      benchmarks (not part of CI)
#   make deps       install the Debian packages needed to build, test, demo
#   make install / uninstall   PREFIX, DESTDIR honoured
#   V=1             echo the commands

VERSION    := 0.1.0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/sessionarchiver
DESTDIR    ?=

# SAN=1 builds the ASan+UBSan variant into its own tree.
ifeq ($(SAN),1)
BUILD      ?= build/asan
SANFLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
else
BUILD      ?= build
SANFLAGS   :=
endif

CC         ?= cc
PKG_CONFIG ?= pkg-config
PYTHON     ?= /usr/bin/python3

# Libraries of the whole program, and what each binary adds: the mount
# starts operations as CLI processes, so it links no Moodle client.
PKGS_CORE  := libarchive sqlite3 inih expat libcrypto jansson zlib
PKGS_TOOLS := libcurl mysqlclient libpq
PKGS_FS    := fuse3
PKGS_ALL   := $(PKGS_CORE) $(PKGS_TOOLS) $(PKGS_FS)

# The walls between layers (README.md): each folder sees its own headers,
# those of the layers it may call, and only their libraries' headers.
pkg_cflags = $(shell $(PKG_CONFIG) --cflags $(1))
LAYER_common  := -Icommon $(call pkg_cflags,$(PKGS_CORE) libcurl)
LAYER_indexer := -Icommon -Iindexer $(call pkg_cflags,$(PKGS_CORE))
LAYER_moodle  := -Icommon -Imoodle $(call pkg_cflags,$(PKGS_CORE) $(PKGS_TOOLS))
LAYER_tools   := -Icommon -Iindexer -Imoodle -Itools \
                 $(call pkg_cflags,$(PKGS_ALL))
LAYER_fs      := -Icommon -Iindexer -Ifs $(call pkg_cflags,$(PKGS_CORE) $(PKGS_FS))
LAYER_tests   := -Icommon -Iindexer -Imoodle -Itools -Ifs \
                 $(call pkg_cflags,$(PKGS_ALL) cmocka)
layer = $(LAYER_$(firstword $(subst /, ,$(1))))

CFLAGS     ?= -O2 -g
SA_CFLAGS  := -std=c17 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
              -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=35 \
              -DSA_VERSION='"$(VERSION)"' \
              -DSA_DATADIR='"$(DATADIR)/sessionarchiver"' \
              -DSA_BINDIR='"$(BINDIR)"' \
              $(SANFLAGS) -MMD -MP
SA_LDFLAGS := $(SANFLAGS) $(LDFLAGS)
LIBS_CLI   := $(shell $(PKG_CONFIG) --libs $(PKGS_ALL)) -lpthread
LIBS_FS    := $(shell $(PKG_CONFIG) --libs $(PKGS_CORE) $(PKGS_FS)) -lpthread
LIBS_TEST  := $(LIBS_CLI) $(shell $(PKG_CONFIG) --libs cmocka)

ifeq ($(V),1)
Q :=
else
Q := @
endif

COMMON_SRC  := $(wildcard common/*.c)
INDEXER_SRC := $(wildcard indexer/*.c)
MOODLE_SRC  := $(wildcard moodle/*.c)
TOOLS_SRC   := $(filter-out tools/main.c,$(wildcard tools/*.c))
FS_SRC      := $(filter-out fs/main.c,$(wildcard fs/*.c))
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
# LD_PRELOAD shims among the helpers: shared objects, not programs
SHIM_SRC    := tests/helpers/sa-noopenat2.c
HELPER_SRC  := $(filter-out $(SHIM_SRC),$(wildcard tests/helpers/*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIB_COMMON  := $(BUILD)/libcommon.a
LIB_INDEXER := $(BUILD)/libindexer.a
LIB_MOODLE  := $(BUILD)/libmoodle.a
LIB_TOOLS   := $(BUILD)/libtools.a
LIB_FS      := $(BUILD)/libfs.a
CLI         := $(BUILD)/sessionarchiver
FSBIN       := $(BUILD)/sessionarchiverfs
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
HELPER_BINS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/%,$(HELPER_SRC))
SHIM_LIBS   := $(patsubst tests/helpers/%.c,$(BUILD)/tests/%.so,$(SHIM_SRC))

.PHONY: all test unit-tests test-unit test-integration demo bench deps \
        install uninstall clean format
all: $(CLI) $(FSBIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(SA_CFLAGS) $(call layer,$<) $(CFLAGS) -c -o $@ $<

$(LIB_COMMON): $(call obj,$(COMMON_SRC))
$(LIB_INDEXER): $(call obj,$(INDEXER_SRC))
$(LIB_MOODLE): $(call obj,$(MOODLE_SRC))
$(LIB_TOOLS): $(call obj,$(TOOLS_SRC))
$(LIB_FS): $(call obj,$(FS_SRC))
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

# Link order: a library before those it uses.
$(CLI): $(BUILD)/tools/main.o $(LIB_TOOLS) $(LIB_MOODLE) $(LIB_INDEXER) $(LIB_COMMON)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SA_LDFLAGS) -o $@ $^ $(LIBS_CLI)

$(FSBIN): $(BUILD)/fs/main.o $(LIB_FS) $(LIB_INDEXER) $(LIB_COMMON)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SA_LDFLAGS) -o $@ $^ $(LIBS_FS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB_FS) $(LIB_TOOLS) $(LIB_MOODLE) $(LIB_INDEXER) $(LIB_COMMON)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SA_LDFLAGS) -o $@ $^ $(LIBS_TEST)

$(BUILD)/tests/%: $(BUILD)/tests/helpers/%.o $(LIB_FS) $(LIB_TOOLS) $(LIB_MOODLE) $(LIB_INDEXER) $(LIB_COMMON)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SA_LDFLAGS) -o $@ $^ $(LIBS_TEST)

# A shim is preloaded into the sanitized daemon: built without sanitizers,
# since ASan's runtime must not come from a preloaded library.
$(BUILD)/tests/%.so: tests/helpers/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $<")
	$(Q)$(CC) -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP \
		$(CFLAGS) -fPIC -shared -o $@ $< -ldl

unit-tests: $(UNIT_BINS) $(HELPER_BINS) $(SHIM_LIBS)

# cmocka prints its own "[  PASSED  ] N test(s)." summary per program.
test-unit: unit-tests
	$(Q)fail=0; for t in $(UNIT_BINS); do \
		echo "== $$t"; SA_SHARED=$(CURDIR)/../shared $$t || fail=1; \
	done; exit $$fail

# test_mount.py once more with openat2 refused to every daemon, as Linux
# before 5.6, valgrind and some seccomp filters do (issue 13)
test-integration: all unit-tests
	$(Q)SA_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q -rs tests/integration
	$(Q)SA_BUILD=$(CURDIR)/$(BUILD) SA_FS_NO_OPENAT2=1 \
		$(PYTHON) -m pytest -q -rs tests/integration/test_mount.py

# The whole suite, C code under AddressSanitizer and UBSan.
test:
	$(Q)$(MAKE) --no-print-directory SAN=1 test-unit test-integration

demo: all
	$(Q)tests/demo/run-demo.sh $(CURDIR)/$(BUILD)

bench: all
	$(Q)tests/bench/run-bench.sh $(CURDIR)/$(BUILD)

deps:
	$(Q)tests/install-deps.sh

# What `make install` ships besides the programs.
MAN1        := man/sessionarchiver.1 man/sessionarchiverfs.1
MAN5        := man/sessionarchiver.conf.5
COMPLETION  := completion/sessionarchiver.bash
COMPDIR     := $(DATADIR)/bash-completion/completions
BRIDGE      := $(wildcard moodle/bridge/*.php)
EXAMPLES    := $(filter-out examples/hooks,$(wildcard examples/*))
HOOKS       := $(wildcard examples/hooks/*)

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/sessionarchiver
	install -m 755 $(FSBIN) $(DESTDIR)$(BINDIR)/sessionarchiverfs
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	install -d $(DESTDIR)$(COMPDIR)
	install -m 644 $(COMPLETION) $(DESTDIR)$(COMPDIR)/sessionarchiver
	ln -sf sessionarchiver $(DESTDIR)$(COMPDIR)/sessionarchiverfs
ifneq ($(BRIDGE),)
	install -d $(DESTDIR)$(DATADIR)/sessionarchiver
	install -m 644 $(BRIDGE) $(DESTDIR)$(DATADIR)/sessionarchiver/
endif
	install -d $(DESTDIR)$(DOCDIR)/examples/hooks
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	install -m 755 $(HOOKS) $(DESTDIR)$(DOCDIR)/examples/hooks/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sessionarchiver \
	      $(DESTDIR)$(BINDIR)/sessionarchiverfs
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
	      $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5)))
	rm -f $(DESTDIR)$(COMPDIR)/sessionarchiver \
	      $(DESTDIR)$(COMPDIR)/sessionarchiverfs
	rm -rf $(DESTDIR)$(DATADIR)/sessionarchiver
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build

format:
	clang-format -i $(wildcard */*.c */*.h tests/unit/*.c tests/helpers/*.c)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
