# paw — Program-as-Weights in C.  `make` builds build/libpaw.a and ./paw;
# `make test` runs the whole suite; `make sanitize` runs it under ASan+UBSan.
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
PKGS    := libpcre2-8 libcurl libzip jansson libutf8proc libcrypto
CFLAGS  += -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE -pthread \
           -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm -pthread
# Library objects serve both libpaw.a and libpaw.so: position-independent, and
# only what include/paw.h marks PAW_API is exported from the shared object.
LIB_CFLAGS := -fPIC -fvisibility=hidden -DPAW_BUILDING_LIBRARY
VERSION := $(shell sed -n 's/^\#define PAW_VERSION "\(.*\)"/\1/p' include/paw.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libpaw.so.$(SOMAJOR)
PREFIX  ?= /usr/local
# Files named *_avx2.c hold the SIMD kernels; they are compiled for AVX2/FMA/F16C
# and only ever called after a run-time CPU check (src/core/cpu.c).
SIMD_FLAGS := -mavx2 -mfma -mf16c

LIB_SRC  := $(sort $(shell find src -name '*.c'))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
# The matrix kernels are compiled once more per extra kernel set, from the
# same source with that set's flags (src/core/avx2_util.h says why); cpu.c
# picks one at run time.
ISA_SRC  := src/core/matmul_avx2.c src/core/kquant_avx2.c
AVXVNNI_FLAGS := $(SIMD_FLAGS) -mavxvnni -DPAW_ISA_AVXVNNI
AVX512_FLAGS  := $(SIMD_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512vnni -DPAW_ISA_AVX512
LIB_OBJ  += $(ISA_SRC:%.c=$(BUILD)/%.avxvnni.o) $(ISA_SRC:%.c=$(BUILD)/%.avx512.o)
CLI_SRC  := $(sort $(wildcard tools/paw/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test sanitize bench clean demo fuzz deps install python paw-serve pyvenv
# Debian packages paw builds and tests with (`make deps`, needs root).
DEB_DEPS := build-essential clang pkg-config python3 python3-pip python3-venv ca-certificates \
            libpcre2-dev libcurl4-openssl-dev libzip-dev libjansson-dev \
            libutf8proc-dev libcmocka-dev libssl-dev
# `paw serve` (tools/server, the paw-serve binary `paw serve` execs); its
# playground test drives Debian's chromium through chromium-driver (test only).
DEB_DEPS += libmicrohttpd-dev chromium chromium-driver
all: paw paw-serve $(BUILD)/libpaw.so $(TEST_BIN) $(BENCH_BIN)

$(BUILD)/src/%_avx2.o: src/%_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) $(SIMD_FLAGS) -MMD -MP -c $< -o $@

# Files named *_avx512.c hold kernels that exist only for the AVX-512 set.
$(BUILD)/src/%_avx512.o: src/%_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.avxvnni.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) $(AVXVNNI_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.avx512.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libpaw.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The shared object: libpaw.so -> libpaw.so.MAJOR (the SONAME) -> libpaw.so.VERSION.
$(BUILD)/libpaw.so.$(VERSION): $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -o $@ $^ $(LDLIBS)

$(BUILD)/libpaw.so: $(BUILD)/libpaw.so.$(VERSION)
	ln -sf libpaw.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf libpaw.so.$(VERSION) $@

$(BUILD)/paw: $(CLI_OBJ) $(BUILD)/libpaw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

paw: $(BUILD)/paw
	@if [ "$(BUILD)" = build ]; then cp $(BUILD)/paw paw; fi

# The HTTP server: its own front end, a thin client of libpaw like the CLI; the
# playground's files (tools/server/www) are compiled into it.
SERVE_SRC := $(sort $(wildcard tools/server/*.c))
SERVE_OBJ := $(SERVE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/tools/server/static_gen.o
SERVE_WWW := $(sort $(wildcard tools/server/www/*))
$(SERVE_OBJ): CFLAGS += $(shell pkg-config --cflags libmicrohttpd) -Itools/server
$(BUILD)/tools/server/static_gen.c: tools/server/embed.py $(SERVE_WWW)
	@mkdir -p $(dir $@)
	python3 tools/server/embed.py $@ $(SERVE_WWW)
$(BUILD)/tools/server/static_gen.o: $(BUILD)/tools/server/static_gen.c
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/paw-serve: $(SERVE_OBJ) $(BUILD)/libpaw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libmicrohttpd)
paw-serve: $(BUILD)/paw-serve
	@if [ "$(BUILD)" = build ]; then cp $(BUILD)/paw-serve paw-serve; fi

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(BUILD)/libpaw.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libpaw.a $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libpaw.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libpaw.a $(LDLIBS)

# The README's test command.  Runs every test binary, replays the fuzzers'
# seed corpora, runs the Python oracles and the pytest suites (python/tests,
# tests/server); prints `N passed, N failed, N skipped`.
test: $(BUILD)/paw $(BUILD)/libpaw.so $(TEST_BIN) fuzz pyvenv
	BUILD=$(BUILD) PAW_SANITIZED=$(PAW_SANITIZED) bash tests/run.sh

# The test-only Python packages of tests/oracle/ (tests/requirements.txt), in
# a venv of their own so the system Python stays untouched.
PYVENV := build/pyvenv
pyvenv: $(PYVENV)/.installed
$(PYVENV)/.installed: tests/requirements.txt
	rm -rf $(PYVENV)
	python3 -m venv $(PYVENV)
	$(PYVENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
	touch $@

sanitize:
	$(MAKE) BUILD=build-san PAW_SANITIZED=1 OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" test

# Fuzzers: every fuzz/fuzz_*.c becomes build-fuzz/fuzz_*, built with clang and
# libFuzzer against a libpaw instrumented for coverage, ASan and UBSan (no
# cmocka).  How to run them: fuzz/README.md.
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
fuzz:
	$(MAKE) CC=clang BUILD=build-fuzz \
	    OPT="-O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	    $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)

$(BUILD)/fuzz_%: fuzz/fuzz_%.c $(BUILD)/libpaw.a
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libpaw.a $(LDLIBS)

deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_DEPS)

# End to end on the default model: fetch SmolLM2-135M, compile a fuzzy
# function from its spec and 12 examples (no teacher), run it on new inputs.
demo: paw
	./paw pull smollm2-135m
	./paw compile "Classify a log line: ALERT if it describes an outage, a failure or data loss, otherwise QUIET." \
	    --examples examples/triage.jsonl --no-teacher -o $(BUILD)/triage.paw
	./paw run $(BUILD)/triage.paw < examples/triage-inputs.txt

# Installs the header, both libraries, the CLI and paw.pc under PREFIX
# (DESTDIR is prepended, for packagers).
install: $(BUILD)/paw $(BUILD)/libpaw.a $(BUILD)/libpaw.so
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/paw $(DESTDIR)$(PREFIX)/bin/paw
	install -m 644 include/paw.h $(DESTDIR)$(PREFIX)/include/paw.h
	install -m 644 $(BUILD)/libpaw.a $(DESTDIR)$(PREFIX)/lib/libpaw.a
	install -m 755 $(BUILD)/libpaw.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libpaw.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf libpaw.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libpaw.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@REQUIRES@|$(PKGS)|' paw.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/paw.pc

# The Python package in a virtualenv (build/venv): `. build/venv/bin/activate`.
python: $(BUILD)/libpaw.so
	python3 -m venv $(BUILD)/venv
	$(BUILD)/venv/bin/pip install -q ./python

bench: all
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf build build-san build-fuzz paw paw-serve

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SERVE_OBJ:.o=.d)
