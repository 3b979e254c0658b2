"""Fixtures for the `paw serve` HTTP tests (run: python3 -m pytest tests/server).

Each server is started on 127.0.0.1 with --port 0 (the kernel picks a free
port; the server prints it), with its own program cache (PAW_CACHE_DIR in a
temporary folder) and the default model given by path.  The programs the
tests call are made in the session: one compiled through the server's own
POST /api/v1/compile (two training steps, ~30 s), two more derived from it by
changing meta.json's spec (a different content ID, the same adapter) and
uploaded through POST /api/v1/programs.
"""
import io
import json
import os
import re
import signal
import subprocess
import time
import zipfile

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
PAW = os.environ.get("PAW_BIN", os.path.join(ROOT, BUILD, "paw"))
PAW_SERVE = os.path.join(os.path.dirname(PAW), "paw-serve")

SPEC = "Classify the sentiment of a single word: POS or NEG."
EXAMPLES = [("great", "POS"), ("awful", "NEG"), ("lovely", "POS"), ("terrible", "NEG"),
            ("wonderful", "POS"), ("horrible", "NEG")]


def model_path():
    """The default model as `paw pull smollm2-135m` stores it (a missing model
    is a failure, not a skip: CI pulls it before the tests)."""
    if os.environ.get("PAW_MODEL"):
        return os.environ["PAW_MODEL"]
    root = os.environ.get("PAW_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "paw")
    return os.path.join(root, "models", "smollm2-135m.gguf")


class Server:
    def __init__(self, cache, *args, env=None):
        assert os.access(PAW_SERVE, os.X_OK), f"{PAW_SERVE} is missing: run make"
        # Offline unless a test says otherwise (test_hub_server.py points
        # PAW_API_URL at tests/mock_hub.py): an unknown name is otherwise a
        # hub reference, and tests never leave 127.0.0.1.
        self.env = dict(os.environ, PAW_CACHE_DIR=cache, PAW_OFFLINE="1")
        self.env.pop("PAW_SERVE_API_KEY", None)
        if env:
            self.env.update(env)
        self.proc = subprocess.Popen([PAW_SERVE, "-m", model_path(), "--port", "0", *args],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=self.env,
                                     text=True)
        line = ""
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self.url = f"http://127.0.0.1:{self.port}"
                return
        self.proc.kill()
        raise AssertionError(f"paw-serve did not start: {line!r}")

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=kw.pop("timeout", 120), **kw)

    def post(self, path, **kw):
        return requests.post(self.url + path, timeout=kw.pop("timeout", 120), **kw)

    def stop(self, timeout=90):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("paw-serve did not exit after SIGTERM")
        self.rest = self.proc.stderr.read()
        self.proc.stderr.close()
        return rc


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("paw-cache")
    return str(d)


def wait_job(srv, job_id, limit=900):
    deadline = time.time() + limit
    while time.time() < deadline:
        j = srv.get(f"/api/v1/compile/{job_id}").json()
        if j["status"] not in ("queued", "running"):
            return j
        time.sleep(0.5)
    raise AssertionError(f"compile job {job_id} did not finish")


def variant(bundle, spec, meta_edit=None, template=None):
    """The same program with another spec in meta.json: another content ID.
    meta_edit(meta) may change meta.json further; template replaces the
    prompt template."""
    zin = zipfile.ZipFile(io.BytesIO(bundle))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "meta.json":
                meta = json.loads(data)
                meta["spec"] = spec
                if meta_edit:
                    meta_edit(meta)
                data = json.dumps(meta).encode()
            if info.filename == "prompt_template.txt" and template is not None:
                data = template.encode()
            zout.writestr(info.filename, data)
    return out.getvalue()


@pytest.fixture(scope="session")
def programs(cache):
    """{"ids": [a, b, c], "aliases": [...], "bundle": bytes of a}"""
    srv = Server(cache)
    try:
        r = srv.post("/api/v1/compile", json={
            "spec": SPEC, "examples": [{"input": i, "output": o} for i, o in EXAMPLES],
            "steps": 2, "alias": "sentiment"})
        assert r.status_code == 202, r.text
        j = wait_job(srv, r.json()["job_id"])
        assert j["status"] == "succeeded", j
        a = j["program_id"]
        bundle = srv.get(f"/api/v1/programs/{a}/download").content
        ids = [a]
        for k, alias in ((1, "sentiment-b"), (2, "sentiment-c")):
            r = srv.post(f"/api/v1/programs?alias={alias}",
                         data=variant(bundle, f"{SPEC} (variant {k})"))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    finally:
        assert srv.stop() == 0
    assert len(set(ids)) == 3
    return {"ids": ids, "aliases": ["sentiment", "sentiment-b", "sentiment-c"], "bundle": bundle}


@pytest.fixture(scope="module")
def server(cache, programs):
    srv = Server(cache, "-t", "2")
    yield srv
    assert srv.stop() == 0


def paw_run(cache, program, text, max_tokens=None):
    """The CLI's answer: the reference the server's answers must equal."""
    args = [PAW, "run", "-m", model_path(), program, text]
    if max_tokens:
        args += ["-n", str(max_tokens)]
    out = subprocess.run(args, env=dict(os.environ, PAW_CACHE_DIR=cache), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout[:-1] if out.stdout.endswith("\n") else out.stdout
