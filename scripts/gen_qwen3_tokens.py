#!/usr/bin/env python3
"""Generates tests/golden/tokenizer/qwen3_hf.jsonl: Hugging Face `tokenizers`'
tokenization of 400 random strings under the Qwen3 tokenizer.json fixture,
aimed at the corners the fixture's reference.jsonl covers lightly: Unicode
whitespace (U+0085, U+180E, U+FEFF, U+2028, U+3000), case-folded contraction
look-alikes (ſ, K), decomposed text that the NFC normalizer composes,
control bytes, and added tokens glued to text.

Each line is {"text": ..., "ids": [...]}, from
Tokenizer.from_file(...).encode(text, add_special_tokens=False): added tokens
in the text are matched, no BOS/EOS.

usage: python scripts/gen_qwen3_tokens.py [tokenizer.json] [OUT.jsonl]
(needs `pip install tokenizers`; a test tool only, never a paw dependency)
"""
import json
import os
import random
import sys
import unicodedata

from tokenizers import Tokenizer

RANGES = [(0x20, 0x7e), (0xa0, 0x24f), (0x300, 0x36f), (0x370, 0x3ff), (0x400, 0x4ff),
          (0x590, 0x6ff), (0x900, 0x97f), (0xe00, 0xe7f), (0x1100, 0x11ff), (0x1e00, 0x1eff),
          (0x2000, 0x206f), (0x2070, 0x218f), (0x2190, 0x23ff), (0x2500, 0x27bf), (0x3000, 0x30ff),
          (0x4e00, 0x4fff), (0xac00, 0xad00), (0xfe00, 0xfe0f), (0xff00, 0xffef),
          (0x1f300, 0x1f6ff), (0x1f900, 0x1f9ff), (0x1d400, 0x1d7ff), (0x10000, 0x100ff)]
ODD = ['\u0085', '\u2028', '\u2029', '\ufeff', '\u200b', '\u200d', '\u180e', '\u1680', '\u205f',
       '\x0b', '\x0c', '\x1c', '\x1d', '\r', '\r\n', 'ſ', 'K', "'S", "'ſ", '\u3000']
SPECIAL = ['<|im_start|>', '<|im_end|>', '<think>', '</tool_call>', '<|im_', '<|endoftext|>']
COMMON = [' ', '  ', '\n', "'s", "'S", "'ll", "'LL", '1', '12', ' 3', 'e\u0301', 'A\u030a', 'the', ' word']


def random_text(rng):
    s = []
    for _ in range(rng.randint(1, 20)):
        x = rng.random()
        if x < 0.15:
            s.append(rng.choice(ODD))
        elif x < 0.2:
            s.append(rng.choice(SPECIAL))
        elif x < 0.35:
            s.append(rng.choice(COMMON))
        else:
            while True:
                a, b = rng.choice(RANGES)
                c = chr(rng.randint(a, b))
                if unicodedata.category(c) not in ('Cn', 'Cs', 'Co'):
                    break
            s.append(c)
    return ''.join(s)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, '..', '..', 'shared', 'fixtures', 'qwen3-tokenizer', 'tokenizer.json')
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        here, '..', 'tests', 'golden', 'tokenizer', 'qwen3_hf.jsonl')
    tk = Tokenizer.from_file(src)
    rng = random.Random(20261126)
    with open(out, 'w', encoding='utf-8') as f:
        for _ in range(400):
            t = random_text(rng)
            ids = tk.encode(t, add_special_tokens=False).ids
            f.write(json.dumps({'text': t, 'ids': ids}, ensure_ascii=False) + '\n')
    print(f'wrote 400 lines to {out}')


if __name__ == '__main__':
    main()
