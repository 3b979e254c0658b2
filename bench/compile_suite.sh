#!/usr/bin/env bash
# compile_suite.sh — the compiler's measurement on a fuzzy-function suite:
# for every task, `paw compile` a program from the task's spec and its train
# examples only (the test inputs are never shown to the compiler), then
# `paw eval` all programs on the tasks' test inputs.
#
#   bench/compile_suite.sh SUITE.jsonl OUTDIR [-j JOBS] [-t THREADS] [-- COMPILE ARGS...]
#
# e.g. bench/compile_suite.sh ../shared/eval/fuzzy-public.jsonl build/suite -t 2 -- --no-teacher
#
# JOBS compiles run side by side (default 1; compile times are only
# comparable at -j 1).  Writes OUTDIR/programs/<id>.paw, OUTDIR/logs/<id>.log
# (the compile's stderr and report), OUTDIR/compile.tsv (id, seconds, exit
# status) and OUTDIR/eval.json (paw eval's report), and prints paw eval's
# table.  PAW (default ./paw) and PAW_CACHE_DIR are honoured.  python3 only
# splits the suite (a bench tool; paw itself needs no Python).
set -euo pipefail
suite=${1:?usage: compile_suite.sh SUITE.jsonl OUTDIR [-j JOBS] [-t THREADS] [-- COMPILE ARGS...]}
out=${2:?usage: compile_suite.sh SUITE.jsonl OUTDIR [-j JOBS] [-t THREADS] [-- COMPILE ARGS...]}
shift 2
jobs=1 threads=2
while [ $# -gt 0 ]; do
    case $1 in
        -j) jobs=$2; shift 2 ;;
        -t) threads=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "compile_suite.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
paw=${PAW:-./paw}
mkdir -p "$out/tasks" "$out/programs" "$out/logs"

# One directory per task: spec.txt and train.jsonl.
python3 - "$suite" "$out/tasks" <<'EOF'
import json, os, sys
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.strip():
        continue
    t = json.loads(line)
    d = os.path.join(sys.argv[2], t["id"])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "spec.txt"), "w", encoding="utf-8") as f:
        f.write(t["spec"])
    with open(os.path.join(d, "train.jsonl"), "w", encoding="utf-8") as f:
        for ex in t["train"]:
            f.write(json.dumps({"input": ex["input"], "output": ex["output"]}, ensure_ascii=False) + "\n")
EOF

compile_one() {
    local id=$1; shift
    local d="$out/tasks/$id" t0 t1 rc=0
    t0=$(date +%s.%N)
    "$paw" compile "$(cat "$d/spec.txt")" --examples "$d/train.jsonl" -t "$threads" \
        -o "$out/programs/$id.paw" "$@" >"$out/logs/$id.log" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    awk -v id="$id" -v a="$t0" -v b="$t1" -v rc="$rc" 'BEGIN { printf "%s\t%.1f\t%d\n", id, b - a, rc }'
}

: >"$out/compile.tsv"
running=0
for d in "$out"/tasks/*/; do
    id=$(basename "$d")
    compile_one "$id" "$@" >>"$out/compile.tsv" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
sort -o "$out/compile.tsv" "$out/compile.tsv"
echo "== compile seconds (id, s, exit status) =="
cat "$out/compile.tsv"
awk -F'\t' '{ s += $2; if ($3 != 0) bad++ } END { printf "mean compile %.1f s over %d tasks, %d failed\n", s / NR, NR, bad }' "$out/compile.tsv"

echo "== paw eval =="
"$paw" eval "$suite" --programs "$out/programs" -t "$threads" --json "$out/eval.json"
