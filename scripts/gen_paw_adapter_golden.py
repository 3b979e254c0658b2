#!/usr/bin/env python3
"""Writes the golden data for test_lora's "paw-trained adapter in llama.cpp"
test: an adapter trained by `paw train` on the stories260K fixture, and the
logits and greedy tokens llama.cpp (through llama-cpp-python, a test tool
only) computes with it.

    VENV/bin/python scripts/gen_paw_adapter_golden.py build/paw \
        ../shared/fixtures/stories260k/stories260K.gguf

VENV is a venv outside the repository with llama-cpp-python built from
source (`nice -n 19 VENV/bin/pip install llama-cpp-python numpy`, 10-25
minutes on 2 cores, too long for CI); the committed files were made with
llama-cpp-python 0.3.36 and paw at commit 5328614, 2026-12-07.

1. `paw train` (rank 4, all 7 projections, f32, 40 steps, seed 1) on 4
   examples writes tests/golden/lora/stories-paw-trained.gguf; the committed
   file is what the test loads, so later changes to training do not move it.
2. llama.cpp loads stories260K with that adapter (scale 1; KV cache f32,
   flash attention off) and, for each prompt, records every position's
   logits (all 512 ids) and a 24-token greedy continuation, with and without
   the adapter, into tests/golden/lora/stories-paw-trained.json.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "golden", "lora")
EXAMPLES = [("cat", "blue sky"), ("sun", "green tree"), ("dog", "red ball"), ("fish", "big boat")]
TEMPLATE = "The secret of {INPUT_PLACEHOLDER} is"
PROMPTS = ["The secret of cat is", "The secret of dog is", "Once upon a time, the secret of fish is",
           "Lily saw a big"]
N_GREEDY = 24


def train(paw, model, adapter):
    with tempfile.TemporaryDirectory() as d:
        data, tmpl = os.path.join(d, "train.jsonl"), os.path.join(d, "template.txt")
        with open(data, "w") as f:
            for i, o in EXAMPLES:
                f.write(json.dumps({"input": i, "output": " " + o}) + "\n")
        with open(tmpl, "w") as f:
            f.write(TEMPLATE)
        subprocess.run([paw, "train", "-m", model, "--data", data, "--template", tmpl, "--rank", "4",
                        "--alpha", "8", "--steps", "40", "--lr", "2e-2", "--seed", "1", "--type", "f32",
                        "-t", "1", "-o", adapter], check=True)


def run(model, adapter):
    kw = dict(n_ctx=128, n_threads=2, n_batch=128, logits_all=True, type_k=0, type_v=0,
              flash_attn=False, verbose=False, seed=0)
    llm = Llama(model_path=model, lora_path=adapter, **kw) if adapter else Llama(model_path=model, **kw)
    out = []
    for p in PROMPTS:
        ids = llm.tokenize(p.encode(), add_bos=True)
        llm.reset()
        llm.eval(ids)
        logits = np.array(llm.scores[: len(ids)], dtype=np.float32)
        greedy = []
        for _ in range(N_GREEDY):
            t = int(np.argmax(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)))
            greedy.append(t)
            llm.eval([t])
        out.append({"prompt": p, "ids": [int(x) for x in ids],
                    "logits": [[float("%.9g" % v) for v in row] for row in logits], "greedy": greedy})
    return out


def main(paw, model):
    adapter = os.path.join(OUT, "stories-paw-trained.gguf")
    train(paw, model, adapter)
    golden = {"adapter": "stories-paw-trained.gguf", "model": "fixtures/stories260k/stories260K.gguf",
              "with_adapter": run(model, adapter), "base": run(model, None)}
    with open(os.path.join(OUT, "stories-paw-trained.json"), "w") as f:
        json.dump(golden, f)
        f.write("\n")
    for a, b in zip(golden["with_adapter"], golden["base"]):
        d = np.abs(np.array(a["logits"]) - np.array(b["logits"])).max()
        print(f"{a['prompt']!r}: adapter moves logits by up to {d:.3f}; greedy {a['greedy'][:8]} "
              f"vs base {b['greedy'][:8]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
