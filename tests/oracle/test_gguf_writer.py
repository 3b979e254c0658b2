#!/usr/bin/env python3
"""paw's GGUF writer read back by the `gguf` Python package (llama.cpp's own
reader), an independent implementation.

The file is the one test_gguf's round-trip test writes (PAW_GGUF_KEEP asks
it for a copy).  Every key, type, value, tensor shape, type, offset and byte
is compared with what tests/test_gguf.c (test_roundtrip) put in.
Run by tests/run.sh with build/pyvenv's Python.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGUFReader, GGUFValueType as VT, GGMLQuantizationType as QT

import tap


def fill_bytes(n, seed):
    """The test's byte generator (32-bit LCG, top byte)."""
    out = bytearray(n)
    for i in range(n):
        seed = (seed * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = seed >> 24
    return bytes(out)


def roundtrip_errors(path):
    r = GGUFReader(path)
    errors = []

    def check(what, got, want):
        if got != want:
            errors.append(f"{what}: got {got!r}, want {want!r}")

    def scalar(key):
        f = r.fields[key]
        return f.types[0], f.parts[f.data[0]].tolist()[0] if f.types[0] != VT.STRING else bytes(f.parts[f.data[0]])

    check("version", r.fields["GGUF.version"].parts[-1].tolist()[0], 3)
    want_scalars = {
        "t.u8": (VT.UINT8, 200), "t.i8": (VT.INT8, -100), "t.u16": (VT.UINT16, 60000),
        "t.i16": (VT.INT16, -30000), "t.u32": (VT.UINT32, 4000000000), "t.i32": (VT.INT32, -8),
        "t.f32": (VT.FLOAT32, 0.5), "t.bool": (VT.BOOL, True), "t.bool2": (VT.BOOL, True),
        "t.str": (VT.STRING, b"h\0llo"), "t.empty": (VT.STRING, b""),
        "t.u64": (VT.UINT64, 18000000000000000000), "t.i64": (VT.INT64, -5000000000),
        "t.f64": (VT.FLOAT64, 3.25),
    }
    for key, want in want_scalars.items():
        check(key, scalar(key), want)
    # Arrays of every fixed type: 5 elements from fill_bytes(40, i).
    arr_types = [VT.UINT8, VT.INT8, VT.UINT16, VT.INT16, VT.UINT32, VT.INT32, VT.FLOAT32,
                 VT.BOOL, VT.UINT64, VT.INT64, VT.FLOAT64]
    np_types = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32,
                np.uint8, np.uint64, np.int64, np.float64]
    for i, (vt, nt) in enumerate(zip(arr_types, np_types)):
        raw = bytearray(fill_bytes(40, i))
        if vt == VT.BOOL:
            for j in range(5):
                raw[j] &= 1
        want = np.frombuffer(bytes(raw), dtype=nt)[:5]
        f = r.fields[f"a.{int(vt)}"]
        check(f"a.{int(vt)} types", f.types, [VT.ARRAY, vt])
        got = np.concatenate([np.asarray(f.parts[k]).view(nt) for k in f.data]) if f.data else np.array([])
        if got.tobytes() != want.tobytes():
            errors.append(f"a.{int(vt)}: values differ: {got} vs {want}")
    check("a.empty", len(r.fields["a.empty"].data), 0)
    f = r.fields["a.str"]
    check("a.str", [bytes(f.parts[k]) for k in f.data], [b"one", b"", "thréé".encode()])
    order = [k for k in r.fields if not k.startswith("GGUF.")]
    check("key order", order[:6], ["t.u8", "t.i8", "t.u16", "t.i16", "t.u32", "t.i32"])
    check("key count", len(order), 27)

    tensors = [("f32", QT.F32, [8, 3], 96), ("f16", QT.F16, [17], 34), ("q8_0", QT.Q8_0, [64, 2], 136),
               ("q4_k", QT.Q4_K, [256, 1, 2], 288), ("bf16", QT.BF16, [4, 2, 3, 2], 96),
               ("q4_1", QT.Q4_1, [32, 3], 60)]
    check("tensor count", len(r.tensors), len(tensors))
    for i, (t, (name, qt, shape, nbytes)) in enumerate(zip(r.tensors, tensors)):
        check(f"tensor {i} name", t.name, name)
        check(f"{name} type", t.tensor_type, qt)
        check(f"{name} shape", [int(x) for x in t.shape], shape)
        check(f"{name} bytes", int(t.n_bytes), nbytes)
        check(f"{name} aligned", int(t.data_offset) % 32, 0)
        with open(path, "rb") as fh:
            fh.seek(int(t.data_offset))
            check(f"{name} data", fh.read(nbytes), fill_bytes(300, 100 + i)[:nbytes])

    return errors


def write_roundtrip_file(path):
    """Runs test_gguf's round-trip test, which leaves a copy of its file at path."""
    env = dict(os.environ, PAW_GGUF_KEEP=path, PAW_TEST_FILTER="test_roundtrip",
               CMOCKA_MESSAGE_OUTPUT="TAP")
    r = subprocess.run([os.path.join(tap.build_dir(), "tests", "test_gguf")], env=env,
                       capture_output=True, text=True, cwd=tap.repo_root())
    assert r.returncode == 0 and "ok 1 - test_roundtrip" in r.stdout, r.stdout + r.stderr


def test_gguf_py_reads_paw_writer():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "rt.gguf")
        write_roundtrip_file(path)
        errors = roundtrip_errors(path)
        assert not errors, "\n".join(errors)


if __name__ == "__main__":
    tap.check(test_gguf_py_reads_paw_writer)
    tap.done()
