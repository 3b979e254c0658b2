# paw — Program-as-Weights in C.  `make` builds build/libpaw.a and ./paw;
# `make test` runs the whole suite; `make sanitize` runs it under ASan+UBSan.
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
PKGS    := libpcre2-8 libcurl libzip jansson libutf8proc libcrypto
CFLAGS  += -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE -pthread \
           -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm -pthread
# Files named *_avx2.c hold the SIMD kernels; they are compiled for AVX2/FMA/F16C
# and only ever called after a run-time CPU check (src/core/cpu.c).
SIMD_FLAGS := -mavx2 -mfma -mf16c

LIB_SRC  := $(sort $(shell find src -name '*.c'))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_SRC  := $(sort $(wildcard tools/paw/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test sanitize bench clean demo fuzz deps pyvenv
# Debian packages paw builds and tests with (`make deps`, needs root).
DEB_DEPS := build-essential clang pkg-config python3 python3-pip python3-venv ca-certificates \
            libpcre2-dev libcurl4-openssl-dev libzip-dev libjansson-dev \
            libutf8proc-dev libcmocka-dev libssl-dev
all: paw $(TEST_BIN) $(BENCH_BIN)

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SIMD_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libpaw.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/paw: $(CLI_OBJ) $(BUILD)/libpaw.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

paw: $(BUILD)/paw
	@if [ "$(BUILD)" = build ]; then cp $(BUILD)/paw paw; fi

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(BUILD)/libpaw.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libpaw.a $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libpaw.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libpaw.a $(LDLIBS)

# The README's test command.  Runs every test binary, replays the fuzzers'
# seed corpora and runs the Python oracles; prints `N passed, N failed, N skipped`.
test: $(BUILD)/paw $(TEST_BIN) fuzz pyvenv
	BUILD=$(BUILD) bash tests/run.sh

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
	$(MAKE) BUILD=build-san OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" test

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

bench: all
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf build build-san build-fuzz paw

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
