#!/usr/bin/env python3
"""Generates tests/golden/tokenizer/smollm2.jsonl: llama.cpp's tokenization of
~300 diverse strings under the SmolLM2-135M GGUF's tokenizer (byte-level BPE,
pre-tokenizer "smollm").

Each line is {"text": ..., "special": bool, "ids": [...]}: ids come from
llama-cpp-python's Llama(..., vocab_only=True).tokenize(text, add_bos=False,
special=special).  Strings with special-token text appear twice, with and
without special parsing.  Only valid UTF-8 and assigned code points are used
(llama.cpp replaces invalid bytes with U+FFFD, paw keeps the bytes).

usage: /root/llamavenv/bin/python scripts/gen_smollm2_tokens.py [MODEL.gguf] [OUT.jsonl]
"""
import json
import os
import random
import sys

from llama_cpp import Llama

HAND = [
    "", " ", "  ", "   ", "\n", "\n\n", "\n\n\n", "\t", "\t\t", " \n ", "\r\n", "a", "A",
    "Hello, world!", "Hello world", " Hello world", "hello  world", "Hello\nworld",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure it's fine, isn't it? We'll see; they've gone, you'd know.",
    "DON'T SHOUT'S I'M YOU'RE THEY'VE WE'LL HE'D", "'s 't 're 've 'm 'll 'd", "can't won't",
    "''quoted'' \"double\" `back`", "rock 'n' roll", "it''s",
    "0", "7", "42", "123", "1234567890", "3.14159", "-12.5e-3", "1,000,000", "2026-11-26",
    "x1y22z333", "v2.0.1", "0x1F 0b1010 0o777", "١٢٣ ٤٥٦", "①②③", "½ ¾ ²³",
    "Price: $1,299.99 (20% off!)", "100%", "#1 @user &amp; <b>bold</b>",
    "def f(x):\n    return x**2  # square\n", "if (a && b) { return -1; }",
    "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}",
    "{\"name\": \"Ada\", \"age\": 36, \"tags\": [\"math\", \"code\"]}",
    "SELECT * FROM users WHERE id = 42;", "print(f\"{x!r:>10}\")", "x => x * 2",
    "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); }",
    "    indented    spaces    ", "trailing spaces   ", "   leading", "a\u00a0b", "a\u2009b",
    "a\u3000b", "tab\tin\tmiddle", "mixed \t \n whitespace \r\n end", "line1\n\n\nline2",
    "                                        end", "\n\n\n\n\n\n\n\n\n\nend",
    "café naïve résumé Zürich", "Ünïcödé ẞ ß İstanbul", "Ærøskøbing Smørrebrød", "façade œuvre",
    "日本語のテキストです。", "中文分词测试：今天天气很好！", "한국어 문장입니다", "Привет, мир!",
    "Ελληνικά γράμματα", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "ภาษาไทย",
    "Tiếng Việt có dấu", "Türkçe ğüşıöç", "Polski: zażółć gęślą jaźń", "ქართული ენა",
    "emoji 😀👍🏽👨‍👩‍👧‍👦 🇨🇦 ❤️", "🙂🙂🙂", "a😀b", "🎉 party 🎉", "✓ ✗ ★ ☆",
    "math ∑∫√∞ ≤ ≥ ≠ → ⇒", "∀x∈ℝ: x²≥0", "α+β=γ",
    "URL: https://example.com/path?q=1&r=two#frag", "email: someone.name+tag@example.co.uk",
    "C:\\Users\\name\\file.txt", "/usr/local/bin/paw --help",
    "CamelCaseIdentifierWithNumbers123And456", "snake_case_variable_name = other_value_2",
    "SCREAMING_SNAKE_CASE", "kebab-case-name", "!!!???...,,,;;;", "...", "---", "===",
    "'''quoted''' \"\"\"triple\"\"\"", "you're YOU'RE You'Re", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "ab" * 40, "1" * 50, "the", " the", "The", " The", "THE",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "text <|endoftext|> more", "<|im_start|> not special when split <|im_",
    "<|im_end|>", "<|im_start|>", "<|endoftext|>", "<file_sep>main.py\n<repo_name>x",
    "a<|im_end|>b", "<|im_end|><|im_end|>", "<|im_start|>system\nYou are helpful.<|im_end|>\n",
    "<jupyter_code>print(1)<jupyter_output>1<empty_output>", "<|im_start|>\n\n <|im_end|>  ",
    "[INPUT]\nclassify this\n[END_INPUT]", "<think>\n\n</think>\n\n", "<s> </s> <unk>",
    # Where regex engines disagree on \s: U+180E is not White_Space (PCRE2's
    # \s takes it), U+0085 is, U+FEFF and U+200B are not.
    "a\u180eb", " \u180e x", "\u180e's", "x\u0085y", " \u0085 ", "\ufeffBOM", "a\u200bb",
    "line\u2028sep\u2029end", "\u205f \u1680x", "\x0b\x0c\x0b", "ſ 's 'ſ K",
    "e\u0301 A\u030a", "\u0301start", " \u0301", "Ⅻ ⅻ", "𝟘𝟙𝟚", "ﬁ ﬀ", "ǅ ǈ",
]

