#!/usr/bin/env python3
"""Writes the golden data tests/test_model.c compares paw's forward pass with.

The oracle is llama.cpp through llama-cpp-python (a test tool only).  Run with
the venv that has it:

    LLAMA_CPP_LIB_PATH=DIR /root/llamavenv/bin/python scripts/gen_model_golden.py smollm2 [MODEL.gguf]

(DIR = an AVX2-only llama.cpp build, cmake -DGGML_NATIVE=OFF -DGGML_AVX2=ON
-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DBUILD_SHARED_LIBS=ON: the
kernels paw's AVX2 path reproduces bit for bit; the committed smollm2.json
was made that way.  Without it the venv's -march=native build is used.)
    LLAMA_CPP_LIB_PATH=GDIR /root/llamavenv/bin/python scripts/gen_model_golden.py smollm2-generic [MODEL.gguf]
    LLAMA_CPP_LIB_PATH=GDIR /root/llamavenv/bin/python scripts/gen_model_golden.py random-generic

(GDIR = llama.cpp built with no SIMD at all, so that ggml-cpu runs its plain C
loops -- the arithmetic paw's scalar path (PAW_SIMD=scalar) reproduces.  x86-64
compilers always define __SSE__/__SSE2__, and ggml-cpu/vec.h, vec.cpp keep
SSE2 vector expf/silu/softmax paths under `#elif defined(__SSE2__)`, so the
macros are undefined on the command line as well (__SSE__ must stay: it only
selects the <immintrin.h> include that _mm_pause needs).  The committed
smollm2-generic.json was made with this build of llama-cpp-python 0.3.36's
vendored llama.cpp:

    U="-U__SSE2__ -U__SSE3__ -U__SSSE3__ -U__SSE4_1__ -U__SSE4_2__ -U__MMX__ -U__FMA__ -U__F16C__ -U__AVX__ -U__AVX2__"
    cmake -S vendor/llama.cpp -B GDIR -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF \
      -DGGML_SSE42=OFF -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF \
      -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF \
      -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF \
      -DGGML_LLAMAFILE=OFF -DGGML_CPU_REPACK=OFF -DGGML_OPENMP=ON \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_COMMON=OFF \
      -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DCMAKE_C_FLAGS="$U" -DCMAKE_CXX_FLAGS="$U"
    cmake --build GDIR --target llama -j2        # GDIR/bin holds libllama.so etc.

Check: `objdump -d GDIR/bin/libggml-cpu.so` shows ggml_vec_soft_max_f32 and
ggml_vec_swiglu_f32 calling expf@plt with scalar mulss/addsd only.)
    /work/venvs/llama-native/bin/python scripts/gen_model_golden.py smollm2-native [MODEL.gguf]

(the default `pip install llama-cpp-python==0.3.36` build, which compiles
llama.cpp with -march=native: on an AVX-512 VNNI CPU its quantised vec_dots
use vpdpbusd, and its f32 vector ops, llamafile sgemm and repacked Q4_0
tiles use zmm registers.  Run with no LLAMA_CPP_LIB_PATH.  The committed
smollm2-native.json was made on an AMD EPYC with AVX-512 F/BW/VL/VNNI; the
file records llama.cpp's system info line.)
    /root/llamavenv/bin/python scripts/gen_model_golden.py stories
    /root/llamavenv/bin/python scripts/gen_model_golden.py random

smollm2: the real SmolLM2-135M-Instruct Q4_1 GGUF.  For 5 prompts (tokenized
  by llama.cpp, ids stored so the test does not depend on paw's tokenizer):
  per position the argmax, the 8 largest logits and the logits at fixed ids;
  then 64 greedy tokens.  -> tests/golden/model/smollm2.json
smollm2-native: the same as smollm2-generic (unrounded logits, sums) from
  the -march=native build.  -> tests/golden/model/smollm2-native.json
smollm2-generic: the same from the no-SIMD build, with the logits unrounded
  (the float32 values exactly), plus per position the sum of all logits (in
  float64, index order) and per greedy step the winning logit, so that a
  bit-exact reproduction can be asserted.  -> tests/golden/model/smollm2-generic.json
stories: the stories260K fixture's prompts with an f32 KV cache, the top 12
  logits at each step along the fixture's greedy tokens.  -> tests/golden/model/stories260k-f32.json
random-generic: for the committed qwen3-tiny.gguf and the ids of qwen3-tiny.json,
  from the no-SIMD build (LLAMA_CPP_LIB_PATH=GDIR): per position the argmax,
  the float64 sum and sum of squares of all logits (index order) and the
  first 8 logits, exact.  -> tests/golden/model/qwen3-tiny-generic.json
random: small random-weight GGUFs with the real Qwen3 and GPT-2 layer
  structure (q/k norm, NEOX rope, head_dim != n_embd/n_head; fused biased qkv,
  LayerNorm, GELU, learned positions), written with the `gguf` package, plus
  all logits at all positions for a few token sequences.
  -> tests/golden/model/{qwen3,gpt2}-tiny.gguf and .json

KV cache is kept in f32 and flash attention off, so the reference computes
attention in f32 as paw does; what remains are the quantised matmuls' rounding
order and the GELU lookup table llama.cpp uses.
"""
import json
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "model")
FIXED_IDS = [0, 1, 2, 17, 198, 1000, 4096, 12345, 30000, 49151]


