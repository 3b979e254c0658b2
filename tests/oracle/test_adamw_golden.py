#!/usr/bin/env python3
"""The AdamW and learning-rate golden file test_adamw.c holds paw to
(tests/golden/train/adamw.json) is what the numpy reference in
scripts/gen_adamw_golden.py computes now (to 1e-12: numpy's summation order
may differ between versions and CPUs).  Run by tests/run.sh."""
import json
import os
import sys

import numpy as np

import tap

sys.path.insert(0, os.path.join(tap.repo_root(), "scripts"))
import gen_adamw_golden  # noqa: E402


def close(a, b, path=""):
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: keys differ"
        for k in a:
            close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths differ"
        if a and isinstance(a[0], (int, float)) and not isinstance(a[0], bool):
            x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
            assert np.allclose(x, y, rtol=1e-12, atol=1e-15), f"{path}: values differ"
        else:
            for i, (u, v) in enumerate(zip(a, b)):
                close(u, v, f"{path}[{i}]")
    elif isinstance(a, float):
        assert abs(a - b) <= 1e-12 * max(abs(a), abs(b)) + 1e-15, f"{path}: {a} vs {b}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def test_adamw_golden_is_numpy_reference():
    with open(gen_adamw_golden.OUT, encoding="utf-8") as fh:
        committed = json.load(fh)
    close(committed, gen_adamw_golden.golden())


if __name__ == "__main__":
    tap.check(test_adamw_golden_is_numpy_reference)
    tap.done()
