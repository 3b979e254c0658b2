#!/usr/bin/env bash
# Runs every test binary under $BUILD/tests with cmocka's TAP output, again
# the portable-path subset under PAW_SIMD=scalar, every fuzzer over its seed
# corpus, and the Python oracle tests (tests/oracle/), then prints one
# closing line: `N passed, N failed, N skipped`.  A skipped test fails the
# run (cmocka prints "not ok # SKIP" or, newer, "ok # SKIP": both are counted
# as skips, never as passes).  A binary that crashes or exits non-zero
# without reporting a failing test counts as one failure of its own, and so
# does a missing prerequisite (fuzzers: `make fuzz`; oracles: `make pyvenv`).
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
export CMOCKA_MESSAGE_OUTPUT=TAP
export PAW_SHARED=${PAW_SHARED:-$(cd .. && pwd)/shared}
export PAW_BIN=${PAW_BIN:-$BUILD/paw}
export PAW_BUILD=$BUILD
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
PAW_PYTHON=${PAW_PYTHON:-$PWD/build/pyvenv/bin/python}
# Tests whose code has a scalar twin of an AVX2 path: run once more with the
# kernel set forced to the portable one.
SCALAR_LEG=${SCALAR_LEG:-test_matmul test_train test_lora_trained}
pass=0; fail=0; skip=0

# report NAME RC OUTPUT: counts the TAP lines of one run and prints its line.
report() {
    local name=$1 rc=$2 out=$3 p f s
    s=$(grep -c '^\(not \)\?ok .*# SKIP' <<<"$out")
    p=$(grep '^ok ' <<<"$out" | grep -vc '# SKIP')
    f=$(grep '^not ok ' <<<"$out" | grep -vc '# SKIP')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$f" -ne 0 ] || [ "$s" -ne 0 ]; then
        echo "FAIL $name (exit $rc, $f failed, $s skipped)"
        grep -v '^ok ' <<<"$out" | sed 's/^/    /'
    else
        echo "ok   $name ($p tests)"
    fi
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    report "$(basename "$t")" "$rc" "$out"
done

for name in $SCALAR_LEG; do
    t="$BUILD/tests/$name"
    if [ -x "$t" ]; then out=$(PAW_SIMD=scalar "$t" 2>&1); rc=$?
    else out="not ok 1 - $t is not built"; rc=1; fi
    report "$name[PAW_SIMD=scalar]" "$rc" "$out"
done

# Each fuzzer replays its seed corpus once (-runs=0: no new inputs).
for src in fuzz/fuzz_*.c; do
    name=$(basename "$src" .c); corpus=fuzz/corpus/${name#fuzz_}; fz=$FUZZ_BUILD/$name
    if [ ! -x "$fz" ]; then out="not ok 1 - $fz is not built: run \`make fuzz\`"; rc=1
    elif [ ! -d "$corpus" ]; then out="not ok 1 - no seed corpus $corpus"; rc=1
    else
        log=$("$fz" -runs=0 "$corpus" 2>&1); rc=$?
        if [ "$rc" -eq 0 ]; then out="ok 1 - $name replays $corpus"
        else out="not ok 1 - $name on $corpus"$'\n'"$(tail -n 30 <<<"$log")"; fi
    fi
    report "$name[corpus]" "$rc" "$out"
done

# Independent oracles in Python (gguf-py, tokenizers, numpy, jinja2).
for t in tests/oracle/test_*.py; do
    [ -e "$t" ] || continue
    if [ -x "$PAW_PYTHON" ]; then out=$("$PAW_PYTHON" "$t" 2>&1); rc=$?
    else out="not ok 1 - no $PAW_PYTHON: run \`make pyvenv\`"; rc=1; fi
    report "$(basename "$t")" "$rc" "$out"
done

# The pytest suites: the Python binding (python/tests) and the HTTP server
# (tests/server), each against this build.  The sanitized build leaves them
# to the plain build's run: an ASan runtime would have to be preloaded into
# the interpreter, and its quarantine would swamp the memory-growth check.
for suite in python/tests tests/server; do
    if [ "${PAW_SANITIZED:-0}" = 1 ]; then
        echo "--   $suite: run by the plain build's \`make test\`"
        continue
    fi
    if [ -x "$PAW_PYTHON" ]; then
        out=$(BUILD="$BUILD" "$PAW_PYTHON" -m pytest -q -rfEs -p no:cacheprovider "$suite" 2>&1); rc=$?
    else out="no $PAW_PYTHON: run \`make pyvenv\`"; rc=1; fi
    summary=$(tail -n 1 <<<"$out")
    p=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || true)
    f=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$summary" | awk '{s += $1} END {print s + 0}')
    s=$(grep -oE '[0-9]+ skipped' <<<"$summary" | grep -oE '[0-9]+' || true)
    p=${p:-0}; f=${f:-0}; s=${s:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$f" -ne 0 ] || [ "$s" -ne 0 ]; then
        echo "FAIL $suite (exit $rc, $f failed, $s skipped)"; echo "$out" | sed 's/^/    /'
    else
        echo "ok   $suite ($p tests)"
    fi
done

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$skip" -eq 0 ]
