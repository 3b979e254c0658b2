#!/usr/bin/env bash
# `paw serve` side by side with llama.cpp's server (llama-cpp-python's
# `python -m llama_cpp.server`), same base GGUF, same adapters, same prompts,
# same cores (not a test: prints numbers for BENCHMARKS.md).
#
# The programs are those of bench/serve_wrk.sh: one compiled with
# `paw compile --no-teacher --steps 2` and two copies with another spec (three
# content IDs, the same adapter.gguf).  paw gets POST /api/v1/infer
# {program_id, input, max_tokens 8}; llama.cpp gets POST /v1/completions
# {model, prompt, max_tokens 8, temperature 0} where prompt is the program's
# prompt template with the input put in (what paw evaluates) and model one of
# three entries of a config file, each the base GGUF with the program's
# adapter.gguf as lora_path.  wrk: 2 threads, 64 connections, a fixed
# duration per run (SECS, default 120), the requests round-robin over
# programs and 8 short inputs.  Two rounds: the three programs, then one
# program only (llama-cpp-python's server keeps one model loaded and reloads
# it when a request names another, so the first round measures that too).
# Both servers get THREADS threads (default 2; paw: --workers 2 -t 2).
#
# usage: [SECS=120] [THREADS=2] [LLAMA_PY=/work/venvs/llama-native/bin/python] \
#        bench/serve_vs_llamacpp.sh
# LLAMA_PY: a Python with llama-cpp-python and its server extras
# (pip install 'llama-cpp-python[server]', or uvicorn fastapi sse-starlette
# starlette-context pydantic-settings beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
SECS=${SECS:-120}
THREADS=${THREADS:-2}
LLAMA_PY=${LLAMA_PY:-/work/venvs/llama-native/bin/python}
MODEL=${MODEL:-${PAW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/paw}/models/smollm2-135m.gguf}
[ -f "$MODEL" ] || { echo "no model at $MODEL: ./paw pull smollm2-135m" >&2; exit 1; }
"$LLAMA_PY" -c 'import llama_cpp.server, uvicorn' || { echo "LLAMA_PY=$LLAMA_PY lacks llama_cpp.server" >&2; exit 1; }
work=$(mktemp -d)
srv=
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; rm -rf "$work"' EXIT
export PAW_CACHE_DIR=$work/cache
mkdir -p "$PAW_CACHE_DIR"
printf '%s\n' '{"input":"great","output":"POS"}' '{"input":"awful","output":"NEG"}' \
    '{"input":"lovely","output":"POS"}' '{"input":"terrible","output":"NEG"}' > "$work/ex.jsonl"
./$BIN/paw compile "Classify the sentiment of a single word: POS or NEG." --examples "$work/ex.jsonl" \
    --no-teacher --steps 2 -m "$MODEL" -o "$work/a.paw" >/dev/null
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
LPORT=$(port)
python3 - "$work" "$MODEL" "$THREADS" "$LPORT" <<'PY'
import io, json, sys, zipfile
w, model, threads, lport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
src = zipfile.ZipFile(f"{w}/a.paw")
for k in "bc":
    with zipfile.ZipFile(f"{w}/{k}.paw", "w", zipfile.ZIP_DEFLATED) as out:
        for n in src.namelist():
            d = src.read(n)
            if n == "meta.json":
                m = json.loads(d); m["spec"] += f" ({k})"; d = json.dumps(m).encode()
            out.writestr(n, d)
inputs = ["great", "awful", "fine", "bad", "nice", "sad", "ok", "grim"]
progs = "abc"
for k in progs:
    z = zipfile.ZipFile(f"{w}/{k}.paw")
    open(f"{w}/{k}.adapter.gguf", "wb").write(z.read("adapter.gguf"))
tmpl = src.read("prompt_template.txt").decode()
def bodies(name, ks):
    with open(f"{w}/paw{name}.bodies", "w") as p, open(f"{w}/llama{name}.bodies", "w") as l:
        for i in range(24):
            k, x = ks[i % len(ks)], inputs[i % len(inputs)]
            p.write(json.dumps({"program_id": f"bench-{k}", "input": x, "max_tokens": 8}) + "\n")
            l.write(json.dumps({"model": f"bench-{k}", "prompt": tmpl.replace("{INPUT_PLACEHOLDER}", x),
                                "max_tokens": 8, "temperature": 0}) + "\n")
    cfg = {"host": "127.0.0.1", "port": lport, "models": [
        {"model": model, "model_alias": f"bench-{k}", "lora_path": f"{w}/{k}.adapter.gguf",
         "n_threads": threads, "n_threads_batch": threads, "n_ctx": 2048, "verbose": False} for k in ks]}
    json.dump(cfg, open(f"{w}/llama{name}.json", "w"))
bodies("3", progs)
bodies("1", "a")
PY
for k in a b c; do ./$BIN/paw install "$work/$k.paw" --alias "bench-$k" >/dev/null; done
echo "commit $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'), SECS=$SECS THREADS=$THREADS"

wrk_run() {   # URL PATH BODIES LABEL
    echo "$4: load before: $(uptime)"
    wrk -t2 -c64 -d"${SECS}s" --timeout 60s -s bench/serve_compare.lua "$1" -- "$2" "$3" > "$work/wrk.out" || true
    echo "$4: $(grep RESULT "$work/wrk.out")"
    echo "$4: load after: $(uptime)"
}

for round in 3 1; do
    ./$BIN/paw-serve -m "$MODEL" --port 0 -t "$THREADS" 2> "$work/serve.log" &
    srv=$!
    for _ in $(seq 300); do grep -q listening "$work/serve.log" && break; sleep 0.1; done
    port=$(grep -o '127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f2)
    head -$round "$work/paw$round.bodies" | while read -r b; do   # warm: each prefix KV computed once
        echo "paw $b -> $(curl -sf "http://127.0.0.1:$port/api/v1/infer" -d "$b")"
    done
    wrk_run "http://127.0.0.1:$port" /api/v1/infer "$work/paw$round.bodies" "paw serve, $round program(s)"
    kill -TERM $srv; wait $srv || true; srv=

    "$LLAMA_PY" -m llama_cpp.server --config_file "$work/llama$round.json" > "$work/llama.log" 2>&1 &
    srv=$!
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$LPORT/v1/models" >/dev/null && break; sleep 0.2; done
    head -$round "$work/llama$round.bodies" | while read -r b; do   # warm, and the same answers?
        echo "llama.cpp $(echo "$b" | cut -c1-40)... -> $(curl -sf "http://127.0.0.1:$LPORT/v1/completions" \
            -H 'Content-Type: application/json' -d "$b" | python3 -c 'import json,sys; print(repr(json.load(sys.stdin)["choices"][0]["text"]))')"
    done
    wrk_run "http://127.0.0.1:$LPORT" /v1/completions "$work/llama$round.bodies" "llama.cpp server, $round program(s)"
    kill -TERM $srv; wait $srv || true; srv=
done
