#!/usr/bin/env bash
# `paw run` over many stdin lines: order kept, RSS flat, time per line.
#
#   bench/run_lines.sh PROGRAM INPUTS.txt [N_LINES] [THREADS]
#
# Feeds N_LINES (default 10000) lines to `paw run --jsonl PROGRAM`, cycling
# through INPUTS.txt (one input per line) and numbering each ("#<n> <input>")
# so that every line is distinct and the order can be checked.  Samples the
# process's VmRSS when 1,000 and when N_LINES - 1 outputs have been written,
# checks that output line k echoes input line k, and prints one summary line.
set -euo pipefail
prog=$1 inputs=$2 n=${3:-10000} threads=${4:-1}
paw=${PAW_BIN:-$(dirname "$0")/../build/paw}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$inputs" "$n" > "$tmp/in.jsonl" <<'EOF'
import json, sys
lines = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
for k in range(int(sys.argv[2])):
    print(json.dumps({"input": "#%d %s" % (k + 1, lines[k % len(lines)])}))
EOF
start=$(date +%s.%N)
"$paw" run --jsonl -t "$threads" "$prog" < "$tmp/in.jsonl" > "$tmp/out.jsonl" 2> "$tmp/err.txt" &
pid=$!
rss1k="" rss_end="" t1k=""
while kill -0 "$pid" 2> /dev/null; do
    got=$(wc -l < "$tmp/out.jsonl")
    rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status 2> /dev/null || true)
    if [ -z "$rss1k" ] && [ "$got" -ge 1000 ] && [ -n "$rss" ]; then rss1k=$rss; t1k=$(date +%s.%N); fi
    if [ "$got" -ge $((n - 1)) ] && [ -n "$rss" ]; then rss_end=$rss; fi
    # progress samples (lines done, seconds, VmRSS kB) for long runs
    if [ -n "${RUN_LINES_LOG:-}" ] && [ $((SECONDS - ${last_log:-0})) -ge 10 ]; then
        last_log=$SECONDS
        echo "$got $SECONDS ${rss:-0}" >> "$RUN_LINES_LOG"
    fi
    sleep 0.05
done
wait "$pid"
end=$(date +%s.%N)
python3 - "$tmp/in.jsonl" "$tmp/out.jsonl" "$n" "$start" "$end" "${rss1k:-0}" "${rss_end:-0}" "${t1k:-0}" <<'EOF'
import json, sys
inp = [json.loads(l)["input"] for l in open(sys.argv[1])]
out = [json.loads(l) for l in open(sys.argv[2])]
n, t0, t1 = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
rss1k, rss_end, t1k = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8])
assert len(out) == n, "expected %d output lines, got %d" % (n, len(out))
order = all(o.get("input") == i for o, i in zip(out, inp))
errors = sum("error" in o for o in out)
ms = [o["ms"] for o in out]
print("lines %d  order kept %s  errors %d  wall %.1f s  %.1f ms/line (mean call %.1f ms)  "
      "VmRSS at 1k lines %.1f MB, at %d lines %.1f MB" %
      (n, "yes" if order else "NO", errors, t1 - t0, (t1 - t0) * 1e3 / n, sum(ms) / n,
       rss1k / 1024, n - 1, rss_end / 1024))
sys.exit(0 if order and errors == 0 else 1)
EOF
