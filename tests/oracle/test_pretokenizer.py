#!/usr/bin/env python3
"""paw's byte-level BPE with the GPT-2 pre-tokenizer against Hugging Face
`tokenizers` (Rust, its own regex engine): an independent implementation of
the same split and merge rules.

SmolLM2's vocabulary and merges are read from the cached GGUF with the
`gguf` package and written into a vocab-only GGUF with tokenizer.ggml.pre
"gpt2" (GPT-2's regex alone); `tokenizers` gets the same vocabulary and
merges with its ByteLevel pre-tokenizer (GPT-2's regex, no prefix space).
`paw tokenize --json` must give the same ids for every text.  (SmolLM2's own
"smollm" split, digits first, is not checked here: its vocabulary has no
multi-digit token, so ids could not tell the two splits apart.)  Run by
tests/run.sh.
"""
import json
import os
import subprocess
import tempfile

import gguf
from tokenizers import Tokenizer, models, pre_tokenizers

import tap

TEXTS = [
    "Hello world", "Hello, world! How's it going? I'm fine; they'll see, we've done, you'd know.",
    "It's 'quoted' and \"double\" and `back`.", "SHOUTING'S FINE'LL", "  leading and trailing  ",
    "tabs\tand\nnewlines\n\n\nand\r\nCRLF", "many     spaces    between", "a\u00a0b\u2003c\u3000d",
    "numbers 1 12 123 1234 12345 3.14159 -7 1e10 0x1F", "2024-11-26 13:05:07 UTC",
    "unicode: café naïve résumé Zürich São Paulo", "Ελληνικά русский עברית العربية",
    "日本語のテキストと中文文本", "emoji 🙂🚀 and flags 🇫🇷", "combining e\u0301 and a\u0308",
    "symbols @#$%^&*()_+-=[]{}|;:,.<>?/~", "mixed123abc456 a1b2c3", "'s't're've'm'll'd",
    "don't DON'T Don't", "x" * 60, "ERROR: disk /dev/sda1 full (98%)! Retrying in 5s...",
    "line one\n  indented\n\ttabbed\n", " ", "\n", "a  \n  b", "end with space ",
]


def smollm2_path():
    c, x, h = os.environ.get("PAW_CACHE_DIR"), os.environ.get("XDG_CACHE_HOME"), os.environ["HOME"]
    if c:
        return os.path.join(c, "models", "smollm2-135m.gguf")
    return os.path.join(x or os.path.join(h, ".cache"), "paw", "models", "smollm2-135m.gguf")


def field_strings(r, key):
    f = r.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def load_vocab():
    path = smollm2_path()
    assert os.path.exists(path), f"missing {path}: run `./paw pull smollm2-135m`"
    r = gguf.GGUFReader(path)
    tokens = field_strings(r, "tokenizer.ggml.tokens")
    merges = field_strings(r, "tokenizer.ggml.merges")
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    return tokens, merges, types


def write_vocab_gguf(path, pre, tokens, merges, types):
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()


def paw_ids(vocab_gguf, text):
    paw = os.environ.get("PAW_BIN") or os.path.join(tap.build_dir(), "paw")
    r = subprocess.run([paw, "tokenize", "-m", vocab_gguf, "--json", "-"], input=text.encode(),
                       capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)["ids"]


def compare(pre, hf_pre):
    tokens, merges, types = load_vocab()
    hf = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)},
                              [tuple(m.split(" ", 1)) for m in merges]))
    hf.pre_tokenizer = hf_pre
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, f"{pre}.gguf")
        write_vocab_gguf(path, pre, tokens, merges, types)
        bad = []
        for text in TEXTS:
            want = hf.encode(text, add_special_tokens=False).ids
            got = paw_ids(path, text)
            if got != want:
                bad.append(f"{text!r}: paw {got} tokenizers {want}")
        assert not bad, "\n".join(bad)


def test_gpt2_pretokenizer_matches_tokenizers():
    compare("gpt2", pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))


if __name__ == "__main__":
    tap.check(test_gpt2_pretokenizer_matches_tokenizers)
    tap.done()
