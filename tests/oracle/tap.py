"""TAP output for the Python oracle tests, in the form tests/run.sh counts
(`ok N - name`, `not ok N - name`).  Each check is a function that raises
(AssertionError or anything else) on failure; a failure prints its message
and the run goes on to the next check.  Paths the checks need:
repo_root(), build_dir() ($PAW_BUILD, default build), shared() ($PAW_SHARED)."""
import os
import sys
import traceback

_n = 0
_failed = 0


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir():
    return os.path.join(repo_root(), os.environ.get("PAW_BUILD", "build"))


def shared(rel):
    root = os.environ.get("PAW_SHARED") or os.path.join(repo_root(), "..", "shared")
    return os.path.join(root, rel)


def check(fn):
    """Runs fn() as one test named after it; prints its TAP line."""
    global _n, _failed
    _n += 1
    try:
        fn()
        print(f"ok {_n} - {fn.__name__}", flush=True)
    except Exception as e:  # every failure, whatever its kind, is reported
        _failed += 1
        print(f"not ok {_n} - {fn.__name__}", flush=True)
        for line in (str(e) or traceback.format_exc()).splitlines():
            print(f"# {line}")
    return fn


def done():
    print(f"1..{_n}")
    sys.exit(1 if _failed or not _n else 0)
