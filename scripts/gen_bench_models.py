#!/usr/bin/env python3
"""Writes random-weight GGUFs with the exact Qwen3-0.6B shapes, for benchmarks.

Qwen3-0.6B itself is not downloadable here, so bench/bench_vs_llamacpp.py
measures paw and llama.cpp on files that have its tensors, types and sizes:
arch qwen3, 28 layers, n_embd 1024, 16 query heads and 8 KV heads of 128,
ffn 3072, vocab 151936, tied token embedding / output head (as the real
model), rope base 1e6, rms eps 1e-6, per-head q/k RMSNorm.  The weights are
random (normal, std 0.02; norms 1 +- 0.1), quantized with the `gguf`
package's own quantizers; norms stay F32.  Speed does not depend on the
values, only on types and shapes.

Tokenizer: the real Qwen3 vocabulary, converted from
../shared/fixtures/qwen3-tokenizer/tokenizer.json by `paw vocab`, with its
tokenizer.* keys copied in and the token list padded to 151936 with
"[PADn]" tokens (type UNUSED), as llama.cpp's converter pads the real file.
If `paw vocab` is unavailable (--paw missing), a byte-level stand-in vocab is
written instead (256 byte tokens + padding, no merges).

Note on Q4_0: llama-quantize would give the tied embedding Q6_K in a real
Q4_0 file; the gguf package has no Q6_K quantizer, so here every matrix,
the embedding included, is Q4_0 (88 MB of head read per token, not 128 MB).

Usage (the gguf package and numpy must be importable, e.g. the llama venv):

    /root/llamavenv/bin/python scripts/gen_bench_models.py \
        [--out /tmp/paw-bench] [--types q8_0,q4_0] [--paw ./paw] [--untied]

Writes OUT/qwen3-0.6b-shape-<type>.gguf (about 640 MB for Q8_0, 340 MB for
Q4_0); an existing file of that name is kept unless --force.  Takes about a
minute per file on the 2-core dev box.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    import gguf
    from gguf.quants import quantize
except ImportError:
    sys.exit("gen_bench_models.py: needs the `gguf` package (pip install gguf), "
             "e.g. run it with /root/llamavenv/bin/python")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Qwen3-0.6B's config.json.
QWEN3_06B = dict(n_layer=28, n_embd=1024, n_head=16, n_head_kv=8, head_dim=128,
                 n_ff=3072, n_vocab=151936, n_ctx_train=40960,
                 rope_base=1e6, rms_eps=1e-6)

QTYPES = {"q8_0": gguf.GGMLQuantizationType.Q8_0,
          "q4_0": gguf.GGMLQuantizationType.Q4_0}
FTYPES = {"q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
          "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}


def tensor_list(hp, tied):
    """(name, numpy shape (rows, cols), is_norm) in llama.cpp's order."""
    E, F, V, HD = hp["n_embd"], hp["n_ff"], hp["n_vocab"], hp["head_dim"]
    q, kv = hp["n_head"] * HD, hp["n_head_kv"] * HD
    out = [("token_embd.weight", (V, E), False)]
    for i in range(hp["n_layer"]):
        p = f"blk.{i}."
        out += [
            (p + "attn_norm.weight", (E,), True),
            (p + "attn_q.weight", (q, E), False),
            (p + "attn_k.weight", (kv, E), False),
            (p + "attn_v.weight", (kv, E), False),
            (p + "attn_q_norm.weight", (HD,), True),
            (p + "attn_k_norm.weight", (HD,), True),
            (p + "attn_output.weight", (E, q), False),
            (p + "ffn_norm.weight", (E,), True),
            (p + "ffn_gate.weight", (F, E), False),
            (p + "ffn_up.weight", (F, E), False),
            (p + "ffn_down.weight", (E, F), False),
        ]
    out.append(("output_norm.weight", (E,), True))
    if not tied:
        out.append(("output.weight", (V, E), False))
    return out


def vocab_fields(paw, n_vocab):
    """tokenizer.* keys from `paw vocab` on the real Qwen3 tokenizer.json:
    [(key, value, GGUFValueType, sub_type)], the token list padded to n_vocab."""
    tj = os.path.join(ROOT, "..", "shared", "fixtures", "qwen3-tokenizer", "tokenizer.json")
    with tempfile.TemporaryDirectory() as d:
        vg = os.path.join(d, "vocab.gguf")
        subprocess.run([paw, "vocab", tj, "-o", vg], check=True, stdout=subprocess.DEVNULL)
        r = gguf.GGUFReader(vg)
        fields = []
        for key, f in r.fields.items():
            if not key.startswith("tokenizer."):
                continue
            vt = f.types[0]
            sub = f.types[-1] if vt == gguf.GGUFValueType.ARRAY else None
            val = f.contents()
            if key == "tokenizer.ggml.tokens":
                val = list(val) + [f"[PAD{i}]" for i in range(len(val), n_vocab)]
            elif key == "tokenizer.ggml.token_type":
                val = list(val) + [int(gguf.TokenType.UNUSED)] * (n_vocab - len(val))
            fields.append((key, val, vt, sub))
    return fields


