"""`paw serve` with hub references (user/slug, user/slug@vN, a bare name, a
hub ID): POST /api/v1/infer and /v1/chat/completions fetch them through the
library's hub client (the code `paw run` and pawc.function use), against
tests/mock_hub.py on 127.0.0.1 — never the internet."""
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import threading
import time

import openai
import pytest

from conftest import ROOT, Server, paw_run, variant

HUB_ID = "5eed" * 5          # the hub's program ID (20 hex digits)
OTHER_ID = "0bad" * 5
INPUTS = ["great", "awful"]


class Hub:
    """tests/mock_hub.py in its own folder; routes() replaces its table."""

    def __init__(self, folder):
        self.dir = folder
        self.dir.mkdir()
        self.routes({})
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "mock_hub.py"), str(folder)])
        for _ in range(400):
            if (folder / "ports").exists():
                break
            time.sleep(0.05)
        self.port, self.cdn_port = map(int, (folder / "ports").read_text().split())
        self.url = f"http://127.0.0.1:{self.port}"

    def routes(self, table):
        tmp = self.dir / "routes.tmp"
        tmp.write_text(json.dumps(table))
        os.replace(tmp, self.dir / "routes.json")

    def put(self, name, data):
        (self.dir / name).write_bytes(data)

    def log(self):
        p = self.dir / "requests.log"
        return [json.loads(ln) for ln in p.read_text().splitlines()] if p.exists() else []

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def hub(tmp_path):
    h = Hub(tmp_path / "hub")
    yield h
    h.stop()


def hub_bundle(programs, program_id=HUB_ID, spec="Sentiment, from the hub."):
    def edit(meta):
        meta["program_id"] = program_id
    return variant(programs["bundle"], spec, edit)


def online(hub):
    return {"PAW_OFFLINE": "0", "PAW_API_URL": hub.url}


def infer(srv, name, text, **kw):
    return srv.post("/api/v1/infer", json={"program_id": name, "input": text, "max_tokens": 8}, **kw)


def error_code(r):
    j = r.json()
    assert set(j) == {"error", "detail"} and set(j["error"]) == {"code", "message", "type"}, j
    return j["error"]["code"]


def installed_dirs(cache):
    d = os.path.join(cache, "programs")
    if not os.path.isdir(d):
        return []
    return sorted(n for n in os.listdir(d) if not n.startswith(".") and os.path.isdir(os.path.join(d, n)))


def test_every_reference_form(hub, programs, tmp_path):
    bundle = hub_bundle(programs)
    hub.put("hub.paw", bundle)
    (tmp_path / "hub.paw").write_bytes(bundle)
    hub.routes({
        "/api/v1/programs/resolve/alice/triage": {"json": {"program_id": HUB_ID}},
        "/api/v1/programs/resolve/alice/triage@v2": {"json": {"program_id": HUB_ID}},
        "/api/v1/programs/resolve/triage-demo": {"json": {"program_id": HUB_ID}},
        # generated on demand (202), then a CDN on the second port
        f"/api/v1/programs/{HUB_ID}/download": [{"status": 202, "headers": {"Retry-After": "1"}},
                                                {"status": 302, "cdn": "/b/hub.paw"}],
        "cdn:/b/hub.paw": {"file": "hub.paw"},
    })
    cache = str(tmp_path / "cache")
    # The reference answers: the CLI running the .paw file itself.
    want = {t: paw_run(cache, str(tmp_path / "hub.paw"), t, 8) for t in INPUTS}
    srv = Server(cache, "-t", "2", env=online(hub))
    try:
        # Two requests for the same slug at once: one resolve, one download.
        with cf.ThreadPoolExecutor(2) as pool:
            first = list(pool.map(lambda t: infer(srv, "alice/triage", t), INPUTS))
        for t, r in zip(INPUTS, first):
            assert r.status_code == 200, r.text
            assert r.json()["output"] == want[t]
        assert [r["path"] for r in hub.log()].count("/api/v1/programs/resolve/alice/triage") == 1
        for ref in ("alice/triage@v2", "triage-demo", HUB_ID):
            for t in INPUTS:
                r = infer(srv, ref, t)
                assert r.status_code == 200, (ref, r.text)
                assert r.json()["output"] == want[t]
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        c = client.chat.completions.create(model="alice/triage", max_tokens=8,
                                           messages=[{"role": "user", "content": INPUTS[0]}])
        assert c.choices[0].message.content == want[INPUTS[0]] and c.model == "alice/triage"
        chunks = list(client.chat.completions.create(model="triage-demo", max_tokens=8, stream=True,
                                                     messages=[{"role": "user", "content": INPUTS[1]}]))
        assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == want[INPUTS[1]]
        # Stored once, under its content ID, whatever it was called.
        progs = srv.get("/api/v1/programs").json()["programs"]
        assert len(progs) == 1 and progs[0]["program_id"] == HUB_ID
        assert installed_dirs(cache) == [progs[0]["id"]]
    finally:
        assert srv.stop() == 0
    log = [r["path"] for r in hub.log()]
    assert log.count("/b/hub.paw") == 1
    n_before = len(log)

    # Offline afterwards: the cached copy answers, nothing is asked.
    srv = Server(cache, "-t", "2", env={"PAW_API_URL": hub.url})
    try:
        for ref in ("alice/triage", "alice/triage@v2", "triage-demo", HUB_ID):
            r = infer(srv, ref, INPUTS[0])
            assert r.status_code == 200 and r.json()["output"] == want[INPUTS[0]], (ref, r.text)
        r = infer(srv, "alice/other", INPUTS[0])
        assert r.status_code == 404 and error_code(r) == "program_not_found"
        assert "PAW_OFFLINE" in r.json()["detail"] and "alice/other" in r.json()["detail"]
    finally:
        assert srv.stop() == 0
    assert len(hub.log()) == n_before

    # The hub unreachable: a bare slug falls back to the ID it gave before;
    # a reference never fetched is a 502.
    srv = Server(cache, "-t", "2", env={"PAW_OFFLINE": "0", "PAW_API_URL": "http://127.0.0.1:9"})
    try:
        r = infer(srv, "alice/triage", INPUTS[1])
        assert r.status_code == 200 and r.json()["output"] == want[INPUTS[1]], r.text
        r = infer(srv, "zed/never", INPUTS[1])
        assert r.status_code == 502 and error_code(r) == "hub_unavailable", r.text
    finally:
        assert srv.stop() == 0
    assert installed_dirs(cache) == [progs[0]["id"]]


