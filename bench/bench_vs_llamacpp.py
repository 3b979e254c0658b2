#!/usr/bin/env python3
"""paw vs llama.cpp, side by side in one run: prefill and decode tok/s on the
same GGUF files, the same prompt token ids and the same thread count.

    PAW_LLAMA_PYTHON=/root/llamavenv/bin/python \\
        python3 bench/bench_vs_llamacpp.py [-t 2] [-p 256] [-n 128] [-r 3] [--rounds 2]
                                           [--markdown] [--paw-arg ARG ...] [MODEL.gguf ...]

Default models: the SmolLM2-135M Q4_1 from paw's cache and the random-weight
Qwen3-0.6B-shaped Q8_0 / Q4_0 / Q6_K and GPT-2-shaped Q8_0 files that
scripts/gen_bench_models.py writes to /tmp/paw-bench (missing ones are
reported and skipped).

paw side: build/bench/bench_generate (the library API: paw_decode of the whole
prompt, then single-token paw_decode calls fed the argmax), which also measures
the memory read bandwidth and weight bytes per decoded token.  --paw-arg passes
an argument on to it (repeatable): `--paw-arg=--int8` measures int8 products.

llama.cpp side: this script re-run as a worker under the Python that has
llama-cpp-python (--python or $PAW_LLAMA_PYTHON; it is a bench tool only,
paw never needs Python), one process per model so ru_maxrss is that model's:
Llama(n_ctx=512, n_batch=512, n_threads=T, n_threads_batch=T), its defaults
otherwise (mmap, f16 KV cache, flash attention off, CPU repacking on).  The
prompt goes through Llama.eval in one llama_decode; decode is Llama.eval of
one token, fed np.argmax of llama_get_logits_ith(-1).  The per-token Python
overhead of that loop (a few tens of microseconds) counts against llama.cpp.

--variant LABEL:DIR:POLICY picks llama.cpp configurations: DIR/libllama.so
through LLAMA_CPP_LIB_PATH (the same Python bindings; e.g. an AVX2-only build
to match the AVX2 kernels paw has; empty DIR = the venv's own build) and
OMP_WAIT_POLICY (llama.cpp's threads meet at OpenMP barriers: with the default
spinning, a box where other jobs take the cores slows llama.cpp's decode by
up to 10x, while PASSIVE degrades gracefully; paw's pool spins briefly, then
yields).

Both sides: empty cache, prefill, decode; one warm-up run not counted, then
r runs; the best prefill and best decode are kept.  --rounds alternates paw
and llama.cpp processes that many times per model and keeps the best of all,
so a burst of load on the shared box hits both sides alike.

Columns: ratio = paw / llama.cpp tok/s.  BW% = decode tok/s x weight bytes
per token / measured read bandwidth (the fastest reading of the run; the KV
cache reads are not counted).  RSS = peak resident set of the process
(llama.cpp's includes the Python interpreter, printed as `py`).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_MODELS = [
    os.path.expanduser("~/.cache/paw/models/smollm2-135m.gguf"),
    "/tmp/paw-bench/qwen3-0.6b-shape-q8_0.gguf",
    "/tmp/paw-bench/qwen3-0.6b-shape-q4_0.gguf",
    "/tmp/paw-bench/qwen3-0.6b-shape-q6_k.gguf",
    "/tmp/paw-bench/gpt2-shape-q8_0.gguf",
]


# ------------------------------------------------------------ llama.cpp worker

def worker(model, ids_path, threads, n_gen, runs):
    import ctypes
    import resource
    import numpy as np
    import llama_cpp
    from llama_cpp import Llama

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ids = [int(x) for x in open(ids_path).read().split()]
    t0 = time.perf_counter()
    llm = Llama(model_path=model, n_ctx=512, n_batch=512, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    load_s = time.perf_counter() - t0
    n_vocab = llm.n_vocab()
    ctx = llm.ctx

    def logits():
        p = llama_cpp.llama_get_logits_ith(ctx, -1)
        return np.ctypeslib.as_array(ctypes.cast(p, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,))

    pre, dec, gen = [], [], []
    for r in range(runs + 1):
        llm.reset()                     # n_tokens = 0; eval() then clears the KV cache
        t0 = time.perf_counter()
        llm.eval(ids)
        tp = time.perf_counter() - t0
        out = []
        t0 = time.perf_counter()
        for _ in range(n_gen):
            t = int(np.argmax(logits()))
            out.append(t)
            llm.eval([t])
        td = time.perf_counter() - t0
        if r == 0:
            continue                    # warm-up
        if r == 1:
            gen = out
        pre.append(len(ids) / tp)
        dec.append(n_gen / td if n_gen else 0.0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    json.dump({"prefill_tok_s": max(pre), "decode_tok_s": max(dec), "prefill_runs": pre,
               "decode_runs": dec, "peak_rss_bytes": rss, "python_rss_bytes": base_rss,
               "load_s": load_s, "gen_ids": gen,
               "llama_cpp_version": getattr(llama_cpp, "__version__", "?"),
               "system_info": llama_cpp.llama_print_system_info().decode(errors="replace")},
              sys.stdout)
    print()


# ------------------------------------------------------------------- driver

TIMEOUT = 600


def run_json(cmd, env_add=None):
    env = dict(os.environ, **env_add) if env_add else None
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    if p.returncode != 0:
        return None, (p.stderr.strip() or p.stdout.strip() or f"exit {p.returncode}")
    try:
        return json.loads(p.stdout.strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, "unparsable output: " + p.stdout[-500:]


def merge(best, new):
    """Keeps the best tok/s and bandwidth over rounds; the first round's ids."""
    if best is None:
        return dict(new)
    for k in ("prefill_tok_s", "decode_tok_s", "bw_gbs"):
        if k in new:
            best[k] = max(best[k], new[k])
    for k in ("prefill_runs", "decode_runs"):
        best[k] = best[k] + new[k]
    best["peak_rss_bytes"] = max(best["peak_rss_bytes"], new["peak_rss_bytes"])
    return best


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-p", "--n-prompt", type=int, default=256)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("-r", "--runs", type=int, default=3, help="measured runs per process")
    ap.add_argument("--rounds", type=int, default=2, help="paw/llama.cpp process pairs per model")
    ap.add_argument("--python", default=os.environ.get("PAW_LLAMA_PYTHON"),
                    help="Python with llama-cpp-python and numpy (default $PAW_LLAMA_PYTHON)")
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL:DIR:POLICY",
                    help="a llama.cpp configuration to run: the libllama.so in DIR (empty = the "
                         "venv's own build; else via LLAMA_CPP_LIB_PATH) with OMP_WAIT_POLICY=POLICY "
                         "(empty = OpenMP's default); repeatable; default 'native::'")
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "bench_generate"),
                    help="paw's bench_generate binary")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before each measured process, wait up to S seconds for the run queue "
                         "to hold no more than T runnable tasks (shared box)")
    ap.add_argument("--budget", type=float, default=0, metavar="S",
                    help="per model, start no new round after S seconds (at least one round)")
    ap.add_argument("--timeout", type=float, default=600, metavar="S",
                    help="a process slower than this is killed and its round dropped")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the random prompt ids")
    ap.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    ap.add_argument("--paw-arg", action="append", default=[], metavar="ARG",
                    help="an extra argument for bench_generate (repeatable), e.g. --paw-arg=--int8")
    ap.add_argument("--worker", nargs=5, metavar=("MODEL", "IDS", "T", "N", "R"), help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.worker:
        m, ids, t, n, r = a.worker
        worker(m, ids, int(t), int(n), int(r))
        return

    if not a.python:
        sys.exit("bench_vs_llamacpp.py: no Python with llama-cpp-python given: set "
                 "PAW_LLAMA_PYTHON=/path/to/venv/bin/python or pass --python")
    if not (os.path.isfile(a.python) and os.access(a.python, os.X_OK)):
        sys.exit(f"bench_vs_llamacpp.py: {a.python}: no such executable (PAW_LLAMA_PYTHON / --python)")
    chk = subprocess.run([a.python, "-c", "import llama_cpp, numpy"], capture_output=True, text=True)
    if chk.returncode != 0:
        sys.exit(f"bench_vs_llamacpp.py: {a.python} cannot import llama_cpp and numpy:\n"
                 + chk.stderr.strip().splitlines()[-1])
    if not os.access(a.bench, os.X_OK):
        sys.exit(f"bench_vs_llamacpp.py: {a.bench} missing: run `make {os.path.relpath(a.bench, ROOT)}`")

    global TIMEOUT
    TIMEOUT = a.timeout
    models = a.models or DEFAULT_MODELS
    rows, notes = [], []
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {a.threads} threads, prompt {a.n_prompt} "
          f"random ids (seed {a.seed}), decode {a.n_gen}, {a.runs} runs x {a.rounds} rounds; "
          f"paw {' '.join(a.paw_arg) or 'defaults'}; load average {os.getloadavg()[0]:.2f}", flush=True)
    for model in models:
        if not os.path.isfile(model):
            notes.append(f"{model}: missing (scripts/gen_bench_models.py writes the Qwen3- and GPT-2-shaped "
                         "files; "
                         "`paw pull smollm2-135m` the SmolLM2)")
            print(notes[-1], flush=True)
            continue
        name = os.path.basename(model)
        with tempfile.NamedTemporaryFile("w", suffix=".ids", delete=False) as f:
            ids_path = f.name
        variants = []
        for v in a.variant or ["native::"]:
            lab, libdir, pol = (v.split(":") + ["", ""])[:3]
            env = {}
            if libdir:
                env["LLAMA_CPP_LIB_PATH"] = libdir
            if pol:
                env["OMP_WAIT_POLICY"] = pol
            variants.append((lab, env))
        paw, paw_err = None, None
        lla = {lab: None for lab, _ in variants}
        lla_err = {lab: None for lab, _ in variants}
        try:
            # Random prompt ids from the model's vocab (llama.cpp's count, so
            # this works even when paw cannot load the file).
            rng = random.Random(a.seed)
            n_vocab = vocab_size(a.python, model)
            with open(ids_path, "w") as f:
                f.write(" ".join(str(rng.randrange(n_vocab)) for _ in range(a.n_prompt)) + "\n")
            load_avg = []
            t_model = time.time()
            for rnd in range(a.rounds):
                if rnd and a.budget and time.time() - t_model > a.budget:
                    break
                load_avg.append(os.getloadavg()[0])
                if paw_err is None:
                    wait_quiet(a.wait_quiet, a.threads)
                    res, err = run_json([a.bench, "-m", model, "-t", str(a.threads), "-p", str(a.n_prompt),
                                         "-n", str(a.n_gen), "-r", str(a.runs), "--ids", ids_path, "--json"]
                                        + a.paw_arg)
                    if res:
                        paw = merge(paw, res)
                    elif err != "timeout":
                        paw_err = err
                    print(f"  {name}: paw " + (f"prefill {res['prefill_tok_s']:.1f}, decode {res['decode_tok_s']:.1f}, "
                          f"bw {res['bw_gbs']:.1f} GB/s" if res else f"FAILED: {err}")
                          + f" (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
                for lab, env in variants:
                    if lla_err[lab] is not None:
                        continue
                    wait_quiet(a.wait_quiet, a.threads)
                    res, err = run_json([a.python, os.path.abspath(__file__), "--worker", model,
                                         ids_path, str(a.threads), str(a.n_gen), str(a.runs)],
                                        env_add=env)
                    if res:
                        lla[lab] = merge(lla[lab], res)
                    elif err != "timeout":
                        lla_err[lab] = err
                    print(f"  {name}: llama.cpp {lab} " + (f"prefill {res['prefill_tok_s']:.1f}, decode "
                          f"{res['decode_tok_s']:.1f}" if res else f"FAILED: {err}")
                          + f" (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
            for lab, _ in variants:
                if lla[lab] is None and lla_err[lab] is None:
                    lla_err[lab] = "every round timed out"
            if paw is None and paw_err is None:
                paw_err = "every round timed out"
        finally:
            os.unlink(ids_path)
        for lab, _ in variants:
            row = {"model": name, "variant": lab, "file_bytes": os.path.getsize(model), "paw": paw,
                   "llama": lla[lab], "paw_error": paw_err if paw is None else None,
                   "llama_error": lla_err[lab] if lla[lab] is None else None, "load_avg": load_avg}
            rows.append(row)
    # The decode ceiling uses the fastest bandwidth reading of the whole run:
    # the machine's, not whatever another process left over at one moment.
    bws = [r["paw"]["bw_gbs"] for r in rows if r["paw"]]
    bw = max(bws) if bws else 0
    for r in rows:
        print_row(r, bw)
    if a.markdown:
        print()
        print(markdown(rows, bw, bws))
    for n in notes:
        print("note:", n)


def wait_quiet(limit, threads):
    """Waits up to `limit` s until at most `threads` tasks are runnable
    (/proc/loadavg's 4th field counts the reader itself, hence +1)."""
    t0 = time.time()
    while time.time() - t0 < limit:
        try:
            running = int(open("/proc/loadavg").read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return
        if running <= threads:
            return
        time.sleep(0.2)


def vocab_size(python, model):
    code = ("import sys; from llama_cpp import Llama; "
            "print(Llama(model_path=sys.argv[1], n_ctx=8, vocab_only=True, verbose=False).n_vocab())")
    p = subprocess.run([python, "-c", code, model], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"llama.cpp cannot read {model}: {p.stderr.strip()[-300:]}")
    return int(p.stdout.split()[-1])


def mb(x):
    return f"{x / 1e6:.0f}"


def print_row(r, bw):
    p, l = r["paw"], r["llama"]
    print(f"\n{r['model']} vs llama.cpp {r['variant']}  ({mb(r['file_bytes'])} MB, load average "
          f"{', '.join(f'{x:.1f}' for x in r['load_avg'])})")
    if p is None:
        print(f"  paw: FAILED: {r['paw_error']}")
    if l is None:
        print(f"  llama.cpp: FAILED: {r['llama_error']}")
    if p:
        wb = p["weight_bytes_per_token"]
        print(f"  weights read per decoded token {mb(wb)} MB; read bandwidth {bw:.1f} GB/s "
              f"-> ceiling {bw * 1e9 / wb:.1f} tok/s")
    for what in ("prefill", "decode"):
        k = what + "_tok_s"
        line = f"  {what:8s}"
        if p:
            line += f" paw {p[k]:7.1f} tok/s"
        if l:
            line += f"   llama.cpp {l[k]:7.1f} tok/s"
        if p and l:
            line += f"   ratio {p[k] / l[k]:.2f}x"
        if what == "decode" and p:
            bwf = lambda v: v * p["weight_bytes_per_token"] / (bw * 1e9)
            line += f"   BW: paw {100 * bwf(p[k]):.0f}%" + (f", llama.cpp {100 * bwf(l[k]):.0f}%" if l else "")
        print(line)
    if p or l:
        line = "  peak RSS"
        if p:
            line += f" paw {mb(p['peak_rss_bytes'])} MB"
        if l:
            line += f"   llama.cpp {mb(l['peak_rss_bytes'])} MB (py {mb(l['python_rss_bytes'])} MB)"
        print(line + f"   file {mb(r['file_bytes'])} MB")
    if p and l and p.get("gen_ids") and l.get("gen_ids"):
        k = common_prefix(p["gen_ids"], l["gen_ids"])
        print(f"  greedy tokens identical for the first {k} of {len(p['gen_ids'])}")
    sys.stdout.flush()


def markdown(rows, bw_best, bws):
    h = ("| model | llama.cpp build | file MB | weights/token MB | prefill paw | prefill llama.cpp | ratio "
         "| decode paw | decode llama.cpp | ratio | decode % of BW ceiling (paw / llama.cpp) "
         "| peak RSS MB paw / llama.cpp (py) |\n"
         "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    out = [h]
    for r in rows:
        p, l = r["paw"], r["llama"]
        if not p or not l:
            out.append(f"| {r['model']} | {r['variant']} | {mb(r['file_bytes'])} | " +
                       (f"paw failed: {r['paw_error']}" if not p else f"llama.cpp failed: {r['llama_error']}")
                       + " |||||||||")
            continue
        wb, bw = p["weight_bytes_per_token"], bw_best * 1e9
        out.append(
            f"| {r['model']} | {r['variant']} | {mb(r['file_bytes'])} | {mb(wb)} "
            f"| {p['prefill_tok_s']:.1f} | {l['prefill_tok_s']:.1f} | {p['prefill_tok_s'] / l['prefill_tok_s']:.2f}x "
            f"| {p['decode_tok_s']:.1f} | {l['decode_tok_s']:.1f} | {p['decode_tok_s'] / l['decode_tok_s']:.2f}x "
            f"| {100 * p['decode_tok_s'] * wb / bw:.0f}% / {100 * l['decode_tok_s'] * wb / bw:.0f}% "
            f"| {mb(p['peak_rss_bytes'])} / {mb(l['peak_rss_bytes'])} ({mb(l['python_rss_bytes'])}) |")
    if bws:
        out.append(f"\nRead bandwidth, best of each paw process in this run: "
                   + ", ".join(f"{b:.1f}" for b in sorted(set(bws))) + f" GB/s; the ceiling uses {bw_best:.1f}.")
    return "\n".join(out)


if __name__ == "__main__":
    main()
