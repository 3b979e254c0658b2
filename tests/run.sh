#!/usr/bin/env bash
# Runs every test binary under $BUILD/tests with cmocka's TAP output and prints
# one closing line: `N passed, N failed`.  A binary that crashes or exits
# non-zero without reporting a failing test counts as one failure of its own.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
export CMOCKA_MESSAGE_OUTPUT=TAP
export PAW_SHARED=${PAW_SHARED:-$(cd .. && pwd)/shared}
export PAW_BIN=${PAW_BIN:-$PWD/$BUILD/paw}
pass=0; fail=0
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    out=$("$t" 2>&1); rc=$?
    p=$(grep -c '^ok ' <<<"$out")
    f=$(grep -c '^not ok ' <<<"$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -ne 0 ]; then
        echo "FAIL $name (exit $rc)"; echo "$out" | grep -v '^ok ' | sed 's/^/    /'
    else
        echo "ok   $name ($p tests)"
    fi
done
# The Python binding's tests (python/tests, pytest) run against this build's
# libpaw.so.  The sanitized build is left to the C tests: an ASan runtime
# would have to be preloaded into the interpreter, and its quarantine would
# swamp the memory-growth check.
if [ "${PAW_SANITIZED:-0}" = 1 ]; then
    echo "--   python/tests run by the plain build's \`make test\`"
else
    out=$(BUILD="$BUILD" python3 -m pytest -q -p no:cacheprovider python/tests 2>&1); rc=$?
    summary=$(tail -n 1 <<<"$out")
    p=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || true)
    f=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$summary" | awk '{s += $1} END {print s + 0}')
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -ne 0 ]; then
        echo "FAIL python/tests (exit $rc)"; echo "$out" | sed 's/^/    /'
    else
        echo "ok   python/tests ($p tests)"
    fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