def test_hub_failures_leave_nothing(hub, programs, tmp_path):
    hub.put("hub.paw", hub_bundle(programs))
    hub.put("other.paw", hub_bundle(programs, OTHER_ID))   # names another ID
    hub.routes({
        "/api/v1/programs/resolve/carol/broken": {"status": 500, "json": {"detail": "boom"}},
        "/api/v1/programs/resolve/dave/locked": {"status": 401, "json": {"detail": "bad key"}},
        "/api/v1/programs/resolve/erin/busy": {"status": 429, "headers": {"Retry-After": "30"}},
        "/api/v1/programs/resolve/fay/cut": {"json": {"program_id": HUB_ID}},
        f"/api/v1/programs/{HUB_ID}/download": {"file": "hub.paw", "truncate": 2000},
        "/api/v1/programs/resolve/gus/swapped": {"json": {"program_id": "feed" * 5}},
        f"/api/v1/programs/{'feed' * 5}/download": {"file": "other.paw"},
        "/api/v1/programs/resolve/hal/garbage": {"body": "<html>not json</html>"},
    })
    cache = str(tmp_path / "cache")
    srv = Server(cache, "-t", "2", env=online(hub))
    try:
        cases = [("bob/missing", 404, "program_not_found"), ("carol/broken", 502, "hub_unavailable"),
                 ("dave/locked", 502, "hub_refused"), ("erin/busy", 502, "hub_unavailable"),
                 ("fay/cut", 502, "hub_unavailable"), ("gus/swapped", 502, "invalid_hub_response"),
                 ("hal/garbage", 502, "invalid_hub_response"), ("abcdef0123456789", 404, "program_not_found")]
        for name, status, code in cases:
            r = infer(srv, name, "x")
            assert (r.status_code, error_code(r)) == (status, code), (name, r.text)
            assert any(x in r.json()["detail"] for x in (name, HUB_ID, "feed" * 5)), r.text
        r = srv.post("/v1/chat/completions", json={"model": "carol/broken", "stream": True,
                                                    "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 502 and error_code(r) == "hub_unavailable"
        assert srv.get("/api/v1/health").status_code == 200
        assert srv.get("/api/v1/programs").json()["total"] == 0
    finally:
        assert srv.stop() == 0
    assert installed_dirs(cache) == []
    for f in ("slug_cache.json", "hub_ids.json"):
        p = os.path.join(cache, "programs", f)
        assert not os.path.exists(p) or json.load(open(p)) == {}, f


def test_fetch_does_not_hold_the_workers(hub, programs, tmp_path):
    """One worker: while a hub download is slow (202 three times), a request
    for an installed program is answered at once."""
    hub.put("hub.paw", hub_bundle(programs))
    ra = {"status": 202, "headers": {"Retry-After": "1"}}
    hub.routes({
        "/api/v1/programs/resolve/slow/prog": {"json": {"program_id": HUB_ID}},
        f"/api/v1/programs/{HUB_ID}/download": [ra, ra, ra, {"status": 200, "file": "hub.paw"}],
    })
    cache = str(tmp_path / "cache")
    srv = Server(cache, "-t", "1", "--workers", "1", env=online(hub))
    try:
        r = srv.post("/api/v1/programs?alias=local", data=programs["bundle"])
        assert r.status_code == 201, r.text
        assert infer(srv, "local", "great").status_code == 200   # warm
        done = {}

        def slow():
            r = infer(srv, "slow/prog", "great")
            done["slow"] = time.time()
            return r
        t0 = time.time()
        with cf.ThreadPoolExecutor(2) as pool:
            slow_r = pool.submit(slow)
            time.sleep(0.3)
            local = infer(srv, "local", "awful")
            done["local"] = time.time()
            assert slow_r.result().status_code == 200, slow_r.result().text
        assert local.status_code == 200
        assert done["slow"] - t0 > 2.5                 # it did wait for the hub
        assert done["local"] < done["slow"]            # and the worker did not
    finally:
        assert srv.stop() == 0
