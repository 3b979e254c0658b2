#!/usr/bin/env bash
# `paw run` throughput over a stream of short inputs, --batch 1 against
# larger batches, side by side in one run.
#
#   bench/run_batch.sh PROGRAM INPUTS.txt [N_LINES] [THREADS] [BATCHES]
#
# Feeds the first N_LINES (default 200) non-empty lines of INPUTS.txt (or
# its "line"/"input" field for a .jsonl file) to `paw run --jsonl PROGRAM
# --batch B` for each B in BATCHES (default "1 4 8 16"), after one warm-up
# run (prefix KV on disk, pages in cache).  Checks that every batch size
# gives the --batch 1 outputs, in order, and prints inputs/s for each.
# PAW_RUN_ARGS adds options to every `paw run` (e.g. PAW_RUN_ARGS=--int8).
# A timing: run it under the heavy lock on a shared machine.
set -euo pipefail
prog=$1 inputs=$2 n=${3:-200} threads=${4:-2} batches=${5:-"1 4 8 16"}
paw=${PAW_BIN:-$(dirname "$0")/../build/paw}
read -r -a extra <<< "${PAW_RUN_ARGS:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$inputs" "$n" > "$tmp/in.jsonl" <<'PY'
import json, sys
src, n = sys.argv[1], int(sys.argv[2])
out = []
for l in open(src):
    if not l.strip():
        continue
    if src.endswith(".jsonl"):
        o = json.loads(l)
        l = o.get("input", o.get("line", ""))
    out.append(l.rstrip("\n"))
    if len(out) == n:
        break
for l in out:
    print(json.dumps({"input": l}))
PY
"$paw" run --jsonl -t "$threads" --batch 1 ${extra[@]+"${extra[@]}"} "$prog" < <(head -5 "$tmp/in.jsonl") > /dev/null
echo "program $prog  lines $(wc -l < "$tmp/in.jsonl")  threads $threads  ${PAW_RUN_ARGS:-}  $(uptime | sed 's/.*load/load/')"
for b in $batches; do
    start=$(date +%s.%N)
    "$paw" run --jsonl -t "$threads" --batch "$b" ${extra[@]+"${extra[@]}"} "$prog" < "$tmp/in.jsonl" > "$tmp/out$b.jsonl"
    end=$(date +%s.%N)
    python3 - "$tmp/out1.jsonl" "$tmp/out$b.jsonl" "$b" "$start" "$end" <<'PY'
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1])]
out = [json.loads(l) for l in open(sys.argv[2])]
b, t0, t1 = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
same = [(o["input"], o.get("output")) for o in out] == [(o["input"], o.get("output")) for o in ref]
errors = sum("error" in o for o in out)
print("batch %2d  %6.1f inputs/s  wall %6.2f s  outputs = batch 1: %s  errors %d" %
      (b, len(out) / (t1 - t0), t1 - t0, "yes" if same else "NO", errors))
sys.exit(0 if same and errors == 0 else 1)
PY
done
