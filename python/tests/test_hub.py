"""pawc.function("user/slug") goes through libpaw's hub client: resolve,
download, validate, install, run — against tests/mock_hub.py on 127.0.0.1."""

import json
import os
import subprocess
import sys
import time

import pawc
from conftest import ROOT, SMOLLM2


def test_function_by_slug(triage, tmp_path, monkeypatch):
    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    (hub_dir / "triage.paw").write_bytes(open(triage.path, "rb").read())
    (hub_dir / "routes.json").write_text(json.dumps({
        "/api/v1/programs/resolve/alice/triage": {"status": 200, "json": {"program_id": triage.id}},
        f"/api/v1/programs/{triage.id}/download": {"status": 302, "cdn": "/bundles/triage.paw"},
        "cdn:/bundles/triage.paw": {"status": 200, "file": "triage.paw"},
    }))
    hub = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "mock_hub.py"), str(hub_dir)])
    try:
        for _ in range(200):
            if (hub_dir / "ports").exists():
                break
            time.sleep(0.05)
        hub_port = int((hub_dir / "ports").read_text().split()[0])
        # A cache that has the base model but not the program.
        cache = tmp_path / "cache"
        (cache / "models").mkdir(parents=True)
        os.symlink(SMOLLM2, cache / "models" / "smollm2-135m.gguf")
        monkeypatch.setenv("PAW_CACHE_DIR", str(cache))
        monkeypatch.setenv("PAW_API_URL", f"http://127.0.0.1:{hub_port}")
        monkeypatch.delenv("PAW_OFFLINE")
        inputs = ["disk /dev/sda1 is full, writes failing", "GET /index.html 200 4ms"]
        with pawc.function("alice/triage", threads=2, progress=False) as fn:
            got = [fn(x) for x in inputs]
        assert [p["id"] for p in pawc.list_cached_programs()] == [triage.id]
        log = [json.loads(line) for line in (hub_dir / "requests.log").read_text().splitlines()]
        assert {"server": "cdn", "path": "/bundles/triage.paw"}.items() <= log[-1].items() or any(
            r["server"] == "cdn" and r["path"] == "/bundles/triage.paw" for r in log)
        # Offline afterwards: the installed copy runs, the same answers.
        monkeypatch.setenv("PAW_OFFLINE", "1")
        with pawc.function("alice/triage", threads=2, progress=False) as fn:
            assert [fn(x) for x in inputs] == got
        monkeypatch.setenv("PAW_CACHE_DIR", os.environ["PAW_CACHE_DIR"])
    finally:
        hub.kill()
        hub.wait()
    with pawc.function(triage, threads=2) as fn:
        assert [fn(x) for x in inputs] == got
    # Offline with nothing cached: a clear error naming the reference.
    try:
        pawc.function("bob/unknown", progress=False)
        raise AssertionError("expected NotFoundError")
    except pawc.NotFoundError as e:
        assert "bob/unknown" in str(e)
