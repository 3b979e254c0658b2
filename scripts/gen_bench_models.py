#!/usr/bin/env python3
"""Writes random-weight GGUFs with the exact shapes of Qwen3-0.6B and GPT-2
124M, for benchmarks.

Neither model is downloadable here, so bench/bench_vs_llamacpp.py measures
paw and llama.cpp on files that have their tensors, types and sizes.  Speed
does not depend on the weights' values, only on types and shapes.

Qwen3-0.6B (--arch qwen3, the default): arch qwen3, 28 layers, n_embd 1024,
16 query heads and 8 KV heads of 128, ffn 3072, vocab 151936, tied token
embedding / output head (as the real model), rope base 1e6, rms eps 1e-6,
per-head q/k RMSNorm.

GPT-2 124M (--arch gpt2): arch gpt2, 12 layers, n_embd 768, 12 heads, ffn
3072, n_ctx 1024, vocab 50257, learned position embeddings (F32, as
llama.cpp's converter keeps them and llama-quantize leaves them), fused
attn_qkv with bias, LayerNorm weight + bias (eps 1e-5), biased attn_output /
ffn_up / ffn_down, GELU MLP, and a tied head: no output.weight, as the
current convert_hf_to_gguf.py writes GPT-2 (llama.cpp and paw then use
token_embd as the head).  These are the tensor names and keys that both
llama.cpp's gpt2 loader (src/models/gpt2.cpp) and paw's (src/model/arch.c)
require.

The weights are random (normal, std 0.02; norm weights 1 +- 0.1; biases std
0.02); 1-D tensors stay F32.  Two ways to make a type:

  q8_0, q4_0: quantized here with the `gguf` package's own quantizers.
  q6_k: the way a real one is made: the F16 file is written first (the same
    random draws; 2-D weights F16, the rest F32) and then quantized by
    llama.cpp's own quantizer, llama_model_quantize with
    LLAMA_FTYPE_MOSTLY_Q6_K through llama-cpp-python's ctypes binding (the
    `gguf` package has no Q6_K quantizer).  An independent tool, used only to
    make a bench file.  Resulting types (llama-cpp-python 0.3.36,
    Qwen3 shape, tied): every 2-D weight Q6_K, token_embd (= the head)
    included -- 197 tensors; the 113 norm weights stay F32; nothing is kept
    in another type (no imatrix, so llama.cpp's plain Q6_K rounding).  The
    file is 495,106,624 bytes.  The official base (qwen3-0.6b-q6_k.gguf,
    622,733,120 bytes, ../shared/reference/paw.md) is 127.6 MB larger:
    exactly one more Q6_K 1024 x 151936 matrix, i.e. it stores a separate
    output.weight -- --untied gives that layout.  Decode reads the same
    bytes per token either way (one head; the embedding is a row lookup).

GPT-2 Q8_0 types: token_embd and the 48 layer matrices Q8_0 (49), the 98
1-D tensors and position_embd F32 (99): what llama-quantize makes of a
converted GPT-2 (it never quantizes position_embd).  134,883,888 bytes of
tensors; with the 2048 positions of the published GPT-2 base (paw.md) the
same layout has 138,029,616, and that file's 139,804,832 bytes leave 1.8 MB,
about what GPT-2's real tokens and merges take as metadata.

Note on Q4_0: llama-quantize would give the tied embedding Q6_K in a real
Q4_0 file; the q4_0 here comes from the gguf package, so every matrix, the
embedding included, is Q4_0 (88 MB of head read per token, not 128 MB).

Tokenizer: for Qwen3 the real vocabulary, converted from
../shared/fixtures/qwen3-tokenizer/tokenizer.json by `paw vocab`, with its
tokenizer.* keys copied in and the token list padded to 151936 with
"[PADn]" tokens (type UNUSED), as llama.cpp's converter pads the real file.
If `paw vocab` is unavailable (--paw missing), and always for GPT-2 (its
vocabulary is not available offline), a byte-level stand-in is written: 256
byte tokens in GPT-2's byte-to-unicode spelling, no real merges, padding, and
for GPT-2 "<|endoftext|>" as the last id (50256, bos = eos, as in GPT-2).

Usage (the gguf package and numpy must be importable; q6_k also needs
llama-cpp-python, e.g. the native build used by BENCHMARKS.md):

    PYTHONPATH=/work/venvs/llama-native-lib/py LLAMA_CPP_LIB_PATH=/work/venvs/llama-native-lib \\
    /work/venvs/gguf/bin/python scripts/gen_bench_models.py \\
        [--arch qwen3|gpt2] [--out /tmp/paw-bench] [--types q8_0,q4_0,q6_k] [--paw ./paw]
        [--untied] [--force] [--no-check]

Writes OUT/qwen3-0.6b-shape-<type>.gguf (about 640 MB for Q8_0, 340 MB for
Q4_0, 495 MB for Q6_K) or OUT/gpt2-shape-<type>.gguf (136 MB for Q8_0);
--types defaults to q8_0,q4_0 for qwen3 and q8_0 for gpt2.  An existing file
of that name is kept unless --force.  Takes up to a minute per Qwen3 file on
the 2-core dev box (Q6_K, 18 s on a quiet box: the 1.2 GB F16 intermediate,
deleted afterwards, then llama.cpp's quantization); GPT-2 a few seconds.
"""
import argparse
import collections
import ctypes
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
             "e.g. run it with /work/venvs/gguf/bin/python")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Qwen3-0.6B's config.json.
