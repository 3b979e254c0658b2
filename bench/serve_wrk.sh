#!/usr/bin/env bash
# Load test of `paw serve` (not a test: prints numbers for BENCHMARKS.md).
# wrk, 64 connections, 10,000 POST /api/v1/infer requests round-robin over 3
# programs with short inputs (max_tokens 8), on 127.0.0.1.  The programs: one
# compiled with `paw compile --no-teacher --steps 2` (its answers do not
# matter here, only the work per request) and two copies with another spec in
# meta.json (other content IDs, so three programs resident).
# usage: [REQUESTS=N] bench/serve_wrk.sh [extra paw serve args]   (needs wrk: apt install wrk)
# REQUESTS defaults to 10000.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
MODEL=${MODEL:-$(./$BIN/paw models 2>/dev/null | awk '/smollm2-135m/ {print $NF; exit}')}
[ -f "$MODEL" ] || MODEL=${PAW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/paw}/models/smollm2-135m.gguf
work=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
export PAW_CACHE_DIR=$work/cache
mkdir -p "$PAW_CACHE_DIR"
printf '%s\n' '{"input":"great","output":"POS"}' '{"input":"awful","output":"NEG"}' \
    '{"input":"lovely","output":"POS"}' '{"input":"terrible","output":"NEG"}' > "$work/ex.jsonl"
./$BIN/paw compile "Classify the sentiment of a single word: POS or NEG." --examples "$work/ex.jsonl" \
    --no-teacher --steps 2 -m "$MODEL" -o "$work/a.paw" >/dev/null
python3 - "$work" <<'PY'
import io, json, sys, zipfile
w = sys.argv[1]
src = zipfile.ZipFile(f"{w}/a.paw")
for k in "bc":
    with zipfile.ZipFile(f"{w}/{k}.paw", "w", zipfile.ZIP_DEFLATED) as out:
        for n in src.namelist():
            d = src.read(n)
            if n == "meta.json":
                m = json.loads(d); m["spec"] += f" ({k})"; d = json.dumps(m).encode()
            out.writestr(n, d)
PY
for k in a b c; do ./$BIN/paw install "$work/$k.paw" --alias "bench-$k" >/dev/null; done
./$BIN/paw-serve -m "$MODEL" --port 0 "$@" 2> "$work/serve.log" &
srv=$!
for _ in $(seq 100); do grep -q listening "$work/serve.log" && break; sleep 0.1; done
port=$(grep -o '127.0.0.1:[0-9]*' "$work/serve.log" | cut -d: -f2)
head -1 "$work/serve.log"
for k in a b c; do   # warm: each program's prefix KV computed once
    curl -sf "http://127.0.0.1:$port/api/v1/infer" -d "{\"program_id\":\"bench-$k\",\"input\":\"ok\"}" >/dev/null
done
echo "load before: $(uptime)"
cpu() { awk '{print $14 + $15}' "/proc/$srv/stat"; }   # server CPU time, clock ticks
c0=$(cpu)
REQUESTS=${REQUESTS:-10000}
# wrk runs for a duration, not a count: it is stopped (SIGINT, which makes it
# print its summary) once the server has answered REQUESTS of its requests.
wrk -t2 -c64 -d3600s --timeout 60s -s bench/serve_wrk.lua "http://127.0.0.1:$port" -- $REQUESTS \
    > "$work/wrk.out" &
wpid=$!
answered() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^paw_http_requests_total\{route="infer"/ {n += $2} END {print n + 0}'; }
while kill -0 $wpid 2>/dev/null; do
    [ "$(answered)" -ge $((REQUESTS + 3)) ] && { kill -INT $wpid; break; }
    sleep 0.5
done
wait $wpid || true
grep RESULT "$work/wrk.out" | tee "$work/result"
c1=$(cpu)
n=$(awk '{print $3}' "$work/result")
echo "server CPU: $(( (c1 - c0) * 1000 / $(getconf CLK_TCK) )) ms for $n requests," \
     "$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) / (n > 0 ? n : 1) )) CPU-ms per request"
echo "load after: $(uptime)"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^paw_(programs_resident|program_handles|program_memory_bytes) '
kill -TERM $srv; wait $srv
