#!/usr/bin/env python3
"""Writes tests/golden/quant/: reference (de)quantisation by gguf-py (gguf.quants,
an independent numpy implementation of ggml's reference code).

For each weight type T:
  T.bin  random blocks (fp16 scale fields replaced by sane finite values)
  T.f32  gguf.quants.dequantize of T.bin (little-endian f32)
For quantisation:
  quant_in.f32   inputs (random, plus blocks with ties, zeros, one outlier)
  T.q            gguf.quants.quantize(quant_in, T) for F16, BF16, Q8_0, Q4_0

Run from the repository root:  python3 scripts/gen_quant_golden.py
"""
import os
import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import quants

OUT = "tests/golden/quant"
rng = np.random.default_rng(20261126)

# type -> (elements per block, bytes per block, byte offsets of fp16 scales)
LAYOUT = {
    "Q4_0": (32, 18, [0]),
    "Q4_1": (32, 20, [0, 2]),
    "Q5_0": (32, 22, [0]),
    "Q5_1": (32, 24, [0, 2]),
    "Q8_0": (32, 34, [0]),
    "Q4_K": (256, 144, [0, 2]),
    "Q5_K": (256, 176, [0, 2]),
    "Q6_K": (256, 210, [208]),
}


def write(name, arr):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(np.ascontiguousarray(arr).tobytes())


def quant_blocks(name):
    bs, nb, scales = LAYOUT[name]
    n_blocks = 64 if bs == 32 else 12
    raw = rng.integers(0, 256, size=(n_blocks, nb), dtype=np.uint8)
    for off in scales:
        # magnitudes over several decades, both signs, a few exact zeros
        v = rng.standard_normal(n_blocks) * np.exp(rng.uniform(-8, 1, n_blocks))
        v[::17] = 0.0
        raw[:, off:off + 2] = v.astype("<f2").view(np.uint8).reshape(n_blocks, 2)
    return raw


def main():
    os.makedirs(OUT, exist_ok=True)
    # Float types: F16 from random finite bit patterns (covers subnormals and
    # signed zeros), BF16 the same, F32 plain random values.
    f16 = rng.integers(0, 0x10000, size=2048, dtype=np.uint16)
    f16 = f16[(f16 & 0x7C00) != 0x7C00][:1024]
    bf16 = rng.integers(0, 0x10000, size=2048, dtype=np.uint16)
    bf16 = bf16[(bf16 & 0x7F80) != 0x7F80][:1024]
    f32 = rng.standard_normal(1024).astype("<f4")
    data = {
        "F32": (Q.F32, f32.view(np.uint8)),
        "F16": (Q.F16, f16.astype("<u2").view(np.uint8)),
        "BF16": (Q.BF16, bf16.astype("<u2").view(np.uint8)),
    }
    for name in LAYOUT:
        data[name] = (getattr(Q, name), quant_blocks(name).reshape(-1))
    for name, (qt, raw) in data.items():
        deq = quants.dequantize(raw, qt).astype("<f4")
        write(name + ".bin", raw)
        write(name + ".f32", deq)

    # Quantiser inputs: 64 blocks of 32.
    x = (rng.standard_normal((64, 32)) * np.exp(rng.uniform(-6, 3, (64, 1)))).astype(np.float32)
    x[0] = 0.0                                   # all-zero block
    x[1] = np.arange(32) - 15.5                  # many exact ties for Q8_0
    x[1, 0] = 127.0                              # amax 127 -> scale 1, ties at .5
    x[2] = rng.standard_normal(32).astype(np.float32); x[2, 7] = -40.0   # negative outlier
    x[3] = np.linspace(-8, 7, 32)                # Q4_0 grid-ish values
    x[4, :] = 1e-30                              # tiny (subnormal fp16 scale)
    x = x.reshape(-1).astype("<f4")
    write("quant_in.f32", x)
    for name, qt in (("F16", Q.F16), ("BF16", Q.BF16), ("Q8_0", Q.Q8_0), ("Q4_0", Q.Q4_0)):
        write(name + ".q", quants.quantize(x.reshape(1, -1), qt).reshape(-1))


if __name__ == "__main__":
    main()
