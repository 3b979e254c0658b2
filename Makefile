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

.PHONY: all test sanitize bench clean demo fuzz deps
# Debian packages paw builds and tests with (`make deps`, needs root).
DEB_DEPS := build-essential clang pkg-config python3 python3-pip ca-certificates \
            libpcre2-dev libcurl4-openssl-dev libzip-dev libjansson-dev \
            libutf8proc-dev libcmocka-dev libssl-dev
all: paw $(TEST_BIN) $(BENCH_BIN)

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SIMD_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.avxvnni.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVXVNNI_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.avx512.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@

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

# The README's test command.  Runs every test binary, prints `N passed, N failed`.
test: $(BUILD)/paw $(TEST_BIN)
	BUILD=$(BUILD) bash tests/run.sh

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
