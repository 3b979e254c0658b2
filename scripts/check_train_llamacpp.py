#!/usr/bin/env python3
"""Checks an adapter written by `paw train` with llama.cpp (a test tool only).

Loads MODEL.gguf with ADAPTER.gguf through llama-cpp-python, greedily decodes
each training example's prompt (template with the input filled in) and
reports how many reproduce the example's output exactly and how many start
with it (models such as stories260K cannot learn to emit EOS, so they run on
after the output).  Run with the venv that has llama.cpp:

    /root/llamavenv/bin/python scripts/check_train_llamacpp.py MODEL.gguf ADAPTER.gguf \
        TRAIN.jsonl TEMPLATE.txt
"""
import json
import sys

import llama_cpp


def main():
    model, adapter, data, tmpl_path = sys.argv[1:5]
    tmpl = open(tmpl_path, encoding="utf-8").read()
    llm = llama_cpp.Llama(model_path=model, lora_path=adapter, n_ctx=256, n_threads=2,
                          verbose=False, seed=0)
    ok = pre = 0
    rows = [json.loads(l) for l in open(data, encoding="utf-8") if l.strip()]
    for r in rows:
        prompt = tmpl.replace("{INPUT_PLACEHOLDER}", r["input"])
        out = llm.create_completion(prompt, max_tokens=16, temperature=0.0, top_k=1)
        text = out["choices"][0]["text"]
        hit = text.strip() == r["output"].strip()
        starts = text.lstrip().startswith(r["output"].strip())
        ok += hit
        pre += starts
        print(f"{r['input']!r} -> {text!r} (want {r['output']!r}){'' if starts else '  MISMATCH'}")
    print(f"{ok}/{len(rows)} exact, {pre}/{len(rows)} start with the output")
    return 0 if pre == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
