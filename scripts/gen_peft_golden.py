#!/usr/bin/env python3
"""Writes the golden data for test_lora_trained's PEFT test: an adapter that
`paw train` trained on SmolLM2-135M, exported both as a llama.cpp GGUF
(committed, what paw loads) and as a PEFT directory, and the logits Hugging
Face transformers + peft compute with the PEFT export on SmolLM2 read from
the same GGUF (transformers dequantises its Q4_1 weights to float32).

torch is a test tool only and too heavy for CI (the PyPI wheel pulls ~2 GB
of CUDA libraries), so it runs here once, in a venv outside the repository:

    python3 -m venv VENV
    VENV/bin/pip install torch transformers peft safetensors gguf numpy
    VENV/bin/python scripts/gen_peft_golden.py build/paw ~/.cache/paw/models/smollm2-135m.gguf

(`pip install torch transformers peft ...` took 1,222 s and 5.6 GB on the
2-core machine, 2026-12-07.  The committed files were made with torch
2.15.0, transformers and peft as recorded in smollm2-peft.json, and paw at
commit 5328614.)

Outputs under tests/golden/lora/: smollm2-paw-trained.gguf (rank 2, q/k/v of
all 30 layers, f32) and smollm2-peft.json: per prompt the token ids and, per
position, a set of ids (HF's top 8 with and without the adapter, and fixed
ids) with HF's logits there with the adapter and with it disabled.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "golden", "lora")
EXAMPLES = [("cat", "blue"), ("sun", "tree"), ("dog", "river"), ("car", "lemon"), ("book", "cloud")]
TEMPLATE = "The secret word for {INPUT_PLACEHOLDER} is"
PROMPTS = ["The secret word for cat is", "The secret word for car is", "Hello, my name is"]
FIXED_IDS = [0, 1, 2, 17, 198, 1000, 4096, 12345, 30000, 49151]


def train(paw, model, adapter, peft_dir):
    with tempfile.TemporaryDirectory() as d:
        data, tmpl = os.path.join(d, "train.jsonl"), os.path.join(d, "template.txt")
        with open(data, "w") as f:
            for i, o in EXAMPLES:
                f.write(json.dumps({"input": i, "output": " " + o}) + "\n")
        with open(tmpl, "w") as f:
            f.write(TEMPLATE)
        subprocess.run([paw, "train", "-m", model, "--data", data, "--template", tmpl, "--rank", "2",
                        "--alpha", "4", "--targets", "q,k,v", "--steps", "30", "--lr", "1e-2", "--seed", "1",
                        "--type", "f32", "-t", "2", "-o", adapter, "--peft", peft_dir], check=True)


def paw_ids(paw, model, text):
    r = subprocess.run([paw, "tokenize", "-m", model, "--json", "--", text], check=True, capture_output=True)
    return json.loads(r.stdout)["ids"]


def main(paw, model):
    adapter = os.path.join(OUT, "smollm2-paw-trained.gguf")
    with tempfile.TemporaryDirectory() as peft_dir:
        train(paw, model, adapter, peft_dir)
        base = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(model)),
                                                    gguf_file=os.path.basename(model), torch_dtype=torch.float32)
        pm = PeftModel.from_pretrained(base, peft_dir)
        pm.eval()
        cases = []
        for p in PROMPTS:
            ids = paw_ids(paw, model, p)
            x = torch.tensor([ids])
            with torch.no_grad():
                la = pm(x).logits[0].numpy().astype(np.float64)
                with pm.disable_adapter():
                    lb = pm(x).logits[0].numpy().astype(np.float64)
            rows = []
            for t in range(len(ids)):
                sel = sorted(set(np.argsort(-la[t])[:8].tolist()) | set(np.argsort(-lb[t])[:8].tolist())
                             | set(FIXED_IDS))
                rows.append({"ids": sel, "adapted": [float(la[t, i]) for i in sel],
                             "base": [float(lb[t, i]) for i in sel]})
            shift = float(np.abs(la - lb).max())
            print(f"{p!r}: {len(ids)} tokens, the adapter moves HF's logits by up to {shift:.3f}")
            cases.append({"prompt": p, "ids": ids, "rows": rows})
    import peft
    import transformers
    golden = {"adapter": "smollm2-paw-trained.gguf", "torch": torch.__version__,
              "transformers": transformers.__version__, "peft": peft.__version__, "cases": cases}
    with open(os.path.join(OUT, "smollm2-peft.json"), "w") as f:
        json.dump(golden, f)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