QWEN3_06B = dict(arch="qwen3", n_layer=28, n_embd=1024, n_head=16, n_head_kv=8, head_dim=128,
                 n_ff=3072, n_vocab=151936, n_ctx_train=40960, rope_base=1e6, rms_eps=1e-6)
# GPT-2 124M's config.json (n_ctx 1024; llama.cpp's converter sets ffn = 4 n_embd).
GPT2_124M = dict(arch="gpt2", n_layer=12, n_embd=768, n_head=12, n_ff=3072, n_vocab=50257,
                 n_ctx_train=1024, ln_eps=1e-5)
MODELS = {"qwen3": (QWEN3_06B, "qwen3-0.6b-shape", "Qwen3-0.6B", "q8_0,q4_0"),
          "gpt2": (GPT2_124M, "gpt2-shape", "GPT-2 124M", "q8_0")}

# Types the gguf package quantizes itself.
QTYPES = {"q8_0": gguf.GGMLQuantizationType.Q8_0,
          "q4_0": gguf.GGMLQuantizationType.Q4_0}
FTYPES = {"q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
          "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}
# Types made by llama.cpp's quantizer from an F16 file.
LLAMA_FTYPES = {"q6_k": gguf.LlamaFileType.MOSTLY_Q6_K}

# Tensor kinds: "mat" is a 2-D weight in the file's type; "f32mat" a 2-D
# weight kept F32 (GPT-2's positions); "norm" and "bias" are 1-D F32.


def tensor_list(hp, tied):
    """(name, numpy shape (rows, cols), kind) in llama.cpp's converter's order."""
    E, F, V = hp["n_embd"], hp["n_ff"], hp["n_vocab"]
    out = [("token_embd.weight", (V, E), "mat")]
    if hp["arch"] == "gpt2":
        out.append(("position_embd.weight", (hp["n_ctx_train"], E), "f32mat"))
        for i in range(hp["n_layer"]):
            p = f"blk.{i}."
            out += [
                (p + "attn_norm.weight", (E,), "norm"),
                (p + "attn_norm.bias", (E,), "bias"),
                (p + "attn_qkv.weight", (3 * E, E), "mat"),
                (p + "attn_qkv.bias", (3 * E,), "bias"),
                (p + "attn_output.weight", (E, E), "mat"),
                (p + "attn_output.bias", (E,), "bias"),
                (p + "ffn_norm.weight", (E,), "norm"),
                (p + "ffn_norm.bias", (E,), "bias"),
                (p + "ffn_up.weight", (F, E), "mat"),
                (p + "ffn_up.bias", (F,), "bias"),
                (p + "ffn_down.weight", (E, F), "mat"),
                (p + "ffn_down.bias", (E,), "bias"),
            ]
        out += [("output_norm.weight", (E,), "norm"), ("output_norm.bias", (E,), "bias")]
    else:
        HD = hp["head_dim"]
        q, kv = hp["n_head"] * HD, hp["n_head_kv"] * HD
        for i in range(hp["n_layer"]):
            p = f"blk.{i}."
            out += [
                (p + "attn_norm.weight", (E,), "norm"),
                (p + "attn_q.weight", (q, E), "mat"),
                (p + "attn_k.weight", (kv, E), "mat"),
                (p + "attn_v.weight", (kv, E), "mat"),
                (p + "attn_q_norm.weight", (HD,), "norm"),
                (p + "attn_k_norm.weight", (HD,), "norm"),
                (p + "attn_output.weight", (E, q), "mat"),
                (p + "ffn_norm.weight", (E,), "norm"),
                (p + "ffn_gate.weight", (F, E), "mat"),
                (p + "ffn_up.weight", (F, E), "mat"),
                (p + "ffn_down.weight", (E, F), "mat"),
            ]
        out.append(("output_norm.weight", (E,), "norm"))
    if not tied:
        out.append(("output.weight", (V, E), "mat"))
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


def byte_vocab_fields(n_vocab, pre="qwen2", eot=None):
    """Stand-in: 256 byte tokens in GPT-2's byte-to-unicode spelling, no real
    merges, "[PADn]" padding; `eot` names a control token put at the last id
    and used as bos and eos (GPT-2's <|endoftext|> = 50256)."""
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
    A, S, I, U = (gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.STRING, gguf.GGUFValueType.INT32,
                  gguf.GGUFValueType.UINT32)
    extra = []
    if eot:
        toks[-1], types[-1] = eot, int(gguf.TokenType.CONTROL)
        extra = [("tokenizer.ggml.bos_token_id", n_vocab - 1, U, None),
                 ("tokenizer.ggml.eos_token_id", n_vocab - 1, U, None)]
    return [("tokenizer.ggml.model", "gpt2", S, None),
            ("tokenizer.ggml.pre", pre, S, None),
            ("tokenizer.ggml.tokens", toks, A, S),
            ("tokenizer.ggml.token_type", types, A, I),
            ("tokenizer.ggml.merges", ["\u0120 \u0120"], A, S)] + extra


def write_model(path, title, ftype, mat_type, hp, tied, tok_fields, seed):
    """Streams a random-weight file to `path` (via path.tmp): 2-D "mat"
    tensors in mat_type (a gguf-quantizable type or F16), the rest F32."""
    rng = np.random.default_rng(seed)
    tmp = path + ".tmp"
    w = gguf.GGUFWriter(tmp, hp["arch"])
    w.add_name(title)
    w.add_file_type(int(ftype))
    w.add_context_length(hp["n_ctx_train"])
    w.add_embedding_length(hp["n_embd"])
    w.add_block_count(hp["n_layer"])
    w.add_feed_forward_length(hp["n_ff"])
    w.add_head_count(hp["n_head"])
    if hp["arch"] == "gpt2":
        w.add_layer_norm_eps(hp["ln_eps"])
    else:
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
    f16 = mat_type == gguf.GGMLQuantizationType.F16
    bs, ts = gguf.GGML_QUANT_SIZES[mat_type]
    for name, shape, kind in tl:
        if kind != "mat":
            w.add_tensor_info(name, shape, np.dtype(np.float32), 4 * int(np.prod(shape)))
        elif f16:
            w.add_tensor_info(name, shape, np.dtype(np.float16), 2 * shape[0] * shape[1])
        else:
            rows, cols = shape
            nbytes = rows * (cols // bs) * ts
            w.add_tensor_info(name, (rows, cols // bs * ts), np.dtype(np.uint8), nbytes, raw_dtype=mat_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shape, kind in tl:
        if kind == "norm":
            w.write_tensor_data((1.0 + 0.1 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32))
            continue
        if kind == "bias":
            w.write_tensor_data((0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32))
            continue
        rows, cols = shape
        # In slabs of ~16M weights to bound the float32 working set.
        step = max(1, (1 << 24) // cols)
        parts = []
        for r0 in range(0, rows, step):
            n = min(step, rows - r0)
            f = rng.standard_normal((n, cols), dtype=np.float32)
            f *= 0.02
            if kind == "f32mat":
                parts.append(f)
            elif f16:
                parts.append(f.astype(np.float16))
            else:
                parts.append(quantize(f, mat_type))
        w.write_tensor_data(np.concatenate(parts, axis=0))
    w.close()
    os.replace(tmp, path)


def llama_quantize(src, dst, ftype):
    """llama.cpp's own quantizer (llama_model_quantize, as llama-quantize
    runs it, no imatrix) from src to dst (via dst.tmp)."""
    try:
        import llama_cpp
    except ImportError:
        sys.exit("gen_bench_models.py: this type is made by llama.cpp's quantizer: needs "
                 "llama-cpp-python importable (e.g. PYTHONPATH=/work/venvs/llama-native-lib/py "
                 "LLAMA_CPP_LIB_PATH=/work/venvs/llama-native-lib)")
    llama_cpp.llama_backend_init()
    p = llama_cpp.llama_model_quantize_default_params()
    p.nthread = os.cpu_count() or 1
    p.ftype = int(ftype)
    tmp = dst + ".tmp"
    rc = llama_cpp.llama_model_quantize(src.encode(), tmp.encode(), ctypes.byref(p))
    if rc != 0:
        if os.path.exists(tmp):
            os.unlink(tmp)
        sys.exit(f"gen_bench_models.py: llama_model_quantize({src}) failed ({rc})")
    os.replace(tmp, dst)


def type_summary(path):
    """'Q6_K 197, F32 113 (...)': the tensor types in the file, with the
    tensors that are not of the most common type named when few."""
    r = gguf.GGUFReader(path)
    by = collections.defaultdict(list)
    for t in r.tensors:
        by[t.tensor_type.name].append(t.name)
    parts = []
    for ty, names in sorted(by.items(), key=lambda kv: -len(kv[1])):
        s = f"{ty} {len(names)}"
        if len(names) <= 3:
            s += " (" + ", ".join(names) + ")"
        parts.append(s)
    return ", ".join(parts)


def check_llama_cpp(path):
    """Loads the file in llama.cpp and evaluates a few ids; returns n_vocab."""
    try:
        from llama_cpp import Llama
    except ImportError:
        print("  (llama_cpp not importable here; llama.cpp load check skipped)", file=sys.stderr)
        return None
    llm = Llama(model_path=path, n_ctx=64, n_threads=2, verbose=False)
    nv = llm.n_vocab()
    llm.eval([1, 2, 3, 100, nv - 2])
    lg = np.array(llm.scores[llm.n_tokens - 1])
    if not np.all(np.isfinite(lg)):
        raise SystemExit(f"{path}: llama.cpp produced non-finite logits")
    return nv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", choices=sorted(MODELS), default="qwen3", help="model shape")
    ap.add_argument("--out", default="/tmp/paw-bench")
    ap.add_argument("--types", help="comma-separated: " + ", ".join(list(QTYPES) + list(LLAMA_FTYPES))
                    + " (default q8_0,q4_0 for qwen3, q8_0 for gpt2)")
    ap.add_argument("--paw", default=os.path.join(ROOT, "paw"),
                    help="paw binary for `paw vocab` (default ./paw)")
    ap.add_argument("--untied", action="store_true", help="separate output.weight")
    ap.add_argument("--force", action="store_true", help="rewrite existing files")
    ap.add_argument("--no-check", action="store_true", help="skip the llama.cpp load check")
    args = ap.parse_args()
    hp, stem, shape_name, default_types = MODELS[args.arch]
    os.makedirs(args.out, exist_ok=True)
    tok = None
    for qname in (args.types or default_types).split(","):
        if qname not in QTYPES and qname not in LLAMA_FTYPES:
            sys.exit(f"gen_bench_models.py: unknown type {qname!r} "
                     f"(have {', '.join(list(QTYPES) + list(LLAMA_FTYPES))})")
        suffix = "-untied" if args.untied else ""
        path = os.path.join(args.out, f"{stem}-{qname}{suffix}.gguf")
        if os.path.exists(path) and not args.force:
            print(f"{path}: exists, kept", file=sys.stderr)
            continue
        if tok is None:
            if args.arch == "gpt2":
                tok = byte_vocab_fields(hp["n_vocab"], pre="gpt-2", eot="<|endoftext|>")
                print("vocab: byte-level stand-in (GPT-2's vocabulary is not available offline)",
                      file=sys.stderr)
            elif os.access(args.paw, os.X_OK):
                tok = vocab_fields(args.paw, hp["n_vocab"])
                print("vocab: real Qwen3 tokenizer via `paw vocab`, padded to "
                      f"{hp['n_vocab']}", file=sys.stderr)
            else:
                tok = byte_vocab_fields(hp["n_vocab"])
                print(f"vocab: {args.paw} not found; byte-level stand-in", file=sys.stderr)
        title = f"{shape_name}-shaped random {qname.upper()} (paw benchmark)"
        t0 = time.time()
        if qname in QTYPES:
            write_model(path, title, FTYPES[qname], QTYPES[qname], hp, not args.untied, tok, seed=6)
        else:
            f16 = path + ".f16.tmp"
            try:
                write_model(f16, title, gguf.LlamaFileType.MOSTLY_F16, gguf.GGMLQuantizationType.F16,
                            hp, not args.untied, tok, seed=6)
                print(f"{f16}: F16 written in {time.time() - t0:.0f} s; llama_model_quantize "
                      f"-> {qname.upper()}", file=sys.stderr)
                llama_quantize(f16, path, LLAMA_FTYPES[qname])
            finally:
                if os.path.exists(f16):
                    os.unlink(f16)
        print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB in {time.time() - t0:.0f} s; "
              f"tensor types: {type_summary(path)}", file=sys.stderr)
        if not args.no_check:
            nv = check_llama_cpp(path)
            if nv is not None:
                print(f"  llama.cpp loads it (n_vocab {nv})", file=sys.stderr)


if __name__ == "__main__":
    main()
