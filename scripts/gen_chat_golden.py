#!/usr/bin/env python3
"""Writes tests/golden/chat/templates.json: conversations rendered by each
model's own Jinja chat template with jinja2 (as Hugging Face transformers
renders them: a sandboxed environment with trim_blocks and lstrip_blocks),
the oracle test_model.c's test_chat_templates holds paw's chat formatting to.

Templates: SmolLM2's tokenizer.chat_template read from the cached GGUF with
the `gguf` package; Qwen3's from the shared fixture's tokenizer_config.json,
rendered with enable_thinking=False (the PAW interpreter's prompt: an empty
think block after the assistant header).  tests/oracle/test_chat_golden.py
renders them again in every test run and checks the committed file.

    build/pyvenv/bin/python scripts/gen_chat_golden.py   # after `make pyvenv`
"""
import hashlib
import json
import os
import sys

import gguf
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "chat", "templates.json")

CONVERSATIONS = [
    ([("user", "Hi")], True),
    ([("user", "PROGRAM\n\n[INPUT]\nx\n[END_INPUT]")], True),
    ([("system", "You are terse."), ("user", "2+2?")], True),
    ([("user", "a"), ("assistant", "b"), ("user", "c")], True),
    ([("system", "S"), ("user", "U"), ("assistant", "A")], False),
    ([("system", "S"), ("user", "U"), ("assistant", "<think>\nhm\n</think>\n\nA")], False),
    ([("user", "q1"), ("assistant", "<think>\nold\n</think>\n\nA1"), ("user", "q2"),
      ("assistant", "\n<think>x<think>\n\nr1\nr2\n\n</think>mid</think>\n\nA2"),
      ("assistant", "\n\nplain")], False),
    ([("system", "S"), ("assistant", "<think>y</think>z")], True),
    ([("user", "unicode caf\u00e9 \u65e5\u672c \U0001f642\n\ttab  spaces ")], True),
    ([("user", "")], True),
]


def smollm2_path():
    c, x, h = os.environ.get("PAW_CACHE_DIR"), os.environ.get("XDG_CACHE_HOME"), os.environ["HOME"]
    if c:
        return os.path.join(c, "models", "smollm2-135m.gguf")
    return os.path.join(x or os.path.join(h, ".cache"), "paw", "models", "smollm2-135m.gguf")


def shared(rel):
    root = os.environ.get("PAW_SHARED") or os.path.join(ROOT, "..", "shared")
    return os.path.join(root, rel)


def templates():
    """{name: template source} for the models paw formats chats for."""
    path = smollm2_path()
    if not os.path.exists(path):
        raise FileNotFoundError(f"missing {path}: run `./paw pull smollm2-135m`")
    f = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
    smol = bytes(f.parts[f.data[0]]).decode("utf-8")
    with open(shared("fixtures/qwen3-tokenizer/tokenizer_config.json"), encoding="utf-8") as fh:
        qwen3 = json.load(fh)["chat_template"]
    return {"smollm2": smol, "qwen3": qwen3}


def render(source, messages, add_generation_prompt):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda v, **kw: json.dumps(v, ensure_ascii=False, **kw)
    t = env.from_string(source)
    return t.render(messages=[{"role": r, "content": c} for r, c in messages],
                    add_generation_prompt=add_generation_prompt, enable_thinking=False,
                    bos_token="", eos_token="")


def golden():
    out = {"jinja2": jinja2.__version__}
    for name, src in templates().items():
        out[name] = {
            "template_sha256": hashlib.sha256(src.encode("utf-8")).hexdigest(),
            "cases": [{"messages": [{"role": r, "content": c} for r, c in msgs],
                       "add_generation_prompt": gen, "text": render(src, msgs, gen)}
                      for msgs, gen in CONVERSATIONS],
        }
    return out


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as fh:
        json.dump(golden(), fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
