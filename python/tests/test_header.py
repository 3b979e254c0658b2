"""The binding agrees with include/paw.h: every function pawc declares has the
header's return and argument types, and every structure it mirrors has the
header's fields, in order, with the same types.  A change to the header that
the binding does not follow fails here instead of corrupting memory."""

import ctypes
import os
import re

import pytest

from pawc import _ffi
from conftest import ROOT

HEADER = os.path.join(ROOT, "include", "paw.h")

SCALARS = {
    "void": None, "int": ctypes.c_int, "int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32,
    "int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64, "size_t": ctypes.c_size_t,
    "float": ctypes.c_float, "double": ctypes.c_double, "uint8_t": ctypes.c_uint8,
    "uint16_t": ctypes.c_uint16, "char": ctypes.c_char,
}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header():
    with open(HEADER, encoding="utf-8") as f:
        return strip_comments(f.read())


def defines(text):
    out = {}
    for name, val in re.findall(r"#define\s+(\w+)\s+(\d+)\b", text):
        out[name] = int(val)
    return out


def struct_bodies(text):
    """typedef struct X { ... } X;  ->  {X: body}; also opaque typedefs."""
    bodies = {m.group(1): m.group(2) for m in re.finditer(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*\1\s*;",
                                                           text, re.S)}
    opaque = set(re.findall(r"typedef\s+struct\s+(\w+)\s+\1\s*;", text))
    return bodies, opaque


def fnptr_typedefs(text):
    return set(re.findall(r"typedef\s+[\w\s\*]+\(\s*\*\s*(\w+)\s*\)\s*\(", text))


def canon_c(decl, bodies, opaque, fnptrs, consts):
    """A C parameter/field type as a canonical string: 'int32_t', 'char*',
    'paw_model*'(opaque: 'opaque*'), 'T**', 'char[21]', 'fnptr'."""
    decl = re.sub(r"\bconst\b", " ", decl)
    decl = re.sub(r"\bstruct\b", " ", decl)
    arr = re.search(r"\[([^\]]+)\]\s*$", decl)
    if arr:
        n = eval(arr.group(1), {}, consts)
        base = decl[:arr.start()].split()[0]
        return f"{base}[{n}]"
    stars = decl.count("*")
    base = decl.replace("*", " ").split()[0]
    if base in fnptrs:
        return "fnptr" + "*" * stars
    if stars == 1 and base in opaque:
        return "opaque*"
    return base + "*" * stars


def canon_ctypes(t):
    if t is None:
        return "void"
    if t is ctypes.c_char_p:
        return "char*"
    if t is ctypes.c_void_p:
        return "opaque*"
    if isinstance(t, type) and issubclass(t, ctypes.Array):
        return f"{canon_ctypes(t._type_)}[{t._length_}]"
    if isinstance(t, type) and issubclass(t, ctypes._Pointer):
        inner = t._type_
        if inner is ctypes.c_void_p:
            return "T**"
        return canon_ctypes(inner) + "*"
    if isinstance(t, type) and issubclass(t, ctypes._CFuncPtr):
        return "fnptr"
    if isinstance(t, type) and issubclass(t, ctypes.Structure):
        return t.__name__
    for name, ct in SCALARS.items():
        if ct is t:
            return name
    raise AssertionError(f"unmapped ctypes type {t}")


def same(c, t):
    """Does the binding's ctypes type t agree with the header's C type c?
    Scalars compare as ctypes objects (c_size_t is c_uint64 on 64-bit
    Linux, so a size_t may be declared either way: the ABI is the same)."""
    if c in SCALARS:
        return SCALARS[c] is t
    if c.endswith("*") and c[:-1] in SCALARS and isinstance(t, type) and issubclass(t, ctypes._Pointer):
        return SCALARS[c[:-1]] is t._type_
    py = canon_ctypes(t)
    if c == py:
        return True
    # void *, or a pointer to a struct pawc never looks into, as a c_void_p
    if py == "opaque*" and (c == "void*" or (c.endswith("*") and not c.endswith("**") and c[:-1] not in SCALARS)):
        return True
    if py == "T**" and c.endswith("**"):            # an out-parameter of an opaque object or buffer
        return True
    if py == "char*" and (c.startswith("char[") or c == "char*"):   # a caller's buffer
        return True
    return False


def prototypes(text):
    protos = {}
    for m in re.finditer(r"PAW_API\s+([^;{]*?)\b(paw_\w+)\s*\(([^)]*)\)\s*;", text, re.S):
        ret, name, args = m.group(1), m.group(2), m.group(3)
        params = [] if args.strip() in ("void", "") else [a.strip() for a in args.split(",")]
        protos[name] = (ret.strip(), params)
    return protos


