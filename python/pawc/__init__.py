"""pawc — Program-as-Weights in C, from Python.

Compile an English spec (plus examples) into a neural program once, then call
it like a function, locally and offline::

    import pawc as paw
    triage = paw.compile("ALERT if the log line describes an outage, else QUIET",
                         examples=[("disk full on /var", "ALERT"), ("user logged in", "QUIET"), ...])
    fn = paw.function(triage)
    fn("kernel panic on node 7")          # -> "ALERT"

The verbs follow the official PAW SDK (``compile``, ``function``,
``compile_and_load``, ``list_cached_programs``); everything runs in libpaw
(ctypes over libpaw.so), with the GIL released during every C call.
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import json
import os
import sys
import threading
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import _ffi
from .errors import (CancelledError, FormatError, InvalidInputError, NetworkError, NotFoundError,
                     PawError, check)

__version__ = "0.1.0"
DEFAULT_BASE = "smollm2-135m"

__all__ = [
    "compile", "function", "compile_and_load", "install", "list_cached_programs", "pull", "fetch",
    "evaluate", "Program", "Function", "PawError", "InvalidInputError", "FormatError",
    "NetworkError", "NotFoundError", "CancelledError", "DEFAULT_BASE", "__version__",
]

Example = "tuple[str, str] | Mapping[str, str]"


def _b(s: str | os.PathLike | None) -> bytes | None:
    return None if s is None else os.fsencode(s) if isinstance(s, os.PathLike) else s.encode("utf-8")


def _threads(threads: int | None) -> int:
    return 0 if threads is None else int(threads)


# ------------------------------------------------------------------ models

class _Model:
    """A loaded base model (mmap'd once, shared read-only by every handle)."""

    def __init__(self, path: str):
        self.path = path
        h = ctypes.c_void_p()
        check(_ffi.lib().paw_model_load(_b(path), ctypes.byref(h)))
        self.handle = h

    def close(self) -> None:
        if self.handle:
            _ffi.lib().paw_model_free(self.handle)
            self.handle = ctypes.c_void_p()


_models: dict[str, _Model] = {}
_models_lock = threading.Lock()


def _resolve_model(name_or_path: str) -> str:
    buf = ctypes.create_string_buffer(4096)
    check(_ffi.lib().paw_model_resolve(_b(name_or_path), buf, len(buf)))
    return buf.value.decode()


def _model(name_or_path: str) -> _Model:
    path = os.path.realpath(_resolve_model(name_or_path))
    with _models_lock:
        m = _models.get(path)
        if m is None:
            m = _models[path] = _Model(path)
        return m


@atexit.register
def _free_models() -> None:
    for m in _models.values():
        m.close()
    _models.clear()


# ---------------------------------------------------------------- progress

class _Bar:
    """A progress display: tqdm when it is installed, else lines on stderr."""

    def __init__(self, desc: str, unit: str = "B"):
        self.desc, self.unit, self.bar, self.last = desc, unit, None, -1
        try:
            from tqdm import tqdm  # type: ignore
            self.bar = tqdm(desc=desc, unit=unit, unit_scale=True, unit_divisor=1024 if unit == "B" else 1000)
        except ImportError:
            pass

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            if total and self.bar.total != total:
                self.bar.total = total
            self.bar.n = done
            self.bar.refresh()
        elif total:
            q = 4 * done // total
            if q > self.last:
                self.last = q
                print(f"{self.desc}: {25 * q}% ({done / 1e6:.1f} of {total / 1e6:.1f} MB)", file=sys.stderr)

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text[:60])
        else:
            print(f"{self.desc}: {text}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def pull(model: str = DEFAULT_BASE, *, progress: bool | Callable[[int, int], Any] = True) -> str:
    """Fetches a known base model ("smollm2-135m", "qwen3-0.6b", "gpt2") into
    the cache, checked against its pinned size and SHA-256; returns its path.
    ``progress``: True for a bar, False for none, or a callable(done, total)
    that returns True to cancel (CancelledError)."""
    _with_progress(model, progress, lambda cb: _ffi.lib().paw_pull(_b(model), cb, None))
    return _resolve_model(model)


# ---------------------------------------------------------------- programs

@dataclasses.dataclass
class Program:
    """A compiled program in the local program cache.

    ``id`` is its content ID (what ``function`` accepts), ``path`` its
    installed directory or the .paw file written, ``report`` what the compile
    measured (meta.json's metrics and settings)."""
    id: str
    path: str
    spec: str = ""
    pseudo_program: str = ""
    report: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def _from_cache(cls, program_id: str, path: str | None = None) -> "Program":
        ref = _resolve(program_id)
        directory = ref.dir.decode()
        meta, pseudo = {}, ""
        if directory:
            with open(os.path.join(directory, "meta.json"), encoding="utf-8") as f:
                meta = json.load(f)
            pp = os.path.join(directory, "pseudo_program.txt")
            if os.path.exists(pp):
                with open(pp, encoding="utf-8") as f:
                    pseudo = f.read()
        report = {"metrics": meta.get("metrics", {}), "settings": (meta.get("compiler") or {}).get("settings", {})}
        return cls(id=ref.id.decode(), path=path or directory, spec=meta.get("spec", ""),
                   pseudo_program=pseudo, report=report)


def _is_remote(program: str) -> bool:
    """Not a local file, alias or installed program (then perhaps the hub's)."""
    ref = _ffi.paw_program_ref()
    return _ffi.lib().paw_program_resolve(_b(program), ctypes.byref(ref)) == _ffi.ENOTFOUND


def _resolve(program: str) -> _ffi.paw_program_ref:
    ref = _ffi.paw_program_ref()
    check(_ffi.lib().paw_program_resolve(_b(program), ctypes.byref(ref)))
    return ref


def _examples_array(examples: Iterable[Any] | None):
    rows = []
    for e in examples or ():
        if isinstance(e, Mapping):
            i, o = e.get("input"), e.get("output")
        else:
            i, o = e
        if not isinstance(i, str) or not isinstance(o, str):
            raise InvalidInputError("every example needs a string input and a string output", _ffi.EINVAL, "EINVAL")
        rows.append((i.encode("utf-8"), o.encode("utf-8")))
    arr = (_ffi.paw_program_example * max(len(rows), 1))()
    for k, (i, o) in enumerate(rows):
        arr[k].input, arr[k].output = i, o
    return arr, len(rows)


def compile(spec: str, examples: Iterable[Any] | None = None, *, base: str = DEFAULT_BASE,
            teacher: str | None = None, teacher_url: str | None = None, out: str | os.PathLike | None = None,
            seed: int = 0, progress: bool | Callable[[str, str], Any] = True, alias: str | None = None,
            threads: int | None = None, steps: int | None = None, min_examples: int | None = None,
            cv_folds: int | None = None, augment: int | None = None,
            label_loss: bool | None = None) -> Program:
    """Compiles ``spec`` (English) and ``examples`` (``(input, output)`` pairs
    or ``{"input", "output"}`` dicts) into a neural program for ``base``, by
    training a LoRA on this machine; installs it in the program cache (and
    writes a .paw to ``out`` when given).  ``teacher`` (a local GGUF or known
    model name) or ``teacher_url`` (an OpenAI-compatible endpoint; key from
    $PAW_TEACHER_API_KEY or $OPENAI_API_KEY) writes the pseudo-program and
    synthesises examples.  ``progress``: True prints stages and steps (tqdm if
    installed), False is silent, a callable(stage, message) gets every line
    and cancels the compile (CancelledError) by returning True.
    Input/output pairs written inside the spec are used as examples too.
    ``cv_folds`` sets the folds of the cross-validated exact-match estimate
    in ``report`` (default None, like 0 or a negative number: not estimated;
    K folds cost about K times the training).  ``augment``: variants per
    example when outputs copy words of their inputs (those words replaced by
    others of the same shape; never for a closed-label program); None = the
    compiler's default, 0 or less = none.  ``label_loss``: a closed-label
    program's training loss over its labels only (True) or over the whole
    vocabulary (False); None = the compiler's default.
    Raises InvalidInputError for an empty spec or too few examples."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError("compile: the spec is empty", _ffi.EINVAL, "EINVAL")
    lib = _ffi.lib()
    model = _model(base)
    arr, n = _examples_array(examples)
    t = ctypes.c_void_p()
    if teacher or teacher_url:
        topts = _ffi.paw_teacher_opts(n_threads=_threads(threads), seed=seed)
        if teacher_url:
            key = os.environ.get("PAW_TEACHER_API_KEY") or os.environ.get("OPENAI_API_KEY")
            topts.api_key = _b(key)
            check(lib.paw_teacher_open_url(_b(teacher_url), ctypes.byref(topts), ctypes.byref(t)))
        else:
            check(lib.paw_teacher_open_model(_b(_resolve_model(teacher)), ctypes.byref(topts), ctypes.byref(t)))
    bar = _Bar("compile", unit="step") if progress is True else None
    error: list[BaseException] = []
    stop = [False]

    def on_progress(_ud, stage, msg):
        try:
            s, m = stage.decode("utf-8", "replace"), msg.decode("utf-8", "replace")
            if bar is not None:
                bar.message(f"{s}: {m}")
            elif callable(progress) and progress(s, m):
                stop[0] = True
        except BaseException as e:   # an exception in the callback cancels too
            error.append(e)
            stop[0] = True

    cb = _ffi.compile_progress_fn(on_progress)
    cancel_cb = _ffi.compile_cancelled_fn(lambda _ud: int(stop[0]))
    opts = _ffi.paw_compile_opts(teacher=t, seed=seed, n_threads=_threads(threads),
                                 model_path=_b(model.path), progress=cb, cancelled=cancel_cb)
    if steps is not None:
        opts.steps = steps
    if min_examples is not None:
        opts.min_examples = min_examples
    if cv_folds is not None:
        opts.cv_folds = cv_folds if cv_folds > 0 else -1
    if augment is not None:
        opts.augment = augment if augment > 0 else -1
    if label_loss is not None:
        opts.label_loss = 1 if label_loss else -1
    res = _ffi.paw_compile_result()
    try:
        status = lib.paw_compile(model.handle, _b(spec), arr, n, ctypes.byref(opts), ctypes.byref(res))
        if error:
            raise error[0]
        check(status)
        idbuf = ctypes.create_string_buffer(_ffi.PROGRAM_ID_LEN + 1)
        check(lib.paw_program_install(res.bundle, _b(alias), idbuf))
        if out is not None:
            check(lib.paw_bundle_write(res.bundle, _b(os.fspath(out))))
        program_id = idbuf.value.decode()
    finally:
        lib.paw_compile_result_clear(ctypes.byref(res))
        if t:
            lib.paw_teacher_free(t)
        if bar is not None:
            bar.close()
    return Program._from_cache(program_id, os.fspath(out) if out is not None else None)


def install(path: str | os.PathLike, alias: str | None = None) -> Program:
    """Installs a .paw bundle (validated) into the program cache."""
    idbuf = ctypes.create_string_buffer(_ffi.PROGRAM_ID_LEN + 1)
    check(_ffi.lib().paw_program_install_file(_b(os.fspath(path)), _b(alias), idbuf))
    return Program._from_cache(idbuf.value.decode())


def list_cached_programs() -> list[dict]:
    """The installed programs: id, aliases, program_id, spec (first line),
    interpreter, size in bytes."""
    lib = _ffi.lib()
    arr = ctypes.POINTER(_ffi.paw_program_info)()
    n = ctypes.c_size_t()
    check(lib.paw_program_list(ctypes.byref(arr), ctypes.byref(n)))
    try:
        def s(v):
            return (v or b"").decode("utf-8", "replace")
        return [{"id": arr[i].id.decode(), "aliases": [a for a in s(arr[i].aliases).split(",") if a],
                 "program_id": s(arr[i].program_id), "spec": s(arr[i].spec_line),
                 "interpreter": s(arr[i].interpreter), "size": arr[i].size} for i in range(n.value)]
    finally:
        lib.paw_program_list_free(arr, n)


def _progress_cb(what: str, progress: "bool | Callable[[int, int], Any]", errors: list):
    """A paw_progress_fn for downloads: a bar, nothing, or the caller's
    callable(done, total) (True cancels); keep the result alive during the
    call.  Returns (callback, bar or None)."""
    bar = _Bar(what) if progress is True else None

    def on_progress(_ud, done, total):
        try:
            if bar is not None:
                bar.update(done, total)
                return 0
            return 1 if callable(progress) and progress(done, total) else 0
        except BaseException as e:  # an exception in the callback cancels
            errors.append(e)
            return 1
    return _ffi.paw_progress_fn(on_progress), bar


def _with_progress(what, progress, call):
    errors: list = []
    cb, bar = _progress_cb(what, progress, errors)
    try:
        status = call(cb)
    finally:
        if bar is not None:
            bar.close()
    if errors:
        raise errors[0]
    check(status)


def _program_base(program: str, progress) -> str:
    """The path of the base model a program names, pulled (with a progress
    bar) on first use, as the official SDK fetches its base."""
    buf = ctypes.create_string_buffer(4096)
    _with_progress("base model", progress,
                   lambda cb: _ffi.lib().paw_program_base_model(_b(program), 1, cb, None, buf, len(buf)))
    return buf.value.decode()


def fetch(program: str, *, progress: bool | Callable[[int, int], Any] = True) -> Program:
    """Makes a program runnable offline (the SDK's prepare_program): a local
    name resolves as it is, a hub reference (hex ID, ``user/slug``,
    ``user/slug@vN``, official name) is resolved on the hub
    ($PAW_API_URL), downloaded, validated and installed; its base model is
    pulled too.  Honours $PAW_OFFLINE=1 and $PAW_API_KEY."""
    idbuf = ctypes.create_string_buffer(_ffi.PROGRAM_ID_LEN + 1)
    _with_progress(program, progress, lambda cb: _ffi.lib().paw_program_fetch(_b(program), cb, None, idbuf))
    _program_base(idbuf.value.decode(), progress)
    return Program._from_cache(idbuf.value.decode())


class Function:
    """A callable program: ``fn(text) -> str``.

    Safe to share between threads: each thread that calls it gets its own C
    handle (own KV cache) on the one shared base model, and the GIL is
    released while paw runs.  ``close()`` (or a ``with`` block) frees them."""

    def __init__(self, program: "Program | str | os.PathLike | None", *, base: str | None = None,
                 n_ctx: int = 2048, threads: int | None = None, max_tokens: int | None = None,
                 progress: bool | Callable[[int, int], Any] = True, int8: bool = False):
        if isinstance(program, Program):
            program = program.id
        self.program = None if program is None else os.fspath(program)
        if self.program is not None:
            # A hub reference is fetched once here (every thread's handle then
            # finds it installed); errors surface now, not on the first call.
            self.program = fetch(self.program, progress=progress).id if _is_remote(self.program) else self.program
            _resolve(self.program)
        if base is None:
            base = DEFAULT_BASE if self.program is None else _program_base(self.program, progress)
        self.base = base
        self._model = _model(base)
        self._opts = _ffi.paw_program_opts(n_ctx=n_ctx, n_threads=_threads(threads), int8=int(bool(int8)))
        self.max_tokens = max_tokens
        self._local = threading.local()
        self._handles: list[ctypes.c_void_p] = []
        self._lock = threading.Lock()
        self._closed = False
        self._handle()  # open (and check the base) on the creating thread

    def _handle(self) -> ctypes.c_void_p:
        h = getattr(self._local, "handle", None)
        if h is not None:
            return h
        if self._closed:
            raise PawError("the function is closed", _ffi.EINVAL, "EINVAL")
        h = self._local.handle = self._open_handle()
        return h

    def _open_handle(self):
        """A new handle of this function's program (or base mode), kept in
        self._handles so that close() frees it."""
        h = ctypes.c_void_p()
        lib = _ffi.lib()
        if self.program is None:
            check(lib.paw_program_open_base(self._model.handle, ctypes.byref(self._opts), ctypes.byref(h)))
        else:
            check(lib.paw_program_open(self._model.handle, _b(self.program), ctypes.byref(self._opts),
                                       ctypes.byref(h)))
        with self._lock:
            self._handles.append(h)
        return h

    def __call__(self, text: str, max_tokens: int | None = None, temperature: float = 0.0,
                 on_text: Callable[[str], Any] | None = None) -> str:
        """Runs the program on ``text``: greedy decoding until the end of the
        output or ``max_tokens`` (default 512), stripped of surrounding
        whitespace, as the official SDK returns it.  ``on_text(piece)``, when
        given, is called with each piece of the output as it is decoded (the
        pieces add up to the answer); a true return value stops decoding, and
        the answer is then what was decoded so far."""
        if temperature:
            raise InvalidInputError("paw programs decode greedily: temperature must be 0", _ffi.EINVAL, "EINVAL")
        if not isinstance(text, str):
            raise InvalidInputError("the input must be a str", _ffi.EINVAL, "EINVAL")
        h = self._handle()
        data = text.encode("utf-8")
        mt = max_tokens if max_tokens is not None else self.max_tokens
        out = ctypes.c_void_p()
        n = ctypes.c_size_t()
        if on_text is None:
            check(_ffi.lib().paw_program_call(h, data, len(data), mt or 0, ctypes.byref(out), ctypes.byref(n)))
            return _ffi.take_string(out, n.value)
        raised = []

        def piece(_ud, text_p, length):
            try:
                return 1 if on_text(ctypes.string_at(text_p, length).decode("utf-8")) else 0
            except BaseException as e:   # re-raised below, after C has returned
                raised.append(e)
                return 1
        cb = _ffi.paw_text_fn(piece)
        rc = _ffi.lib().paw_program_call_stream(h, data, len(data), mt or 0, cb, None, ctypes.byref(out),
                                                ctypes.byref(n))
        if rc == _ffi.OK:
            result = _ffi.take_string(out, n.value)
        if raised:
            raise raised[0]
        check(rc)
        return result

    BATCH = 8   # inputs per batched forward pass in batch()

    def _batch_handles(self, k: int) -> list:
        """This thread's handle and k - 1 more of the same program."""
        hs = getattr(self._local, "batch", None)
        if hs is None:
            hs = self._local.batch = [self._handle()]
        while len(hs) < k:
            hs.append(self._open_handle())
        return hs

    def batch(self, texts: Sequence[str], max_tokens: int | None = None) -> list[str]:
        """The outputs for many inputs, in order: up to ``BATCH`` inputs at a
        time decoded together (paw_program_call_batch over several handles
        of the program), the same outputs as calling ``fn`` on each."""
        texts = list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise InvalidInputError("the input must be a str", _ffi.EINVAL, "EINVAL")
        mt = max_tokens if max_tokens is not None else self.max_tokens
        outs: list[str] = []
        for i0 in range(0, len(texts), self.BATCH):
            chunk = texts[i0:i0 + self.BATCH]
            if len(chunk) == 1:
                outs.append(self(chunk[0], max_tokens))
                continue
            k = len(chunk)
            data = [t.encode("utf-8") for t in chunk]
            hs = self._batch_handles(k)
            c_h = (ctypes.c_void_p * k)(*[h.value for h in hs[:k]])
            c_in = (ctypes.c_char_p * k)(*data)
            c_len = (ctypes.c_size_t * k)(*[len(d) for d in data])
            c_out = (ctypes.c_void_p * k)()
            c_olen = (ctypes.c_size_t * k)()
            c_rc = (ctypes.c_int * k)()
            check(_ffi.lib().paw_program_call_batch(c_h, c_in, c_len, k, mt or 0, c_out, c_olen, c_rc))
            got = [_ffi.take_string(ctypes.c_void_p(c_out[j]), c_olen[j]) for j in range(k)]
            for j in range(k):
                # a failed row: the same call alone raises its error
                outs.append(got[j] if c_rc[j] == 0 else self(chunk[j], max_tokens))
        return outs

    @property
    def labels(self) -> list[str]:
        """A closed-label program's labels — every call answers exactly one of
        them — in the order of the program's meta.json; [] for a program
        without labels and for the base mode.  An application can check a
        program's label set against what it routes on before the first call."""
        h = self._handle()
        lib = _ffi.lib()
        return [lib.paw_program_label(h, i).decode("utf-8") for i in range(lib.paw_program_n_labels(h))]

    def stats(self) -> dict:
        """The last call's timings and token counts on this thread."""
        st = _ffi.paw_program_stats()
        _ffi.lib().paw_program_get_stats(self._handle(), ctypes.byref(st))
        return {name: getattr(st, name) for name, _ in st._fields_}

    def close(self) -> None:
        """Frees every thread's handle; further calls raise PawError."""
        with self._lock:
            self._closed = True
            handles, self._handles = self._handles, []
        for h in handles:
            _ffi.lib().paw_program_close(h)
        self._local = threading.local()

    def __enter__(self) -> "Function":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def function(program: "Program | str | os.PathLike | None", *, base: str | None = None, n_ctx: int = 2048,
             threads: int | None = None, max_tokens: int | None = None,
             progress: bool | Callable[[int, int], Any] = True, int8: bool = False) -> Function:
    """A callable for ``program``: a Program, a .paw path, an installed ID or
    unique prefix, an alias, or a hub reference (hex ID, ``user/slug``,
    ``user/slug@vN``, an official name such as ``email-triage``: fetched on
    first use, like its base model, with ``progress`` bars).  ``function(None, base=...)`` is the
    adapter-free base mode (the input as the only user message in the model's
    chat template).  ``base`` defaults to the model the program names;
    ``threads`` to one per core.  Raises NotFoundError for an unknown
    program, FormatError for a corrupt one, InvalidInputError for a program
    made for another base model.  ``int8=True`` runs int8 products: faster
    prompts on AVX-512 VNNI CPUs (ignored elsewhere), outputs within float
    rounding of llama.cpp's rather than its bits."""
    return Function(program, base=base, n_ctx=n_ctx, threads=threads, max_tokens=max_tokens, progress=progress,
                    int8=int8)


def compile_and_load(spec: str, examples: Iterable[Any] | None = None, **kwargs: Any) -> Function:
    """``function(compile(spec, examples, ...))``: compile options (base,
    teacher, seed, progress, ...) and function options (n_ctx, threads,
    max_tokens) in one call."""
    fn_keys = {"n_ctx", "threads", "max_tokens"}
    fn_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in fn_keys}
    if "threads" in fn_kwargs:
        kwargs["threads"] = fn_kwargs["threads"]
    program = compile(spec, examples, **kwargs)
    return function(program, base=kwargs.get("base", DEFAULT_BASE), **fn_kwargs)


def evaluate(suite: str | os.PathLike, programs_dir: str | os.PathLike, *, base: str = DEFAULT_BASE,
             threads: int | None = None, limit: int | None = None) -> dict:
    """Exact match of each task's test inputs in a suite (JSONL in the format
    of ../shared/eval/fuzzy-public.jsonl) for the programs
    ``programs_dir/<task id>.paw``.  Returns {"tasks": {id: em}, "mean_em": x};
    a task whose program is missing or broken scores 0 and says why."""
    lib = _ffi.lib()
    tasks = ctypes.POINTER(_ffi.paw_suite_task)()
    n = ctypes.c_size_t()
    check(lib.paw_suite_read(_b(os.fspath(suite)), ctypes.byref(tasks), ctypes.byref(n)))
    result: dict[str, Any] = {"tasks": {}, "errors": {}}
    try:
        for i in range(n.value):
            t = tasks[i]
            tid = t.id.decode()
            path = os.path.join(os.fspath(programs_dir), tid + ".paw")
            hits, total = 0, min(t.n_test, limit) if limit else t.n_test
            try:
                with Function(path, base=base, threads=threads) as fn:
                    for k in range(total):
                        out = fn(t.test[k].input.decode("utf-8", "replace"))
                        hits += lib.paw_exact_match(t.test[k].output, out.encode("utf-8"))
            except PawError as e:
                result["errors"][tid] = str(e)
                hits = 0
            result["tasks"][tid] = hits / total if total else 0.0
    finally:
        lib.paw_suite_free(tasks, n)
    ems = list(result["tasks"].values())
    result["mean_em"] = sum(ems) / len(ems) if ems else 0.0
    return result
