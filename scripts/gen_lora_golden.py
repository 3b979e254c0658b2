#!/usr/bin/env python3
"""Writes the LoRA adapters and golden logits tests/test_lora.c checks paw with.

Adapters are random, written with the `gguf` package in llama.cpp's LoRA
convention (general.type=adapter, adapter.type=lora, adapter.lora.alpha,
blk.N.<proj>.weight.lora_a with numpy shape [r, d_in] and .lora_b [d_out, r]).
The oracle is llama.cpp through llama-cpp-python (a test tool only), with the
adapters set through llama_set_adapters_lora, so several adapters and any
scale can be applied.  Run with the venv that has it:

    /root/llamavenv/bin/python scripts/gen_lora_golden.py [tiny|smollm2|all] [SMOLLM2.gguf]

Outputs, under tests/golden/lora/:
  smollm2-f16-r8.gguf    SmolLM2-135M, all 7 projections of 7 layers, rank 8, F16
  smollm2-q4_0-r32.gguf  same base, 5 other layers, rank 32, Q4_0 (lora_b is
                         quantised along r, so Q4_0 needs r % 32 == 0)
  smollm2.json           llama.cpp's logits (top 8 and fixed ids per position)
                         for 3 prompts under several adapter settings, plus
                         the base model's, so the test can see the perturbation
  qwen3-{a..e}.gguf      tests/golden/model/qwen3-tiny.gguf: a rank 8 F32;
                         b rank 4 F16 without adapter.lora.alpha (llama.cpp
                         then applies the scale alone, no alpha/r); c rank 32
                         Q8_0; d rank 32 Q4_0; e rank 8 BF16
  gpt2-{a,b,c}.gguf      tests/golden/model/gpt2-tiny.gguf (fused attn_qkv):
                         a rank 32 Q8_0; b rank 32 Q4_0 A with F16 B; c rank 8 F32
  tiny.json + tiny.f32   for each case: adapters, scales, token ids, precision
                         class and the offset of its logits (all positions,
                         all 256 ids, little-endian f32) in tiny.f32

KV cache in f32 and flash attention off, as scripts/gen_model_golden.py.
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "golden", "lora")
MODEL_DIR = os.path.join(HERE, "..", "tests", "golden", "model")
FIXED_IDS = [0, 1, 2, 17, 198, 1000, 4096, 12345, 30000, 49151]

LLAMA_STEMS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
GPT2_STEMS = ["attn_qkv", "attn_output", "ffn_up", "ffn_down"]


# ------------------------------------------------------------------ adapters

def base_shapes(model_path, stems, layers):
    """(name, d_in, d_out) of each targeted base weight, read from the base GGUF."""
    import gguf
    r = gguf.GGUFReader(model_path)
    shapes = {t.name: (int(t.shape[0]), int(t.shape[1])) for t in r.tensors if len(t.shape) == 2}
    out = []
    for il in layers:
        for s in stems:
            name = f"blk.{il}.{s}.weight"
            d_in, d_out = shapes[name]
            out.append((name, d_in, d_out))
    arch = r.fields["general.architecture"].contents()
    return arch, out


def add(w, name, a, qtype):
    import gguf
    from gguf import quants
    T = gguf.GGMLQuantizationType
    if qtype == "F32":
        w.add_tensor(name, a.astype(np.float32))
    elif qtype == "F16":
        w.add_tensor(name, a.astype(np.float16))
    else:
        t = {"Q4_0": T.Q4_0, "Q8_0": T.Q8_0, "BF16": T.BF16}[qtype]
        w.add_tensor(name, quants.quantize(a.astype(np.float32), t), raw_dtype=t)


def write_adapter(path, model_path, stems, layers, rank, alpha, types, rng, b_std):
    """A ~ N(0, 1/d_in), so A x keeps the size of x; B ~ N(0, b_std^2)."""
    import gguf
    arch, targets = base_shapes(model_path, stems, layers)
    w = gguf.GGUFWriter(path, arch)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    if alpha is not None:
        w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name, d_in, d_out in targets:
        a = rng.standard_normal((rank, d_in)) / np.sqrt(d_in)
        b = rng.standard_normal((d_out, rank)) * b_std
        add(w, name + ".lora_a", a, types[0])
        add(w, name + ".lora_b", b, types[1])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{os.path.basename(path)}: {os.path.getsize(path)} bytes", file=sys.stderr)


# ------------------------------------------------------------------ llama.cpp

class Oracle:
    def __init__(self, model_path, n_ctx):
        import llama_cpp
        self.lc = llama_cpp
        self.llm = llama_cpp.Llama(model_path=model_path, n_ctx=n_ctx, n_threads=2, n_batch=512,
                                   logits_all=True, type_k=0, type_v=0, flash_attn=False,
                                   verbose=False)
        self.adapters = {}

    def adapter(self, path):
        if path not in self.adapters:
            a = self.lc.llama_adapter_lora_init(self.llm.model, path.encode())
            if not a:
                raise RuntimeError(f"llama.cpp rejected {path}")
            self.adapters[path] = a
        return self.adapters[path]

    def logits(self, ids, loras):
        """All-position logits of ids with loras = [(path, scale), ...] set."""
        n = len(loras)
        arr = (self.lc.llama_adapter_lora_p_ctypes * max(n, 1))(*[self.adapter(p) for p, _ in loras])
        import ctypes
        sc = (ctypes.c_float * max(n, 1))(*[s for _, s in loras])
        if self.lc.llama_set_adapters_lora(self.llm.ctx, arr if n else None, n, sc if n else None):
            raise RuntimeError("llama_set_adapters_lora failed")
        self.llm.reset()
        self.llm.eval(ids)
        return np.array(self.llm.scores[: len(ids)], dtype=np.float32)

    def close(self):
        for a in self.adapters.values():
            self.lc.llama_adapter_lora_free(a)
        self.adapters = {}


def rel(name):
    return os.path.join(OUT, name)


# ------------------------------------------------------------------ SmolLM2

def smollm2(model_path):
    rng = np.random.default_rng(135)
    f16 = rel("smollm2-f16-r8.gguf")
    q40 = rel("smollm2-q4_0-r32.gguf")
    write_adapter(f16, model_path, LLAMA_STEMS, [0, 4, 9, 14, 19, 24, 29], 8, 16.0,
                  ("F16", "F16"), rng, 0.25)
    write_adapter(q40, model_path, LLAMA_STEMS, [2, 8, 15, 22, 28], 32, 16.0,
                  ("Q4_0", "Q4_0"), rng, 0.4)
    prompts = [
        "The capital of France is",
        "Once upon a time, in a small village by the sea, there lived",
        "<|im_start|>user\nClassify the sentiment: The food was cold.<|im_end|>\n"
        "<|im_start|>assistant\n",
    ]
    settings = [
        [],
        [("smollm2-f16-r8.gguf", 1.0)],
        [("smollm2-f16-r8.gguf", 0.5)],
        [("smollm2-q4_0-r32.gguf", 1.0)],
        [("smollm2-f16-r8.gguf", 1.0), ("smollm2-q4_0-r32.gguf", -0.75)],
    ]
    o = Oracle(model_path, 256)
    cases = []
    for text in prompts:
        ids = o.llm.tokenize(text.encode(), add_bos=False, special=True)
        for st in settings:
            sc = o.logits(ids, [(rel(p), s) for p, s in st])
            pos = []
            for row in sc:
                top = np.argsort(-row, kind="stable")[:8]
                pos.append({"top": [[int(i), round(float(row[i]), 5)] for i in top],
                            "fixed": [round(float(row[i]), 5) for i in FIXED_IDS]})
            cases.append({"text": text, "ids": ids,
                          "adapters": [{"file": p, "scale": s} for p, s in st],
                          "positions": pos})
        print(f"smollm2: {len(ids)} tokens x {len(settings)} settings", file=sys.stderr)
    o.close()
    with open(rel("smollm2.json"), "w") as f:
        json.dump({"fixed_ids": FIXED_IDS, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")


# ------------------------------------------------------------- tiny models

# Each case names a precision class; tests/test_lora.c holds one bound per
# class, with the reasoning:
#   f32      qwen3 (f32 base) with F32 adapters: only summation order differs
#   f16      qwen3 with F16 / BF16 adapters: both round the adapter inputs to
#            the weight type, so a last-ulp difference upstream can flip one
#            such rounding (2^-11 relative for F16)
#   q8       qwen3 with Q8_0 / Q4_0 adapters: likewise, but a flipped 8-bit
#            rounding moves an input by 1/127 of its block's largest value
#   gelu     gpt2 with an F32 adapter: the base model's own noise (llama.cpp
#            reads GELU from an fp16 table)
#   gelu-q8  gpt2 with Q8_0/Q4_0 adapters: the GELU noise flips 8-bit
#            roundings of the adapter inputs
def tiny():
    rng = np.random.default_rng(7)
    q3 = os.path.join(MODEL_DIR, "qwen3-tiny.gguf")
    g2 = os.path.join(MODEL_DIR, "gpt2-tiny.gguf")
    write_adapter(rel("qwen3-a.gguf"), q3, LLAMA_STEMS, [0, 1], 8, 16.0, ("F32", "F32"), rng, 0.1)
    write_adapter(rel("qwen3-b.gguf"), q3, LLAMA_STEMS, [1], 4, None, ("F16", "F16"), rng, 0.2)
    write_adapter(rel("qwen3-c.gguf"), q3, LLAMA_STEMS, [0, 1], 32, 32.0, ("Q8_0", "Q8_0"), rng, 0.05)
    write_adapter(rel("qwen3-d.gguf"), q3, LLAMA_STEMS, [1], 32, 16.0, ("Q4_0", "Q4_0"), rng, 0.05)
    write_adapter(rel("qwen3-e.gguf"), q3, LLAMA_STEMS, [0], 8, 8.0, ("BF16", "BF16"), rng, 0.1)
    write_adapter(rel("gpt2-a.gguf"), g2, GPT2_STEMS, [0, 1], 32, 32.0, ("Q8_0", "Q8_0"), rng, 0.05)
    write_adapter(rel("gpt2-b.gguf"), g2, GPT2_STEMS, [1], 32, 8.0, ("Q4_0", "F16"), rng, 0.1)
    write_adapter(rel("gpt2-c.gguf"), g2, GPT2_STEMS, [0, 1], 8, 16.0, ("F32", "F32"), rng, 0.05)
    plan = [
        ("qwen3", q3, [("f32", [("qwen3-a.gguf", 1.0)]),
                       ("f16", [("qwen3-b.gguf", 0.5)]),
                       ("q8", [("qwen3-c.gguf", 1.0)]),
                       ("q8", [("qwen3-d.gguf", 1.0)]),
                       ("f16", [("qwen3-e.gguf", 1.0)]),
                       ("f16", [("qwen3-a.gguf", 0.75), ("qwen3-b.gguf", -1.0)]),
                       ("q8", [("qwen3-a.gguf", 0.5), ("qwen3-d.gguf", -1.0), ("qwen3-c.gguf", 2.0)])]),
        ("gpt2", g2, [("gelu", [("gpt2-c.gguf", 1.0)]),
                      ("gelu-q8", [("gpt2-a.gguf", 1.0)]),
                      ("gelu-q8", [("gpt2-a.gguf", 0.5), ("gpt2-b.gguf", 1.0)])]),
    ]
    cases, blob = [], []
    offset = 0
    for arch, path, settings in plan:
        o = Oracle(path, 128)
        ids = [int(x) for x in rng.integers(0, 256, 24)]
        for cls, st in settings:
            sc = o.logits(ids, [(rel(p), s) for p, s in st])
            cases.append({"model": os.path.basename(path), "class": cls, "ids": ids, "offset": offset,
                          "adapters": [{"file": p, "scale": s} for p, s in st]})
            blob.append(sc.astype("<f4").tobytes())
            offset += sc.size
        o.close()
    with open(rel("tiny.f32"), "wb") as f:
        f.write(b"".join(blob))
    with open(rel("tiny.json"), "w") as f:
        json.dump({"n_vocab": 256, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print(f"tiny: {len(cases)} cases, {offset * 4} bytes of logits", file=sys.stderr)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("tiny", "all"):
        tiny()
    if what in ("smollm2", "all"):
        smollm2(sys.argv[2] if len(sys.argv) > 2 else
                os.path.expanduser("~/.cache/paw/models/smollm2-135m.gguf"))
