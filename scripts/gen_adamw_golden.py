#!/usr/bin/env python3
"""Writes tests/golden/train/adamw.json: AdamW steps and learning-rate
schedules computed by an independent numpy implementation in float64, which
test_adamw.c holds paw's optimiser (src/train/adamw.c) to.

The reference follows the published algorithm as torch.optim.AdamW documents
it (decoupled weight decay, Loshchilov & Hutter: p <- p - lr*wd*p, then the
bias-corrected Adam step), gradients first scaled by the global-norm clip of
torch.nn.utils.clip_grad_norm_ (coefficient max_norm / (norm + 1e-6), capped
at 1).  The schedule is paw's documented one (include/paw.h, README): linear
warmup lr*(s+1)/warmup over the first `warmup` steps (0-based s), then cosine
(or linear) from lr down to a floor of 0.1*lr at step `total`, constant
after; "constant" keeps lr after the warmup.  tests/oracle/test_adamw_golden.py
computes the file again in every test run and checks the committed copy.

    build/pyvenv/bin/python scripts/gen_adamw_golden.py   # after `make pyvenv`
"""
import json
import math
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "train", "adamw.json")
COSINE, LINEAR, CONSTANT = 0, 1, 2   # enum paw_lr_schedule


def lr_at(o, s):
    if o["warmup"] > 0 and s < o["warmup"]:
        return o["lr"] * (s + 1) / o["warmup"]
    if o["schedule"] == CONSTANT or o["total"] <= o["warmup"]:
        return o["lr"]
    t = min(1.0, (s - o["warmup"]) / (o["total"] - o["warmup"]))
    shape = 1.0 - t if o["schedule"] == LINEAR else 0.5 * (1.0 + math.cos(math.pi * t))
    lo = 0.1 * o["lr"]
    return lo + (o["lr"] - lo) * shape


def adamw_run(o, p0, grads):
    """Steps 1..len(grads) of AdamW from p0; returns params after each, norms."""
    p = p0.astype(np.float64)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    out, norms = [], []
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        norm = float(np.sqrt(np.sum(g * g)))
        if o["clip"] > 0:
            g = g * min(1.0, o["clip"] / (norm + 1e-6))
        lr = lr_at(o, t - 1)
        p = p - lr * o["weight_decay"] * p
        m = o["beta1"] * m + (1 - o["beta1"]) * g
        v = o["beta2"] * v + (1 - o["beta2"]) * g * g
        mhat = m / (1 - o["beta1"] ** t)
        vhat = v / (1 - o["beta2"] ** t)
        p = p - lr * mhat / (np.sqrt(vhat) + o["eps"])
        out.append(p.copy())
        norms.append(norm)
    return out, norms


def f32(a):
    return [float(x) for x in np.asarray(a, dtype=np.float32)]


def golden():
    rng = np.random.default_rng(20261126)
    base = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, clip=0.0,
                warmup=0, total=0, schedule=CONSTANT)
    configs = [
        ("plain", {}),
        ("weight_decay", dict(weight_decay=0.1, lr=5e-3)),
        ("clipped", dict(clip=0.5, lr=2e-3)),            # gradients of norm > 0.5: clipped
        ("clip_not_reached", dict(clip=1e3)),
        ("warmup_cosine", dict(lr=1e-2, warmup=2, total=6, schedule=COSINE, weight_decay=0.01,
                               beta1=0.8, beta2=0.99, eps=1e-6, clip=1.0)),
    ]
    cases = []
    for name, over in configs:
        o = dict(base, **over)
        n, steps = 97, 6
        p0 = np.asarray(rng.normal(0, 1, n), dtype=np.float32)
        grads = [np.asarray(rng.normal(0, 0.3, n) * (1 + k), dtype=np.float32) for k in range(steps)]
        ps, norms = adamw_run(o, p0, grads)
        cases.append({"name": name, "opt": o, "params0": f32(p0), "grads": [f32(g) for g in grads],
                      "params": [[float(x) for x in p] for p in ps], "norms": norms})
    schedules = []
    for sched in (COSINE, LINEAR, CONSTANT):
        for warmup, total in ((0, 10), (3, 20), (5, 5), (10, 3)):
            o = dict(base, lr=3e-4, warmup=warmup, total=total, schedule=sched)
            schedules.append({"opt": o, "lr": [lr_at(o, s) for s in range(total + 3)]})
    return {"cases": cases, "schedules": schedules}


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as fh:
        json.dump(golden(), fh)
        fh.write("\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
