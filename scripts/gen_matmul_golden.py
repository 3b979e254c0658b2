#!/usr/bin/env python3
"""Writes tests/golden/matmul/: ggml's own dot products, bit for bit, to hold
paw_matmul's AVX2 kernels to ggml's summation order (test_matmul.c).

For each weight type T (ROWS rows of N[T] elements, TOKENS activation rows):
  T.w  the weight rows (random quant bytes with finite fp16 scales)
  T.x  the activations, f32 (for F16/BF16 already rounded to that type, as
       ggml rounds them before its dot product)
  T.y  ggml_vec_dot_<T>_<activation type> for every (token, row), f32,
       token-major: y[t * ROWS + r]; quantised types quantise x with ggml's
       own quantize_row_q8_0 / q8_1 / q8_K first.
Little-endian, no headers; the shapes are fixed here and in the test.

The functions are called through ctypes in llama.cpp's libggml-cpu, the one
llama-cpp-python ships, or the one in $LLAMA_CPP_LIB_PATH.  A build with
AVX-512 computes the quantised dot products exactly as its AVX2 code does
(VNNI only changes how exact int32 sums are formed), but sums F32/F16/BF16
in 16-lane accumulators; paw's kernels are AVX2, so those three types are
only written from a build without AVX-512 (e.g. -DGGML_NATIVE=OFF
-DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON), and otherwise left as they are.

Run from the repository root:
  LLAMA_CPP_LIB_PATH=/path/to/avx2/lib /root/llamavenv/bin/python scripts/gen_matmul_golden.py

With the argument `generic` it writes tests/golden/matmul-generic/ instead (same
layout, same random draws) from llama.cpp built without any SIMD (the cmake
command is in scripts/gen_model_golden.py): ggml's plain C dot products and
reference activation quantisers, which paw's scalar kernels reproduce bit for
bit (tests/test_parity_scalar.c).  The draws are the same, so only the T.y
files are written there; T.w and T.x are checked equal to tests/golden/matmul/:
  LLAMA_CPP_LIB_PATH=/path/to/generic/lib /root/llamavenv/bin/python scripts/gen_matmul_golden.py generic
"""
import ctypes
import os
import sys

import numpy as np

OUT = "tests/golden/matmul"
ROWS, TOKENS = 5, 3
rng = np.random.default_rng(20261127)

# type -> (n, block elements, block bytes, fp16 scale offsets, dot, activation quantiser)
TYPES = {
    "Q4_0": (352, 32, 18, [0], "ggml_vec_dot_q4_0_q8_0", "quantize_row_q8_0"),
    "Q4_1": (352, 32, 20, [0, 2], "ggml_vec_dot_q4_1_q8_1", "quantize_row_q8_1"),
    "Q5_0": (352, 32, 22, [0], "ggml_vec_dot_q5_0_q8_0", "quantize_row_q8_0"),
    "Q5_1": (352, 32, 24, [0, 2], "ggml_vec_dot_q5_1_q8_1", "quantize_row_q8_1"),
    "Q8_0": (352, 32, 34, [0], "ggml_vec_dot_q8_0_q8_0", "quantize_row_q8_0"),
    "Q4_K": (768, 256, 144, [0, 2], "ggml_vec_dot_q4_K_q8_K", "quantize_row_q8_K"),
    "Q5_K": (768, 256, 176, [0, 2], "ggml_vec_dot_q5_K_q8_K", "quantize_row_q8_K"),
    "Q6_K": (768, 256, 210, [208], "ggml_vec_dot_q6_K_q8_K", "quantize_row_q8_K"),
    # 519 = 16 steps of 32 + a tail of 7 (ggml's tail has two parts)
    "F32": (519, 1, 4, [], "ggml_vec_dot_f32", None),
    "F16": (519, 1, 2, [], "ggml_vec_dot_f16", None),
    "BF16": (519, 1, 2, [], "ggml_vec_dot_bf16", None),
}
# bytes per activation block of 32 (Q8_0, Q8_1) or 256 (Q8_K)
ACT_BYTES = {"quantize_row_q8_0": (32, 34), "quantize_row_q8_1": (32, 36), "quantize_row_q8_K": (256, 292)}