# Pools for random mixes: words of many scripts, code, numbers, whitespace,
# punctuation, emoji and special-token text, glued with random separators.
POOLS = [
    ["hello", "world", "The", "quick", "brown", "fox", "isn't", "we'll", "they'd", "I'M",
     "running", "jumped", "tokenizer", "Program", "weights", "neural", "LoRA", "GGUF"],
    ["café", "naïve", "Straße", "Ærø", "żółć", "İ", "ğ", "œ", "ñandú", "Ωμέγα", "жизнь", "Київ"],
    ["日本", "語", "東京", "中文", "测试", "한국어", "ไทย", "हिन्दी", "عربي", "עברית", "ქართ"],
    ["0", "42", "123", "2026", "3.14", "1e-5", "99%", "$5", "#7", "0xFF", "١٢", "½"],
    [" ", "  ", "\t", "\n", "\n\n", "\r\n", "   ", " \n", "\u00a0", "\u3000"],
    [",", ".", "!", "?", "...", ";", ":", "(", ")", "[", "]", "{", "}", "\"", "'", "`", "->",
     "=>", "==", "!=", "&&", "||", "::", "/*", "*/", "//", "#", "@", "~", "^", "|", "\\"],
    ["😀", "👍🏽", "🇯🇵", "❤️", "✨", "🚀", "👨‍💻", "🤖"],
    ["def", "return", "int", "void", "self.x", "foo_bar", "fooBar", "x[i]", "f(x)", "i++", "+=",
     "None", "null", "true", "</div>", "<br/>"],
    ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<file_sep>", "<|im_", "im_end|>"],
]


def random_strings(n, seed=20261126):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            pool = POOLS[rng.randrange(len(POOLS))]
            parts.append(pool[rng.randrange(len(pool))])
            if rng.random() < 0.5:
                parts.append(rng.choice([" ", "", "", " ", "\n", "  ", "\t"]))
        out.append("".join(parts))
    return out


def main():
    home = os.path.expanduser("~")
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(home, ".cache/paw/models/smollm2-135m.gguf")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "tokenizer", "smollm2.jsonl")
    llm = Llama(model_path=model, vocab_only=True, verbose=False)
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<file_sep>",
                "<jupyter_code>", "<jupyter_output>", "<empty_output>"]
    texts, seen = [], set()
    for t in HAND + random_strings(200):
        if t not in seen:
            seen.add(t)
            texts.append(t)
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for t in texts:
            modes = [False, True] if any(s in t for s in specials) else [False]
            for special in modes:
                ids = llm.tokenize(t.encode("utf-8"), add_bos=False, special=special)
                f.write(json.dumps({"text": t, "special": special, "ids": ids}, ensure_ascii=False) + "\n")
                n += 1
    print(f"wrote {n} lines to {out}")


if __name__ == "__main__":
    main()
