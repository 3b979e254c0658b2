"""Fixtures for the pawc tests: the libpaw under test (the build folder the
Makefile made: $BUILD, default build/), a private program cache that links
the cached SmolLM2 model, and programs compiled once per session."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
SHARED = os.environ.get("PAW_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
PAW_BIN = os.environ.get("PAW_BIN", os.path.join(BUILD, "paw"))
STORIES = os.path.join(SHARED, "fixtures", "stories260k", "stories260K.gguf")


def _user_models_dir():
    if os.environ.get("PAW_CACHE_DIR"):
        return os.path.join(os.environ["PAW_CACHE_DIR"], "models")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "paw", "models")


SMOLLM2 = os.path.join(_user_models_dir(), "smollm2-135m.gguf")

# Everything below runs against this build's libpaw and a cache of our own,
# so the tests neither use an installed libpaw nor touch the user's programs.
os.environ["PAWC_LIB"] = os.path.join(BUILD, "libpaw.so")
CACHE = tempfile.mkdtemp(prefix="pawc-test-")
os.makedirs(os.path.join(CACHE, "models"))
if os.path.exists(SMOLLM2):
    os.symlink(SMOLLM2, os.path.join(CACHE, "models", "smollm2-135m.gguf"))
os.environ["PAW_CACHE_DIR"] = CACHE
# Tests never reach the real hub: a hub-shaped name that is not local fails
# offline (test_hub.py points PAW_API_URL at a mock hub on 127.0.0.1).
os.environ["PAW_OFFLINE"] = "1"
sys.path.insert(0, os.path.join(ROOT, "python"))

import pawc  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(CACHE, ignore_errors=True)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


TRIAGE_SPEC = ("Classify a log line: ALERT if it describes an outage, a failure or data loss, "
               "otherwise QUIET.")


@pytest.fixture(scope="session")
def smollm2():
    if not os.path.exists(SMOLLM2):
        pytest.fail(f"SmolLM2 is not cached at {SMOLLM2}: run `paw pull smollm2-135m` first")
    return SMOLLM2


@pytest.fixture(scope="session")
def triage(smollm2, tmp_path_factory):
    """The README's demo program, compiled from Python on SmolLM2."""
    examples = [(e["input"], e["output"]) for e in read_jsonl(os.path.join(ROOT, "examples", "triage.jsonl"))]
    out = tmp_path_factory.mktemp("triage") / "triage.paw"
    return pawc.compile(TRIAGE_SPEC, examples, out=out, progress=False, threads=2, cv_folds=0)


TOY = [("cat", "blue"), ("sun", "tree"), ("ball", "happy"), ("dog", "sky"), ("fish", "red")]


@pytest.fixture(scope="session")
def toy_stories(tmp_path_factory):
    """A tiny program on the stories260K fixture: fast calls for the long
    loops (memory, threads)."""
    out = tmp_path_factory.mktemp("toy") / "toy.paw"
    return pawc.compile("Say the secret word of the thing.", TOY, base=STORIES, out=out, progress=False,
                        threads=2, steps=20)


def paw_cli(*args, input_text=None):
    """Runs the paw CLI of this build with the test cache."""
    return subprocess.run([PAW_BIN, *args], input=input_text, capture_output=True, text=True,
                          env=dict(os.environ))