def lib_dir():
    d = os.environ.get("LLAMA_CPP_LIB_PATH")
    if d:
        return d
    import llama_cpp
    return os.path.join(os.path.dirname(llama_cpp.__file__), "lib")


def to_bf16_bits(x):
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def weights(name):
    n, bs, bb, offs, _, _ = TYPES[name]
    if name == "F32":
        return rng.uniform(-1, 1, ROWS * n).astype(np.float32).tobytes()
    if name == "F16":
        return rng.uniform(-1, 1, ROWS * n).astype(np.float16).tobytes()
    if name == "BF16":
        return to_bf16_bits(rng.uniform(-1, 1, ROWS * n)).tobytes()
    nblk = ROWS * n // bs
    w = rng.integers(0, 256, nblk * bb, dtype=np.uint8).reshape(nblk, bb)
    scale = 0.002 if bs == 256 else 0.05
    for o in offs:
        h = (rng.uniform(-1, 1, nblk) * scale).astype(np.float16)
        w[:, o:o + 2] = h.view(np.uint8).reshape(nblk, 2)
    return w.tobytes()


def main():
    global OUT
    generic = sys.argv[1:] == ["generic"]
    if generic:
        OUT = "tests/golden/matmul-generic"
    d = lib_dir()
    ctypes.CDLL(os.path.join(d, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(os.path.join(d, "libggml-cpu.so"))
    cpu.ggml_cpu_init()
    avx512 = bool(cpu.ggml_cpu_has_avx512())
    if generic and (avx512 or cpu.ggml_cpu_has_avx() or cpu.ggml_cpu_has_sse3()):
        sys.exit("generic: this libggml-cpu was built with SIMD")
    os.makedirs(OUT, exist_ok=True)
    for name, (n, bs, bb, offs, dot_name, q_name) in TYPES.items():
        w = weights(name)
        x = (rng.uniform(-1, 1, (TOKENS, n)) * (1 + np.arange(n) % 7)).astype(np.float32)
        if name == "F16":
            x = x.astype(np.float16).astype(np.float32)
        if name == "BF16":
            x = (to_bf16_bits(x).astype(np.uint32) << 16).view(np.float32).reshape(TOKENS, n)
        if bs == 1 and avx512:
            print(f"{name}: skipped (this libggml-cpu uses AVX-512 float sums)", file=sys.stderr)
            continue
        dot = getattr(cpu, dot_name)
        dot.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_void_p,
                        ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        row_bytes = len(w) // ROWS
        wbuf = ctypes.create_string_buffer(w, len(w))
        y = np.zeros((TOKENS, ROWS), dtype=np.float32)
        for t in range(TOKENS):
            xt = np.ascontiguousarray(x[t])
            if q_name:
                qb, qbytes = ACT_BYTES[q_name]
                act = ctypes.create_string_buffer(n // qb * qbytes)
                q = getattr(cpu, q_name)
                q.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
                q(xt.ctypes.data, act, n)
                act_ptr = ctypes.addressof(act)
            elif name == "F16":
                act_arr = xt.astype(np.float16)
                act_ptr = act_arr.ctypes.data
            elif name == "BF16":
                act_arr = to_bf16_bits(xt)
                act_ptr = act_arr.ctypes.data
            else:
                act_arr = xt
                act_ptr = act_arr.ctypes.data
            for r in range(ROWS):
                s = ctypes.c_float()
                dot(n, ctypes.byref(s), 0, ctypes.addressof(wbuf) + r * row_bytes, 0, act_ptr, 0, 1)
                y[t, r] = s.value
        if generic:
            for ext, data in ((".w", w), (".x", x.astype("<f4").tobytes())):
                with open(os.path.join("tests/golden/matmul", name + ext), "rb") as f:
                    if f.read() != data:
                        sys.exit(f"generic: {name}{ext} differs from tests/golden/matmul/")
        else:
            with open(os.path.join(OUT, name + ".w"), "wb") as f:
                f.write(w)
            with open(os.path.join(OUT, name + ".x"), "wb") as f:
                f.write(x.astype("<f4").tobytes())
        with open(os.path.join(OUT, name + ".y"), "wb") as f:
            f.write(y.astype("<f4").tobytes())
        print(f"{name}: n {n}, {ROWS} rows x {TOKENS} tokens", file=sys.stderr)


if __name__ == "__main__":
    main()
