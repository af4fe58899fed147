# dosips - intrusion prevention daemon.  `make check` is the whole test suite.
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var/lib
UNITDIR ?= /lib/systemd/system
LIBEXECDIR ?= $(PREFIX)/libexec
DESTDIR ?=
VERSION := 0.1.0

CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wshadow -Wno-unused-parameter -Iinclude \
	  -MMD -MP -D_GNU_SOURCE -DDOSIPS_VERSION='"$(VERSION)"' \
	  -DSYSCONFDIR='"$(SYSCONFDIR)"' -DLOCALSTATEDIR='"$(LOCALSTATEDIR)"'
LIBS_PC := libpcap libmnl libnftnl libcap-ng libcurl json-c sqlite3 libmicrohttpd
CFLAGS += $(shell $(PKG_CONFIG) --cflags $(LIBS_PC) 2>/dev/null)
# Debian's libev ships no .pc file; use it when present, else plain -lev.
LDLIBS += $(shell $(PKG_CONFIG) --libs $(LIBS_PC) 2>/dev/null) \
	  $(shell $(PKG_CONFIG) --libs libev 2>/dev/null || echo -lev) -lm

# BUILD=asan gives an ASan+UBSan tree beside the normal one; BUILD=fuzz a
# clang tree with libFuzzer's coverage for tests/fuzz/*.c (make fuzzers).
BUILD ?= release
ifeq ($(BUILD),asan)
O := build/asan
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else ifeq ($(BUILD),fuzz)
O := build/fuzz
CC := clang
CFLAGS += -O1 -fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer \
	  -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
O := build/release
endif

ifneq ($(V),1)
Q := @
quiet = @printf '  %-7s %s\n' $(1) $(2);
endif

