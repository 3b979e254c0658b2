"""paw's errors as Python exceptions.

Every failing libpaw call becomes one of these, carrying paw's own message
(what failed and how to fix it) and its status name (``EINVAL``, ...).
"""

from __future__ import annotations

from . import _ffi


class PawError(Exception):
    """Any error libpaw reports.  ``status`` is the negative PAW_E* code,
    ``code`` its name ("EFORMAT", ...)."""

    def __init__(self, message: str, status: int = 0, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


class InvalidInputError(PawError, ValueError):
    """Bad input from the caller: an empty spec, too few examples, an input
    over the context, a program made for another base model."""


class FormatError(PawError):
    """A file or reply that is malformed, truncated, corrupt or unsupported
    (a damaged .paw bundle or GGUF, a hash mismatch)."""


class NetworkError(PawError, ConnectionError):
    """A download or a teacher endpoint failed."""


class NotFoundError(PawError, LookupError):
    """A program, model or file that does not exist (or is not installed)."""


class CancelledError(PawError):
    """A progress callback asked the call to stop."""


_BY_STATUS = {
    _ffi.EINVAL: InvalidInputError,
    _ffi.ERANGE: InvalidInputError,
    _ffi.EFORMAT: FormatError,
    _ffi.EUNSUPPORTED: FormatError,
    _ffi.EHASH: FormatError,
    _ffi.ENET: NetworkError,
    _ffi.ENOTFOUND: NotFoundError,
    _ffi.ECANCELED: CancelledError,
}


def check(status: int) -> None:
    """Raises the exception for a failing status (call right after the C call,
    on the same thread: paw's message is thread-local)."""
    if status == _ffi.OK:
        return
    lib = _ffi.lib()
    message = (lib.paw_last_error() or b"").decode("utf-8", errors="replace")
    code = (lib.paw_status_name(status) or b"").decode()
    raise _BY_STATUS.get(status, PawError)(message or code, status, code)