def param_type(p):
    """'const char *name' -> 'const char *'; 'char id[21]' -> 'char [21]'."""
    m = re.match(r"(.*?)(\w+)\s*(\[[^\]]*\])?\s*$", p, re.S)
    return (m.group(1) + (" " + m.group(3) if m.group(3) else "")).strip()


def test_functions_match_header():
    text = header()
    bodies, opaque = struct_bodies(text)
    fnptrs, consts = fnptr_typedefs(text), defines(text)
    protos = prototypes(text)
    problems = []
    for name, (res, args) in _ffi.FUNCTIONS.items():
        if name not in protos:
            problems.append(f"{name}: not in paw.h")
            continue
        cret, cparams = protos[name]
        cr = canon_c(cret, bodies, opaque, fnptrs, consts)
        if not same(cr, res):
            problems.append(f"{name}: returns {cr} in paw.h, {canon_ctypes(res)} in pawc")
        if len(cparams) != len(args):
            problems.append(f"{name}: {len(cparams)} parameters in paw.h, {len(args)} in pawc")
            continue
        for k, (cp, a) in enumerate(zip(cparams, args)):
            ct = canon_c(param_type(cp), bodies, opaque, fnptrs, consts)
            if not same(ct, a):
                problems.append(f"{name}: parameter {k + 1} is {ct} in paw.h, {canon_ctypes(a)} in pawc")
    assert not problems, "\n".join(problems)


def struct_fields(body, bodies, opaque, fnptrs, consts):
    fields = []
    for stmt in body.split(";"):
        stmt = " ".join(stmt.split())
        if not stmt:
            continue
        fp = re.match(r"(.*)\(\s*\*\s*(\w+)\s*\)\s*\(.*\)$", stmt)
        if fp:
            fields.append((fp.group(2), "fnptr"))
            continue
        m = re.match(r"([\w\s\*]+?)\s*([\w\s\*\[\]\+,]+)$", stmt)
        base_and_first = stmt
        # split "T a, *b, c[4]" into declarators
        first = re.match(r"((?:const\s+)?(?:struct\s+)?\w+)\s+(.*)$", base_and_first)
        base, rest = first.group(1), first.group(2)
        for d in rest.split(","):
            d = d.strip()
            stars = len(d) - len(d.lstrip("*"))
            d = d.lstrip("*").strip()
            name = re.match(r"\w+", d).group(0)
            arr = d[len(name):].strip()
            fields.append((name, canon_c(base + "*" * stars + (" " + arr if arr else ""), bodies, opaque, fnptrs,
                                         consts)))
        del m
    return fields


STRUCTS = [_ffi.paw_program_example, _ffi.paw_program_opts, _ffi.paw_program_stats, _ffi.paw_program_ref,
           _ffi.paw_program_info, _ffi.paw_teacher_opts, _ffi.paw_compile_opts, _ffi.paw_compile_result,
           _ffi.paw_suite_task, _ffi.paw_known_model]


@pytest.mark.parametrize("cls", STRUCTS, ids=lambda c: c.__name__)
def test_structs_match_header(cls):
    text = header()
    bodies, opaque = struct_bodies(text)
    fnptrs, consts = fnptr_typedefs(text), defines(text)
    assert cls.__name__ in bodies, f"{cls.__name__} is not a struct in paw.h"
    c_fields = struct_fields(bodies[cls.__name__], bodies, opaque, fnptrs, consts)
    assert [n for n, _ in c_fields] == [n for n, _ in cls._fields_]
    for (n, ct), (_, t) in zip(c_fields, cls._fields_):
        assert same(ct, t), f"{cls.__name__}.{n}: {ct} in paw.h, {canon_ctypes(t)} in pawc"


def test_the_check_can_fail():
    """The comparison itself notices a wrong type (so a pass means something)."""
    text = header()
    bodies, opaque = struct_bodies(text)
    fnptrs, consts = fnptr_typedefs(text), defines(text)
    cret, cparams = prototypes(text)["paw_program_call"]
    ct = canon_c(param_type(cparams[3]), bodies, opaque, fnptrs, consts)
    assert ct == "int32_t"
    assert same(ct, ctypes.c_int32) and not same(ct, ctypes.c_int64)
    assert not same(canon_c(param_type(cparams[2]), bodies, opaque, fnptrs, consts), ctypes.c_int32)
    assert not same(canon_c(param_type(cparams[0]), bodies, opaque, fnptrs, consts), ctypes.POINTER(ctypes.c_int))