def byte_vocab_fields(n_vocab):
    """Fallback: 256 byte tokens in GPT-2's byte-to-unicode spelling, no merges."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    toks = [chr(c) for _, c in sorted(zip(bs, cs))]
    types = [int(gguf.TokenType.NORMAL)] * 256
    toks += [f"[PAD{i}]" for i in range(256, n_vocab)]
    types += [int(gguf.TokenType.UNUSED)] * (n_vocab - 256)
    A, S, I = gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.STRING, gguf.GGUFValueType.INT32
    return [("tokenizer.ggml.model", "gpt2", S, None),
            ("tokenizer.ggml.pre", "qwen2", S, None),
            ("tokenizer.ggml.tokens", toks, A, S),
            ("tokenizer.ggml.token_type", types, A, I),
            ("tokenizer.ggml.merges", ["\u0120 \u0120"], A, S)]


def write_model(path, qname, hp, tied, tok_fields, seed):
    qt = QTYPES[qname]
    rng = np.random.default_rng(seed)
    tmp = path + ".tmp"
    w = gguf.GGUFWriter(tmp, "qwen3")
    w.add_name(f"Qwen3-0.6B-shaped random {qname.upper()} (paw benchmark)")
    w.add_file_type(int(FTYPES[qname]))
    w.add_context_length(hp["n_ctx_train"])
    w.add_embedding_length(hp["n_embd"])
    w.add_block_count(hp["n_layer"])
    w.add_feed_forward_length(hp["n_ff"])
    w.add_head_count(hp["n_head"])
    w.add_head_count_kv(hp["n_head_kv"])
    w.add_key_length(hp["head_dim"])
    w.add_value_length(hp["head_dim"])
    w.add_rope_freq_base(hp["rope_base"])
    w.add_layer_norm_rms_eps(hp["rms_eps"])
    w.add_vocab_size(hp["n_vocab"])
    for key, val, vt, sub in tok_fields:
        w.add_key_value(key, val, vt, sub)

    # Tensor infos first, then the data streamed one tensor at a time, so the
    # whole model never sits in memory.
    tl = tensor_list(hp, tied)
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    for name, shape, norm in tl:
        if norm:
            w.add_tensor_info(name, shape, np.dtype(np.float32), 4 * shape[0])
        else:
            rows, cols = shape
            nbytes = rows * (cols // bs) * ts
            w.add_tensor_info(name, (rows, cols // bs * ts), np.dtype(np.uint8), nbytes, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shape, norm in tl:
        if norm:
            a = (1.0 + 0.1 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
            w.write_tensor_data(a)
            continue
        rows, cols = shape
        # In slabs of ~16M weights to bound the float32 working set.
        step = max(1, (1 << 24) // cols)
        parts = []
        for r0 in range(0, rows, step):
            n = min(step, rows - r0)
            f = rng.standard_normal((n, cols), dtype=np.float32)
            f *= 0.02
            parts.append(quantize(f, qt))
        w.write_tensor_data(np.concatenate(parts, axis=0))
    w.close()
    os.replace(tmp, path)


def check_llama_cpp(path):
    """Loads the file in llama.cpp and evaluates a few ids; returns n_vocab."""
    try:
        from llama_cpp import Llama
    except ImportError:
        print("  (llama_cpp not importable here; llama.cpp load check skipped)", file=sys.stderr)
        return None
    llm = Llama(model_path=path, n_ctx=64, n_threads=2, verbose=False)
    llm.eval([1, 2, 3, 100, 151000])
    lg = np.array(llm.scores[llm.n_tokens - 1])
    if not np.all(np.isfinite(lg)):
        raise SystemExit(f"{path}: llama.cpp produced non-finite logits")
    return llm.n_vocab()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/paw-bench")
    ap.add_argument("--types", default="q8_0,q4_0")
    ap.add_argument("--paw", default=os.path.join(ROOT, "paw"),
                    help="paw binary for `paw vocab` (default ./paw)")
    ap.add_argument("--untied", action="store_true", help="separate output.weight")
    ap.add_argument("--force", action="store_true", help="rewrite existing files")
    ap.add_argument("--no-check", action="store_true", help="skip the llama.cpp load check")
    args = ap.parse_args()
    hp = QWEN3_06B
    os.makedirs(args.out, exist_ok=True)
    tok = None
    for qname in args.types.split(","):
        if qname not in QTYPES:
            sys.exit(f"gen_bench_models.py: unknown type {qname!r} (have {', '.join(QTYPES)})")
        suffix = "-untied" if args.untied else ""
        path = os.path.join(args.out, f"qwen3-0.6b-shape-{qname}{suffix}.gguf")
        if os.path.exists(path) and not args.force:
            print(f"{path}: exists, kept", file=sys.stderr)
            continue
        if tok is None:
            if os.access(args.paw, os.X_OK):
                tok = vocab_fields(args.paw, hp["n_vocab"])
                print("vocab: real Qwen3 tokenizer via `paw vocab`, padded to "
                      f"{hp['n_vocab']}", file=sys.stderr)
            else:
                tok = byte_vocab_fields(hp["n_vocab"])
                print(f"vocab: {args.paw} not found; byte-level stand-in", file=sys.stderr)
        t0 = time.time()
        write_model(path, qname, hp, not args.untied, tok, seed=6)
        print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB in {time.time() - t0:.0f} s",
              file=sys.stderr)
        if not args.no_check:
            nv = check_llama_cpp(path)
            if nv is not None:
                print(f"  llama.cpp loads it (n_vocab {nv})", file=sys.stderr)


if __name__ == "__main__":
    main()
