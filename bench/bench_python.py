#!/usr/bin/env python3
"""Python call overhead of pawc over the C call, and fn.batch vs a loop.

For each call the wall time around fn(x) in Python is paired with the time
libpaw measured inside paw_program_call (paw_program_stats.total_ms), so the
difference is exactly what the binding adds (argument conversion, ctypes,
GIL hand-off, decoding the result).  Run from the repository root after
`make`:

    python3 bench/bench_python.py [--program P.paw --base MODEL] [-N 2000] [-t 2]

Without --program it compiles the stories260K toy program from the fixtures
(fast calls, so the overhead is not hidden in the noise of long ones).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("PAWC_LIB", os.path.join(ROOT, os.environ.get("BUILD", "build"), "libpaw.so"))
sys.path.insert(0, os.path.join(ROOT, "python"))
import pawc  # noqa: E402

STORIES = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "stories260k", "stories260K.gguf")
TOY = [("cat", "blue"), ("sun", "tree"), ("ball", "happy"), ("dog", "sky"), ("fish", "red")]


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--program")
    ap.add_argument("--base")
    ap.add_argument("--inputs", help="a text file, one input per line")
    ap.add_argument("-N", type=int, default=2000)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("-n", type=int, default=0, help="max tokens per call (0: the default 512; the stories260K "
                    "toy never learns its EOS, so it uses 4)")
    a = ap.parse_args()
    if a.program:
        program, base = a.program, a.base
    else:
        os.environ.setdefault("PAW_CACHE_DIR", tempfile.mkdtemp(prefix="pawc-bench-"))
        program = pawc.compile("Say the secret word of the thing.", TOY, base=STORIES, steps=20,
                               progress=False, threads=a.t).id
        base = STORIES
        a.n = a.n or 4
    inputs = [x for x, _ in TOY]
    if a.inputs:
        with open(a.inputs, encoding="utf-8") as f:
            inputs = [line.rstrip("\n") for line in f if line.strip()]
    with pawc.function(program, base=base, threads=a.t, max_tokens=a.n or None) as fn:
        for x in inputs * 3:
            fn(x)                              # warm: prefix KV, caches
        over, c_ms, wall = [], [], []
        for k in range(a.N):
            x = inputs[k % len(inputs)]
            t0 = time.perf_counter()
            fn(x)
            w = (time.perf_counter() - t0) * 1e3
            c = fn.stats()["total_ms"]
            wall.append(w)
            c_ms.append(c)
            over.append(w - c)
        print(f"calls: {a.N}, threads {a.t}, load {os.getloadavg()[0]:.2f}")
        print(f"C call (paw_program_call)  p50 {pct(c_ms, .5):.3f} ms  p99 {pct(c_ms, .99):.3f} ms")
        print(f"Python fn(x)               p50 {pct(wall, .5):.3f} ms  p99 {pct(wall, .99):.3f} ms")
        print(f"added by pawc (paired)     p50 {pct(over, .5) * 1e3:.1f} us  p99 {pct(over, .99) * 1e3:.1f} us"
              f"  mean {statistics.mean(over) * 1e3:.1f} us")
        batch = inputs * max(1, 400 // len(inputs))
        t0 = time.perf_counter()
        for x in batch:
            fn(x)
        loop_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        fn.batch(batch)
        batch_s = time.perf_counter() - t0
        print(f"{len(batch)} inputs: loop {len(batch) / loop_s:.1f} inputs/s, fn.batch {len(batch) / batch_s:.1f} "
              f"inputs/s ({loop_s / batch_s:.2f}x)")


if __name__ == "__main__":
    main()
