"""ctypes bindings to libpaw.so: the structures and functions pawc uses.

Every declaration here mirrors include/paw.h; tests/test_header.py parses the
header and fails when a type, an argument or a structure field disagrees.
ctypes releases the GIL for the whole of every call into the library, so
Python threads run paw calls in parallel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int,
                    c_int32, c_size_t, c_uint8, c_uint64, c_void_p)

PROGRAM_ID_LEN = 20
PROGRAM_PATH_MAX = 4096

# enum paw_status
OK, EIO, EFORMAT, ENOMEM, EINVAL, EUNSUPPORTED, ENOTFOUND, EHASH, ENET, ERANGE, ECANCELED = \
    0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10
TYPE_F32, TYPE_F16, TYPE_Q4_0 = 0, 1, 2

# Callback types (the CFUNCTYPE objects must be kept alive while C may call them).
paw_progress_fn = CFUNCTYPE(c_int, c_void_p, c_uint64, c_uint64)
compile_progress_fn = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p)
paw_text_fn = CFUNCTYPE(c_int, c_void_p, POINTER(c_char), c_size_t)
compile_cancelled_fn = CFUNCTYPE(c_int, c_void_p)


class paw_program_example(Structure):
    _fields_ = [("input", c_char_p), ("output", c_char_p)]


class paw_program_opts(Structure):
    _fields_ = [("n_ctx", c_int32), ("n_threads", c_int), ("kv_type", c_int),
                ("no_disk_cache", c_int), ("no_prefix_cache", c_int), ("no_base_check", c_int),
                ("no_speculation", c_int), ("spec_always", c_int), ("no_fetch", c_int),
                ("free_decoding", c_int), ("int8", c_int)]


class paw_program_stats(Structure):
    _fields_ = [("n_prefix", c_int32), ("prefix_source", c_int), ("prefix_rewritten", c_int),
                ("prefix_ms", c_double), ("n_calls", c_uint64), ("n_prompt", c_int32),
                ("n_gen", c_int32), ("stop_reason", c_int), ("prefill_ms", c_double),
                ("decode_ms", c_double), ("total_ms", c_double), ("n_forward", c_int32),
                ("n_drafted", c_int32), ("n_accepted", c_int32), ("total_drafted", c_uint64),
                ("total_accepted", c_uint64)]


class paw_program_ref(Structure):
    _fields_ = [("is_file", c_int), ("id", c_char * (PROGRAM_ID_LEN + 1)),
                ("file", c_char * PROGRAM_PATH_MAX), ("dir", c_char * PROGRAM_PATH_MAX)]


class paw_program_info(Structure):
    _fields_ = [("id", c_char * (PROGRAM_ID_LEN + 1)), ("aliases", c_char_p),
                ("program_id", c_char_p), ("spec_line", c_char_p), ("interpreter", c_char_p),
                ("size", c_uint64)]


class paw_teacher_opts(Structure):
    _fields_ = [("n_threads", c_int), ("n_ctx", c_int32), ("model_name", c_char_p),
                ("api_key", c_char_p), ("timeout_s", c_double), ("seed", c_uint64)]


class paw_compile_opts(Structure):
    _fields_ = [("teacher", c_void_p), ("n_synth", c_int32), ("min_examples", c_int32),
                ("rank", c_int32), ("alpha", c_float), ("lr", c_float), ("steps", c_int32),
                ("eval_every", c_int32), ("seed", c_uint64), ("n_threads", c_int),
                ("record_timings", c_int), ("no_spec_examples", c_int), ("no_labels", c_int),
                ("cv_folds", c_int32), ("model_path", c_char_p),
                ("progress", compile_progress_fn), ("ud", c_void_p), ("cancelled", compile_cancelled_fn),
                ("min_steps", c_int32), ("augment", c_int32), ("label_loss", c_int32)]


class paw_compile_result(Structure):
    _fields_ = [("bundle", c_void_p), ("id", c_char * (PROGRAM_ID_LEN + 1)),
                ("train_em", c_double), ("val_em", c_double), ("loss_first", c_double),
                ("loss_last", c_double), ("steps", c_int32), ("n_train", c_int32),
                ("n_val", c_int32), ("adapter_type", c_int), ("pseudo_source", c_char_p),
                ("n_user", c_int32), ("n_user_dropped", c_int32), ("n_synth", c_int32),
                ("n_synth_rejected", c_int32), ("seconds_pseudo", c_double),
                ("seconds_synth", c_double), ("seconds_train", c_double),
                ("seconds_export", c_double), ("n_spec", c_int32), ("n_spec_used", c_int32),
                ("n_labels", c_int32), ("cv_folds", c_int32), ("cv_em", c_double),
                ("n_train_wrong", c_int32), ("seconds_cv", c_double), ("n_variants", c_int32)]


class paw_suite_task(Structure):
    _fields_ = [("id", c_char_p), ("category", c_char_p), ("spec", c_char_p),
                ("train", POINTER(paw_program_example)), ("test", POINTER(paw_program_example)),
                ("n_train", c_size_t), ("n_test", c_size_t)]


class paw_known_model(Structure):
    _fields_ = [("name", c_char_p), ("description", c_char_p), ("size", c_uint64),
                ("sha256", c_char_p), ("source", c_char_p)]


_pp = POINTER(c_void_p)      # T **out for an opaque T, or a returned buffer

# name: (restype, argtypes) — exactly what include/paw.h declares.
FUNCTIONS = {
    "paw_last_error": (c_char_p, []),
    "paw_status_name": (c_char_p, [c_int]),
    "paw_free": (None, [c_void_p]),
    "paw_simd_name": (c_char_p, []),
    "paw_cache_dir": (c_int, [c_char_p, c_size_t]),
    "paw_pull": (c_int, [c_char_p, paw_progress_fn, c_void_p]),
    "paw_model_resolve": (c_int, [c_char_p, c_char_p, c_size_t]),
    "paw_known_model_find": (POINTER(paw_known_model), [c_char_p]),
    "paw_model_load": (c_int, [c_char_p, _pp]),
    "paw_model_free": (None, [c_void_p]),
    "paw_model_arch": (c_char_p, [c_void_p]),
    "paw_bundle_load": (c_int, [c_char_p, _pp]),
    "paw_bundle_free": (None, [c_void_p]),
    "paw_bundle_write": (c_int, [c_void_p, c_char_p]),
    "paw_program_base_model": (c_int, [c_char_p, c_int, paw_progress_fn, c_void_p, c_char_p, c_size_t]),
    "paw_program_fetch": (c_int, [c_char_p, paw_progress_fn, c_void_p, c_char_p]),
    "paw_program_install": (c_int, [c_void_p, c_char_p, c_char_p]),
    "paw_program_install_file": (c_int, [c_char_p, c_char_p, c_char_p]),
    "paw_program_resolve": (c_int, [c_char_p, POINTER(paw_program_ref)]),
    "paw_program_list": (c_int, [POINTER(POINTER(paw_program_info)), POINTER(c_size_t)]),
    "paw_program_list_free": (None, [POINTER(paw_program_info), c_size_t]),
    "paw_program_open": (c_int, [c_void_p, c_char_p, POINTER(paw_program_opts), _pp]),
    "paw_program_open_base": (c_int, [c_void_p, POINTER(paw_program_opts), _pp]),
    "paw_program_call": (c_int, [c_void_p, c_char_p, c_size_t, c_int32, _pp, POINTER(c_size_t)]),
    "paw_program_call_stream": (c_int, [c_void_p, c_char_p, c_size_t, c_int32, paw_text_fn, c_void_p, _pp,
                                        POINTER(c_size_t)]),
    "paw_program_call_batch": (c_int, [_pp, POINTER(c_char_p), POINTER(c_size_t), c_int, c_int32, _pp,
                                       POINTER(c_size_t), POINTER(c_int)]),
    "paw_program_get_stats": (None, [c_void_p, POINTER(paw_program_stats)]),
    "paw_program_n_labels": (c_int32, [c_void_p]),
    "paw_program_label": (c_char_p, [c_void_p, c_int32]),
    "paw_program_close": (None, [c_void_p]),
    "paw_teacher_open_model": (c_int, [c_char_p, POINTER(paw_teacher_opts), _pp]),
    "paw_teacher_open_url": (c_int, [c_char_p, POINTER(paw_teacher_opts), _pp]),
    "paw_teacher_free": (None, [c_void_p]),
    "paw_compile": (c_int, [c_void_p, c_char_p, POINTER(paw_program_example), c_size_t,
                            POINTER(paw_compile_opts), POINTER(paw_compile_result)]),
    "paw_compile_result_clear": (None, [POINTER(paw_compile_result)]),
    "paw_suite_read": (c_int, [c_char_p, POINTER(POINTER(paw_suite_task)), POINTER(c_size_t)]),
    "paw_suite_free": (None, [POINTER(paw_suite_task), c_size_t]),
    "paw_exact_match": (c_int, [c_char_p, c_char_p]),
}

_lock = threading.Lock()
_lib = None


def _candidates():
    env = os.environ.get("PAWC_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libpaw.so.0")
    found = ctypes.util.find_library("paw")
    if found:
        yield found
    yield "libpaw.so.0"


def lib():
    """The loaded libpaw, with every function's types set (loaded once)."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            errors = []
            for path in _candidates():
                if os.sep in path and not os.path.exists(path):
                    errors.append(f"{path}: no such file")
                    continue
                try:
                    handle = ctypes.CDLL(path)
                    break
                except OSError as e:
                    errors.append(str(e))
            else:
                raise ImportError("pawc cannot load libpaw: " + "; ".join(errors) +
                                  " (set PAWC_LIB to the path of libpaw.so)")
            for name, (res, args) in FUNCTIONS.items():
                fn = getattr(handle, name)
                fn.restype = res
                fn.argtypes = args
            _lib = handle
    return _lib


def take_string(ptr: c_void_p, length: int | None = None) -> str:
    """Decodes a buffer libpaw returned and releases it with paw_free."""
    if not ptr.value:
        return ""
    try:
        raw = ctypes.string_at(ptr.value, length) if length is not None else ctypes.string_at(ptr.value)
    finally:
        lib().paw_free(ptr)
    return raw.decode("utf-8", errors="replace")


__all__ = ["lib", "take_string", "FUNCTIONS", "c_uint8"]
