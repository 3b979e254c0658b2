#!/usr/bin/env python3
"""The chat-template golden file test_model.c holds paw to
(tests/golden/chat/templates.json) is what jinja2 renders from the models'
own templates now: scripts/gen_chat_golden.py renders every conversation
again and the committed file must equal it.  Run by tests/run.sh."""
import json
import os
import sys

import tap

sys.path.insert(0, os.path.join(tap.repo_root(), "scripts"))
import gen_chat_golden  # noqa: E402


def test_chat_golden_is_jinja2_rendering():
    with open(gen_chat_golden.OUT, encoding="utf-8") as fh:
        committed = json.load(fh)
    fresh = gen_chat_golden.golden()
    for name in ("smollm2", "qwen3"):
        c, f = committed[name], fresh[name]
        assert c["template_sha256"] == f["template_sha256"], f"{name}: the model's template changed"
        for i, (a, b) in enumerate(zip(c["cases"], f["cases"])):
            assert a == b, f"{name} case {i}: committed {a['text']!r}, jinja2 {b['text']!r}"
        assert len(c["cases"]) == len(f["cases"]), f"{name}: case count differs"


if __name__ == "__main__":
    tap.check(test_chat_golden_is_jinja2_rendering)
    tap.done()