def llama(path, n_ctx):
    from llama_cpp import Llama
    return Llama(model_path=path, n_ctx=n_ctx, n_threads=2, n_batch=512, logits_all=True,
                 type_k=0, type_v=0, flash_attn=False, verbose=False)


def greedy(llm, ids, n, tops=None):
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(n):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        t = int(np.argmax(row))
        out.append(t)
        if tops is not None:
            tops.append(float(row[t]))
        if t == llm.token_eos():
            break
        llm.eval([t])
    return out


def libm_fingerprint(n=65536):
    """FNV-1a (64-bit) over the float32 bits of expf, sinf, cosf and powf from
    this machine's libm at n points spread by a multiplicative hash:
    llama.cpp's plain C build calls them (softmax, SiLU, rope, its theta
    scale), so an exact reproduction holds only where the C library gives
    the same bits.  tests/test_parity_scalar.c computes the same sum."""
    import ctypes
    import struct
    m = ctypes.CDLL("libm.so.6")
    fns = {}
    for f in ("expf", "sinf", "cosf"):
        fns[f] = getattr(m, f)
        fns[f].restype, fns[f].argtypes = ctypes.c_float, [ctypes.c_float]
    powf = m.powf
    powf.restype, powf.argtypes = ctypes.c_float, [ctypes.c_float, ctypes.c_float]
    h = 0xcbf29ce484222325

    def mix(v):
        nonlocal h
        for b in struct.pack("<f", v):
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF

    def f32(x):
        return struct.unpack("<f", struct.pack("<f", x))[0]

    for i in range(n):
        u = ((i * 2654435761) & 0xFFFFFFFF) / 4294967296.0
        mix(fns["expf"](f32(u * 80.0 - 40.0)))
        mix(fns["sinf"](f32(u * 1024.0)))
        mix(fns["cosf"](f32(u * 1024.0)))
        mix(powf(f32(1000.0 + u * 1e6), f32(-2.0 / (1 + i % 256))))
    return {"n": n, "fnv1a": f"{h:016x}"}