CTL_SRC := src/dosipsctl.c
DAEMON_SRC := $(filter-out $(CTL_SRC),$(wildcard src/*.c))
LIB_OBJ := $(patsubst src/%.c,$(O)/%.o,$(filter-out src/main.c,$(DAEMON_SRC)))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRC))
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(patsubst tests/tools/%.c,$(O)/tools/%,$(TOOL_SRC))
CTL_BIN := $(if $(wildcard $(CTL_SRC)),$(O)/dosipsctl)

all: $(O)/dosips $(CTL_BIN) dosips $(if $(CTL_BIN),dosipsctl)

# Top-level links to the release binaries, for `./dosips` by hand.
dosips dosipsctl: %: build/release/%
	$(Q)ln -sf $< $@

# Every module but main in one archive: each program and test takes only
# the objects it calls, and --as-needed only the libraries those call.
LIB := $(O)/libdosips.a
AS_NEEDED := -Wl,--as-needed

$(LIB): $(LIB_OBJ)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(O)/dosips: $(O)/main.o $(LIB)
	$(call quiet,LINK,$@)$(CC) $(LDFLAGS) $(AS_NEEDED) -o $@ $^ $(LDLIBS)

$(O)/dosipsctl: $(O)/dosipsctl.o $(LIB)
	$(call quiet,LINK,$@)$(CC) $(LDFLAGS) $(AS_NEEDED) -o $@ $^ $(LDLIBS)

$(O)/%.o: src/%.c
	@mkdir -p $(@D)
	$(call quiet,CC,$@)$(CC) $(CFLAGS) -c -o $@ $<

# The page's files are compiled into http.o (.incbin).
$(O)/http.o: $(wildcard web/*)

$(O)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(@D)
	$(call quiet,CC,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(LDLIBS) -lcmocka

$(O)/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(@D)
	$(call quiet,CC,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(LDLIBS)

$(O)/fuzz/%: tests/fuzz/%.c $(LIB)
	@mkdir -p $(@D)
	$(call quiet,CC,$@)$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $(filter-out %.h,$^) $(LDLIBS)

# detect's portable fallbacks (no SSE2, no 128-bit multiply) built and
# tested too: the same tests against a detect.o compiled without them.
PORTABLE_BIN := $(O)/tests/test_detect_portable $(O)/tests/test_detect_model_portable \
		$(O)/tests/test_flows_portable

$(O)/%_portable.o: src/%.c
	$(call quiet,CC,$@)$(CC) $(CFLAGS) -DDETECT_PORTABLE -c -o $@ $<

$(O)/tests/%_portable: tests/unit/%.c $(O)/detect_portable.o $(O)/flows_portable.o $(LIB)
	@mkdir -p $(@D)
	$(call quiet,CC,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(LDLIBS) -lcmocka

tests: $(UNIT_BIN) $(PORTABLE_BIN) $(TOOL_BIN)

# The libFuzzer targets; only in the fuzz tree (make BUILD=fuzz fuzzers).
fuzzers: $(if $(filter fuzz,$(BUILD)),$(FUZZ_BIN))

deps:
	$(Q)sh scripts/deps.sh

# Unit tests of one build tree (release or asan).
unit: $(UNIT_BIN)
	$(Q)set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

check: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)$(MAKE) --no-print-directory BUILD=asan all tests
	$(Q)sh tests/run.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)sh scripts/bench.sh

# Live capacity and ban storms in lab namespaces (root; scripts/bench-*.sh).
bench-live: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh scripts/bench-live.sh
	$(Q)sh scripts/bench-storm.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh scripts/demo.sh

IFACE ?=
ARGS ?=
run: deps
	$(Q)$(MAKE) --no-print-directory all
	./build/release/dosips $(if $(IFACE),-i $(IFACE)) $(ARGS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(SYSCONFDIR)/dosips $(DESTDIR)$(UNITDIR)
	install -d -m 750 $(DESTDIR)$(LOCALSTATEDIR)/dosips
	install -m 755 build/release/dosips $(DESTDIR)$(BINDIR)/dosips
	$(if $(CTL_BIN),install -m 755 build/release/dosipsctl $(DESTDIR)$(BINDIR)/dosipsctl)
	for f in man/*.8; do [ -e "$$f" ] && install -m 644 $$f $(DESTDIR)$(MANDIR)/man8/ || true; done
	for f in man/*.5; do [ -e "$$f" ] && install -m 644 $$f $(DESTDIR)$(MANDIR)/man5/ || true; done
	[ -e $(DESTDIR)$(SYSCONFDIR)/dosips/dosips.conf ] || \
		sed -e 's|/etc/dosips/|$(SYSCONFDIR)/dosips/|g' \
		    -e 's|/var/lib/dosips/|$(LOCALSTATEDIR)/dosips/|g' policy/dosips.conf \
		> $(DESTDIR)$(SYSCONFDIR)/dosips/dosips.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/dosips/whitelist ] || \
		install -m 644 policy/whitelist $(DESTDIR)$(SYSCONFDIR)/dosips/whitelist
	sed -e 's|/usr/local/sbin/|$(BINDIR)/|g' -e 's|/etc/dosips/|$(SYSCONFDIR)/dosips/|g' \
		policy/dosips.service > $(DESTDIR)$(UNITDIR)/dosips.service
	chmod 644 $(DESTDIR)$(UNITDIR)/dosips.service
	install -d $(DESTDIR)$(LIBEXECDIR)/dosips
	install -m 755 scripts/webhook-hook.sh $(DESTDIR)$(LIBEXECDIR)/dosips/webhook-hook.sh
	install -d $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 644 policy/dosips.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/dosips
	# The unprivileged account dosips runs as (the unit's User=, the
	# default `user`); not for a staged install (DESTDIR).
	[ -n "$(DESTDIR)" ] || id -u dosips >/dev/null 2>&1 || \
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "dosips daemon" dosips

clean:
	rm -rf build dosips dosipsctl

.PHONY: all tests fuzzers deps unit check bench bench-live demo run install clean
.DELETE_ON_ERROR:

-include $(wildcard $(O)/*.d $(O)/tests/*.d $(O)/tools/*.d $(O)/fuzz/*.d)
