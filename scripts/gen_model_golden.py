#!/usr/bin/env python3
"""Writes the golden data tests/test_model.c compares paw's forward pass with.

The oracle is llama.cpp through llama-cpp-python (a test tool only).  Run with
the venv that has it:

    LLAMA_CPP_LIB_PATH=DIR /root/llamavenv/bin/python scripts/gen_model_golden.py smollm2 [MODEL.gguf]

(DIR = an AVX2-only llama.cpp build, cmake -DGGML_NATIVE=OFF -DGGML_AVX2=ON
-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DBUILD_SHARED_LIBS=ON: the
kernels paw's AVX2 path reproduces bit for bit; the committed smollm2.json
was made that way.  Without it the venv's -march=native build is used.)
    /root/llamavenv/bin/python scripts/gen_model_golden.py stories
    /root/llamavenv/bin/python scripts/gen_model_golden.py random

smollm2: the real SmolLM2-135M-Instruct Q4_1 GGUF.  For 5 prompts (tokenized
  by llama.cpp, ids stored so the test does not depend on paw's tokenizer):
  per position the argmax, the 8 largest logits and the logits at fixed ids;
  then 64 greedy tokens.  -> tests/golden/model/smollm2.json
stories: the stories260K fixture's prompts with an f32 KV cache, the top 12
  logits at each step along the fixture's greedy tokens.  -> tests/golden/model/stories260k-f32.json
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


def greedy(llm, ids, n):
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(n):
        t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(t)
        if t == llm.token_eos():
            break
        llm.eval([t])
    return out


def smollm2(path):
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
        pos = []
        for row in sc:
            top = np.argsort(-row, kind="stable")[:8]
            pos.append({
                "argmax": int(top[0]),
                "top": [[int(i), round(float(row[i]), 5)] for i in top],
                "fixed": [round(float(row[i]), 5) for i in FIXED_IDS],
            })
        cases.append({"text": text, "ids": ids, "positions": pos, "greedy": greedy(llm, ids, 64)})
        print(f"smollm2: {len(ids)} tokens, greedy {len(cases[-1]['greedy'])}", file=sys.stderr)
    write_json("smollm2.json", {"fixed_ids": FIXED_IDS, "cases": cases})


def stories(path):
    """llama.cpp's logits for the stories260K fixture prompts with an f32 KV
    cache, teacher-forced along the fixture's greedy tokens: the fixture itself
    came from an f16 cache, so this is the tight reference for the llama arch.
    Per generated position: the 12 largest logits."""
    refs = [json.loads(l) for l in open(path.replace("stories260K.gguf", "reference.jsonl"))]
    llm = llama(path, 256)
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
    write_json("stories260k-f32.json", {"cases": cases})


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


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "smollm2":
        smollm2(sys.argv[2] if len(sys.argv) > 2 else
                os.path.expanduser("~/.cache/paw/models/smollm2-135m.gguf"))
    elif what == "stories":
        stories(sys.argv[2] if len(sys.argv) > 2 else
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                             "fixtures", "stories260k", "stories260K.gguf"))
    elif what == "random":
        random_models()
    else:
        sys.exit("usage: gen_model_golden.py smollm2 [MODEL.gguf] | stories [GGUF] | random")