def smollm2(path, name="smollm2.json", exact=False, native=False):
    prompts = [
        "The capital of France is",
        "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n<|im_start|>user\nWhat is the boiling point of water?<|im_end|>\n"
        "<|im_start|>assistant\n",
        "Once upon a time, in a small village by the sea, there lived",
        "Classify the sentiment of this review as positive or negative.\n"
        "Review: The food was cold and the waiter was rude.\nSentiment:",
    ]
    llm = llama(path, 512)
    cases = []
    for text in prompts:
        ids = llm.tokenize(text.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        sc = np.array(llm.scores[: len(ids)], dtype=np.float32)
        # float(np.float32) is exact in a double, and json writes the shortest
        # repr that reads back to it: the exact float32 logit.
        val = (lambda v: float(v)) if exact else (lambda v: round(float(v), 5))
        pos = []
        for row in sc:
            top = np.argsort(-row, kind="stable")[:8]
            p = {
                "argmax": int(top[0]),
                "top": [[int(i), val(row[i])] for i in top],
                "fixed": [val(row[i]) for i in FIXED_IDS],
            }
            if exact:
                p["sum"] = float(np.sum(row.astype(np.float64)))
            pos.append(p)
        tops = [] if exact else None
        case = {"text": text, "ids": ids, "positions": pos, "greedy": greedy(llm, ids, 64, tops)}
        if exact:
            case["greedy_top"] = tops
        cases.append(case)
        print(f"{name}: {len(ids)} tokens, greedy {len(case['greedy'])}", file=sys.stderr)
    out = {"fixed_ids": FIXED_IDS, "cases": cases}
    if native:
        # the ISA flags the library was built with, as llama.cpp reports them
        import llama_cpp
        out["llama_cpp_python"] = llama_cpp.__version__
        out["system_info"] = llama_cpp.llama_print_system_info().decode().strip()
    elif exact:
        out["libm"] = libm_fingerprint()
    write_json(name, out)


def stories_cases(llm, refs):
    """Per fixture prompt: llama.cpp's 12 largest logits at each generated
    position, teacher-forced along the fixture's greedy tokens (prompt and
    tokens in one batch)."""
    cases = []
    for r in refs:
        ids = [r["bos"]] + r["ids"] + r["greedy"][:-1]
        llm.reset()
        llm.eval(ids)
        sc = np.array(llm.scores[: len(ids)], dtype=np.float32)
        steps = []
        for row in sc[len(r["ids"]):]:
            top = np.argsort(-row, kind="stable")[:12]
            steps.append([[int(i), round(float(row[i]), 6)] for i in top])
        cases.append({"ids": ids, "n_prompt": len(r["ids"]) + 1, "top": steps})
    return cases


def stories(path):
    """llama.cpp's logits for the stories260K fixture prompts with an f32 KV
    cache and plain attention: the tight reference for the llama arch (the
    fixture itself came from a flash-attention run, see
    stories_fixture_configs.py)."""
    refs = [json.loads(l) for l in open(path.replace("stories260K.gguf", "reference.jsonl"))]
    write_json("stories260k-f32.json", {"cases": stories_cases(llama(path, 256), refs)})


def write_json(name, obj):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


# ---------------------------------------------------------------- random models

def tiny_gguf(arch, path, rng):
    import gguf
    w = gguf.GGUFWriter(path, arch)
    V, E, L, CTX = 256, 64, 2, 128
    if arch == "qwen3":
        H, HKV, HD, FF = 4, 2, 32, 96       # head_dim 32 != E/H = 16, as in Qwen3
    else:
        H, HKV, HD, FF = 4, 4, 16, 256
    w.add_context_length(CTX)
    w.add_embedding_length(E)
    w.add_block_count(L)
    w.add_feed_forward_length(FF)
    w.add_head_count(H)
    w.add_head_count_kv(HKV)
    if arch == "qwen3":
        w.add_key_length(HD)
        w.add_value_length(HD)
        w.add_rope_freq_base(1000000.0)
        w.add_layer_norm_rms_eps(1e-6)
    else:
        w.add_layer_norm_eps(1e-5)
    # No tokenizer: llama.cpp then runs on token ids alone.
    w.add_tokenizer_model("none")
    w.add_vocab_size(V)

    def t(name, *shape, scale=0.1, offset=0.0):
        # gguf takes numpy shapes (rows first); GGUF's ne is the reverse.
        a = (rng.standard_normal(shape) * scale + offset).astype(np.float32)
        w.add_tensor(name, a)

    t("token_embd.weight", V, E, scale=0.5)
    if arch == "gpt2":
        t("position_embd.weight", CTX, E, scale=0.2)
    for i in range(L):
        p = f"blk.{i}."
        t(p + "attn_norm.weight", E, scale=0.1, offset=1.0)
        if arch == "qwen3":
            t(p + "attn_q.weight", H * HD, E)
            t(p + "attn_k.weight", HKV * HD, E)
            t(p + "attn_v.weight", HKV * HD, E)
            t(p + "attn_q_norm.weight", HD, scale=0.1, offset=1.0)
            t(p + "attn_k_norm.weight", HD, scale=0.1, offset=1.0)
            t(p + "attn_output.weight", E, H * HD)
            t(p + "ffn_norm.weight", E, scale=0.1, offset=1.0)
            t(p + "ffn_gate.weight", FF, E)
            t(p + "ffn_up.weight", FF, E)
            t(p + "ffn_down.weight", E, FF)
        else:
            t(p + "attn_norm.bias", E, scale=0.1)
            t(p + "attn_qkv.weight", 3 * E, E)
            t(p + "attn_qkv.bias", 3 * E, scale=0.1)
            t(p + "attn_output.weight", E, E)
            t(p + "attn_output.bias", E, scale=0.1)
            t(p + "ffn_norm.weight", E, scale=0.1, offset=1.0)
            t(p + "ffn_norm.bias", E, scale=0.1)
            t(p + "ffn_up.weight", FF, E)
            t(p + "ffn_up.bias", FF, scale=0.1)
            t(p + "ffn_down.weight", E, FF)
            t(p + "ffn_down.bias", E, scale=0.1)
    t("output_norm.weight", E, scale=0.1, offset=1.0)
    if arch == "gpt2":
        t("output_norm.bias", E, scale=0.1)
    else:
        t("output.weight", V, E)        # untied head for qwen3; gpt2 ties it
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def random_models():
    for arch, seed in (("qwen3", 3), ("gpt2", 2)):
        rng = np.random.default_rng(seed)
        path = os.path.join(OUT, f"{arch}-tiny.gguf")
        os.makedirs(OUT, exist_ok=True)
        tiny_gguf(arch, path, rng)
        llm = llama(path, 128)
        cases = []
        for n in (1, 7, 33, 100):
            ids = [int(x) for x in rng.integers(0, 256, n)]
            llm.reset()
            llm.eval(ids)
            sc = np.array(llm.scores[:n], dtype=np.float32)
            cases.append({"ids": ids, "logits": [[round(float(v), 5) for v in row] for row in sc]})
        write_json(f"{arch}-tiny.json", {"cases": cases})
        print(f"{arch}: {os.path.getsize(path)} bytes", file=sys.stderr)


def random_generic():
    """Exact summaries of the no-SIMD build's logits for qwen3-tiny (F32
    weights, NEOX rope, q/k norm, grouped KV heads): enough to tell a single
    differing bit in any of the V logits of a row, in a few KB."""
    ref = json.load(open(os.path.join(OUT, "qwen3-tiny.json")))
    llm = llama(os.path.join(OUT, "qwen3-tiny.gguf"), 128)
    cases = []
    for c in ref["cases"]:
        ids = c["ids"]
        llm.reset()
        llm.eval(ids)
        sc = np.array(llm.scores[: len(ids)], dtype=np.float32)
        rows = []
        for row in sc:
            r64 = row.astype(np.float64)
            rows.append({
                "argmax": int(np.argmax(row)),
                "sum": float(sum(float(v) for v in r64)),
                "sumsq": float(sum(float(v) * float(v) for v in r64)),
                "first": [float(v) for v in row[:8]],
            })
        cases.append({"ids": ids, "rows": rows})
    write_json("qwen3-tiny-generic.json", {"cases": cases, "libm": libm_fingerprint()})


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what in ("smollm2", "smollm2-generic", "smollm2-native"):
        model = (sys.argv[2] if len(sys.argv) > 2 else
                 os.path.expanduser("~/.cache/paw/models/smollm2-135m.gguf"))
        if what == "smollm2":
            smollm2(model)
        elif what == "smollm2-native":
            smollm2(model, "smollm2-native.json", exact=True, native=True)
        else:
            smollm2(model, "smollm2-generic.json", exact=True)
    elif what == "stories":
        stories(sys.argv[2] if len(sys.argv) > 2 else
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                             "fixtures", "stories260k", "stories260K.gguf"))
    elif what == "random":
        random_models()
    elif what == "random-generic":
        random_generic()
    else:
        sys.exit("usage: gen_model_golden.py smollm2|smollm2-generic|smollm2-native [MODEL.gguf] | stories [GGUF] | random | random-generic")
