"""`paw serve`: the official REST subset, the OpenAI-compatible routes,
limits, auth and shutdown, over real HTTP on 127.0.0.1.  Answers are checked
against `paw run` (the CLI, the same library without the server)."""
import concurrent.futures as cf
import io
import json
import os
import socket
import threading
import time
import zipfile

import openai
import pytest
import requests

from conftest import Server, model_path, paw_run

INPUTS = ["great", "awful", "sunny"]


def error_code(r):
    j = r.json()
    assert set(j) == {"error", "detail"}, j
    assert set(j["error"]) == {"code", "message", "type"}, j
    assert j["detail"] == j["error"]["message"]
    return j["error"]["code"]


# ------------------------------------------------------------ official REST

def test_health(server):
    r = server.get("/api/v1/health")
    assert r.status_code == 200
    j = r.json()
    assert j["status"] == "ok" and j["model"] == "smollm2-135m"
    assert isinstance(j["queue_depth"], int) and isinstance(j["programs_resident"], int)
    assert j["int8_products"] is False   # not asked for (--int8)


def test_infer_shape_and_answers_equal_cli(server, programs, cache):
    for pid in (programs["ids"][0], programs["aliases"][1]):
        for text in INPUTS:
            r = server.post("/api/v1/infer", json={"program_id": pid, "input": text, "max_tokens": 16,
                                                   "temperature": 0.0})
            assert r.status_code == 200, r.text
            j = r.json()
            assert set(j) == {"output", "tokens_generated", "latency_ms"}
            assert isinstance(j["output"], str) and isinstance(j["tokens_generated"], int)
            assert isinstance(j["latency_ms"], float) and j["latency_ms"] > 0
            assert 0 < j["tokens_generated"] <= 16
            assert j["output"] == paw_run(cache, pid, text, 16)


def test_programs_list_and_get(server, programs):
    r = server.get("/api/v1/programs")
    assert r.status_code == 200
    j = r.json()
    assert set(j) == {"programs", "total", "page", "per_page"}
    ids = [p["id"] for p in j["programs"]]
    assert sorted(ids) == sorted(programs["ids"]) and j["total"] == 3
    for p in j["programs"]:
        assert set(p) == {"id", "program_id", "aliases", "spec", "interpreter", "size_bytes"}
        assert p["size_bytes"] > 1024
    page = server.get("/api/v1/programs", params={"per_page": 1, "page": 2}).json()
    assert len(page["programs"]) == 1 and page["total"] == 3 and page["programs"][0]["id"] == sorted(ids)[1]
    q = server.get("/api/v1/programs", params={"q": "variant 2"}).json()
    assert [p["id"] for p in q["programs"]] == [programs["ids"][2]]
    for name in (programs["ids"][0], programs["aliases"][0], programs["ids"][0][:8]):
        r = server.get(f"/api/v1/programs/{name}")
        assert r.status_code == 200, r.text
        p = r.json()
        assert p["id"] == programs["ids"][0] and "sentiment" in p["aliases"]
        assert p["spec"].startswith("Classify the sentiment")
        assert p["prompt_template"].count("{INPUT_PLACEHOLDER}") == 1
        assert p["meta"]["interpreter"] == p["interpreter"]


def test_download_is_the_installed_bundle(server, programs):
    r = server.get(f"/api/v1/programs/{programs['aliases'][0]}/download")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/zip"
    assert programs["ids"][0] in r.headers["Content-Disposition"]
    names = set(zipfile.ZipFile(io.BytesIO(r.content)).namelist())
    assert {"adapter.gguf", "prompt_template.txt", "meta.json"} <= names
    assert r.content == programs["bundle"]   # deterministic writer: same bytes
    up = server.post("/api/v1/programs", data=r.content)   # reinstalling is a no-op
    assert up.status_code == 201 and up.json()["id"] == programs["ids"][0]


def test_corrupt_uploads_are_refused(server, programs):
    good = programs["bundle"]
    z = zipfile.ZipFile(io.BytesIO(good))
    no_adapter = io.BytesIO()
    with zipfile.ZipFile(no_adapter, "w") as out:
        for n in z.namelist():
            if n != "adapter.gguf":
                out.writestr(n, z.read(n))
    traversal = io.BytesIO()
    with zipfile.ZipFile(traversal, "w") as out:
        for n in z.namelist():
            out.writestr(n, z.read(n))
        out.writestr("../evil.txt", b"x")
    for body in (b"", b"not a zip at all", good[: len(good) // 2], no_adapter.getvalue(),
                 traversal.getvalue(), os.urandom(5000)):
        r = server.post("/api/v1/programs", data=body)
        assert r.status_code == 400, (body[:20], r.text)
        assert error_code(r) == "invalid_bundle"
    assert len(server.get("/api/v1/programs").json()["programs"]) == 3
    assert server.get("/api/v1/health").status_code == 200


def test_unknown_program_and_paths(server):
    for name in ("nope", "0000000000000000000000", "../../etc/passwd", "/etc/passwd", "a" * 500, ""):
        r = server.post("/api/v1/infer", json={"program_id": name, "input": "x"})
        assert r.status_code == 404, (name, r.text)
        assert error_code(r) == "program_not_found"
    for path in ("/api/v1/programs/nope", "/api/v1/programs/..%2F..%2Fetc%2Fpasswd",
                 "/api/v1/programs/nope/download", "/api/v1/nothing", "/etc/passwd"):
        r = server.get(path)
        assert r.status_code == 404, (path, r.text)
        assert error_code(r) in ("program_not_found", "not_found")
    r = server.get("/api/v1/infer")
    assert r.status_code == 405 and error_code(r) == "method_not_allowed"


def test_malformed_requests(server, programs):
    pid = programs["ids"][0]
    cases = [(b"{not json", "invalid_json"), (b"[1, 2]", "invalid_json"), (b"\xff\xfe", "invalid_json"),
             (json.dumps({"program_id": pid}).encode(), "invalid_parameter"),
             (json.dumps({"program_id": pid, "input": 5}).encode(), "invalid_parameter"),
             (json.dumps({"program_id": pid, "input": "x", "max_tokens": 0}).encode(), "invalid_parameter"),
             (json.dumps({"program_id": pid, "input": "x", "max_tokens": "9"}).encode(), "invalid_parameter"),
             (json.dumps({"program_id": pid, "input": "x", "temperature": -1}).encode(), "invalid_parameter")]
    for body, code in cases:
        r = server.post("/api/v1/infer", data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body, r.text)
        assert error_code(r) == code
    r = server.post("/v1/chat/completions", json={"model": pid, "messages": "hi"})
    assert r.status_code == 400
    r = server.post("/v1/chat/completions", json={"model": pid, "messages": [{"role": "system", "content": "x"}]})
    assert r.status_code == 400 and "last user message" in r.json()["error"]["message"]
    r = server.post("/api/v1/infer", json={"program_id": pid, "input": "word " * 5000})
    assert r.status_code == 400 and error_code(r) == "input_too_long"
    assert server.get("/api/v1/health").status_code == 200


def test_metrics(server, programs):
    server.post("/api/v1/infer", json={"program_id": programs["ids"][0], "input": "great", "max_tokens": 4})
    r = server.get("/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    t = r.text
    assert 'paw_http_requests_total{route="infer",status="200"}' in t
    assert 'paw_http_request_duration_seconds_bucket{route="infer",le="+Inf"}' in t
    for name in ("paw_queue_depth", "paw_programs_resident", "paw_program_memory_bytes", "paw_batch_rows",
                 "paw_generated_tokens_total"):
        assert f"\n{name} " in t
    resident = int(t.split("\npaw_programs_resident ")[1].split("\n")[0])
    assert resident >= 1


# ------------------------------------------------------------ OpenAI routes

def test_openai_client(server, programs, cache):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    models = [m.id for m in client.models.list().data]
    assert "smollm2-135m" in models and set(programs["ids"]) <= set(models) and "sentiment" in models
    for model in (programs["aliases"][0], programs["ids"][2]):
        for text in INPUTS[:2]:
            want = paw_run(cache, model, text, 12)
            c = client.chat.completions.create(model=model, max_tokens=12, messages=[
                {"role": "system", "content": "ignored by a program"}, {"role": "user", "content": text}])
            assert c.choices[0].message.content == want
            assert c.choices[0].finish_reason in ("stop", "length")
            assert c.usage.completion_tokens > 0 and c.usage.prompt_tokens > c.usage.completion_tokens
            assert c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens
            chunks = list(client.chat.completions.create(model=model, max_tokens=12, stream=True,
                                                         messages=[{"role": "user", "content": text}]))
            assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == want
            assert chunks[-1].choices[0].finish_reason in ("stop", "length")
            assert chunks[-1].usage.completion_tokens == c.usage.completion_tokens
            done = client.completions.create(model=model, prompt=text, max_tokens=12)
            assert done.choices[0].text == want


def test_openai_base_model_chat(server):
    """The base model's name gives plain chat; the answer must equal
    `paw generate --chat` on the same message (greedy)."""
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    c = client.chat.completions.create(model="smollm2-135m", max_tokens=10,
                                       messages=[{"role": "user", "content": "What is 2+2?"}])
    import subprocess
    from conftest import PAW
    ref = subprocess.run([PAW, "generate", "-m", model_path(), "--chat", "-p", "What is 2+2?", "-n", "10"],
                         capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr
    assert c.choices[0].message.content == ref.stdout.rstrip("\n")
    assert c.usage.completion_tokens == 10 and c.choices[0].finish_reason == "length"
    chunks = list(client.chat.completions.create(model="smollm2-135m", max_tokens=10, stream=True,
                                                 messages=[{"role": "user", "content": "What is 2+2?"}]))
    pieces = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert "".join(pieces) == c.choices[0].message.content and len(pieces) > 1   # streamed as it decodes


# ------------------------------------------------------------ limits

def test_body_limit_and_slow_request(cache, programs):
    srv = Server(cache, "--body-limit", "1", "--idle-timeout", "2", "-t", "1")
    try:
        # a declared 10 MB body is refused before it is read
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        s.sendall(b"POST /api/v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 10485760\r\n\r\n" + b"x" * 65536)
        head = s.recv(65536).decode("latin-1")
        assert head.startswith("HTTP/1.1 413"), head
        s.close()
        # a chunked 10 MB body (no length) is read and refused at the end
        r = srv.post("/api/v1/infer", data=(b"x" * 65536 for _ in range(160)))
        assert r.status_code == 413 and error_code(r) == "body_too_large"
        # a client that stalls mid-request holds only its own connection ...
        slow = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        slow.sendall(b"POST /api/v1/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prog")
        t0 = time.time()
        r = srv.post("/api/v1/infer", json={"program_id": programs["ids"][0], "input": "great", "max_tokens": 4})
        assert r.status_code == 200
        # ... and is cut off after the idle timeout
        slow.settimeout(20)
        data = slow.recv(65536)
        while data:
            data = slow.recv(65536)
        assert time.time() - t0 < 20
        slow.close()
        assert srv.get("/api/v1/health").status_code == 200
    finally:
        assert srv.stop() == 0


def test_auth(cache, programs):
    srv = Server(cache, "--api-key", "s3cret", "-t", "1")
    try:
        assert srv.get("/api/v1/health").status_code == 200        # exempt
        assert srv.get("/").status_code == 200   # the playground's page holds no data; its calls need the key
        for path in ("/api/v1/programs", "/api/v1/programs/sentiment/download", "/v1/models", "/metrics"):
            r = srv.get(path)
            assert r.status_code == 401 and error_code(r) == "unauthorized", path
            assert r.headers["WWW-Authenticate"] == "Bearer"
        assert srv.get("/api/v1/programs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert srv.get("/api/v1/programs", headers={"X-API-Key": "s3cre"}).status_code == 401
        assert srv.get("/api/v1/programs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert srv.get("/api/v1/programs", headers={"X-API-Key": "s3cret"}).status_code == 200
        r = srv.post("/api/v1/infer", json={"program_id": programs["ids"][0], "input": "great"})
        assert r.status_code == 401
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="s3cret", max_retries=0)
        c = client.chat.completions.create(model="sentiment", max_tokens=4,
                                           messages=[{"role": "user", "content": "great"}])
        assert c.usage.completion_tokens > 0
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=srv.url + "/v1", api_key="bad", max_retries=0).models.list()
    finally:
        assert srv.stop() == 0


def long_chat(srv, n=120):
    """A request that keeps a worker busy for a while (n greedy tokens)."""
    return srv.post("/v1/chat/completions", json={
        "model": "smollm2-135m", "max_tokens": n,
        "messages": [{"role": "user", "content": "Write a long story about a dragon."}]}, timeout=300)


def test_queue_full_gives_429(cache):
    srv = Server(cache, "-t", "1", "--workers", "1", "--queue", "1")
    try:
        with cf.ThreadPoolExecutor(8) as ex:
            rs = list(ex.map(lambda _: long_chat(srv, 60), range(8)))
        codes = sorted(r.status_code for r in rs)
        assert codes.count(429) >= 4 and set(codes) <= {200, 429}, codes
        assert codes.count(200) >= 2
        for r in rs:
            if r.status_code == 429:
                assert r.headers["Retry-After"] == "1" and error_code(r) == "queue_full"
        assert srv.get("/api/v1/health").status_code == 200
        assert 'route="chat_completions",status="429"' in srv.get("/metrics").text
    finally:
        assert srv.stop() == 0


def test_sigterm_with_requests_in_flight(cache, programs):
    srv = Server(cache, "-t", "2", "--workers", "2", "--queue", "16")
    results = []

    def call(i):
        try:
            if i % 2:
                r = long_chat(srv, 40)
            else:
                r = srv.post("/api/v1/infer", json={"program_id": programs["ids"][i % 3], "input": "great"})
            results.append(r.status_code)
        except requests.ConnectionError:
            results.append("refused")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while time.time() < deadline:   # wait until workers are busy
        m = srv.get("/metrics").text
        if "\npaw_jobs_running 0\n" not in m:
            break
        time.sleep(0.05)
    rc = srv.stop(timeout=120)
    for t in threads:
        t.join(timeout=120)
    assert rc == 0
    assert len(results) == 6
    # accepted before SIGTERM: answered; after: refused (503 or no connection)
    assert all(r in (200, 503, "refused") for r in results), results
    assert results.count(200) >= 2, results
    assert "stopped" in srv.rest


# ------------------------------------------------------------ compile jobs

def test_compile_job_errors_and_cancel(server):
    r = server.post("/api/v1/compile", json={"spec": "short", "examples": []})
    assert r.status_code == 422 and error_code(r) == "invalid_spec"
    r = server.post("/api/v1/compile", json={"spec": "A spec long enough.", "examples": [{"input": 1}]})
    assert r.status_code == 400
    assert server.get("/api/v1/compile/nope").status_code == 404
    r = server.post("/api/v1/compile", json={
        "spec": "Say YES to everything.", "steps": 2000,
        "examples": [{"input": f"q{i}", "output": "YES"} for i in range(6)]})
    assert r.status_code == 202
    j = r.json()
    assert set(j) >= {"job_id", "status", "stage", "progress", "program_id"} and j["status"] == "queued"
    d = requests.delete(f"{server.url}/api/v1/compile/{j['job_id']}", timeout=30)
    assert d.status_code == 200
    from conftest import wait_job
    done = wait_job(server, j["job_id"], limit=300)
    assert done["status"] == "cancelled" and done["program_id"] is None
    assert len(server.get("/api/v1/programs").json()["programs"]) == 3   # nothing installed


# ------------------------------------------------------------ program residency

def metric(srv, name):
    t = srv.get("/metrics").text
    return float(t.split(f"\n{name} ")[1].split("\n")[0])


def test_lru_eviction_under_memory_budget(cache, programs):
    """Handles beyond --max-memory are closed, least recently used first;
    answers do not change when a program is reopened."""
    srv = Server(cache, "-t", "1", "--workers", "1", "-c", "256")
    try:
        first = srv.post("/api/v1/infer", json={"program_id": programs["ids"][0], "input": "great"}).json()
        one = metric(srv, "paw_program_memory_bytes")
        assert one > 1e6 and metric(srv, "paw_programs_resident") == 1
    finally:
        assert srv.stop() == 0
    budget_mb = 2.5 * one / 1048576
    srv = Server(cache, "-t", "1", "--workers", "1", "-c", "256", "--max-memory", f"{budget_mb:.3f}")
    try:
        for pid in programs["ids"]:
            assert srv.post("/api/v1/infer", json={"program_id": pid, "input": "great"}).status_code == 200
            assert metric(srv, "paw_program_memory_bytes") <= budget_mb * 1048576
        assert metric(srv, "paw_programs_resident") == 2 and metric(srv, "paw_program_handles") == 2
        again = srv.post("/api/v1/infer", json={"program_id": programs["ids"][0], "input": "great"}).json()
        assert again["output"] == first["output"]
        assert metric(srv, "paw_programs_resident") == 2
    finally:
        assert srv.stop() == 0
    srv = Server(cache, "-t", "1", "--workers", "1", "-c", "256", "--max-memory", "0")
    try:   # a budget below one handle: nothing stays resident, answers still come
        r = srv.post("/api/v1/infer", json={"program_id": programs["ids"][1], "input": "great"})
        assert r.status_code == 200 and metric(srv, "paw_programs_resident") == 0
    finally:
        assert srv.stop() == 0


def test_stream_waiting_longer_than_idle_timeout(cache, programs):
    """A streamed answer that waits in the queue longer than --idle-timeout
    is kept alive (SSE comment lines) and arrives whole."""
    srv = Server(cache, "-t", "1", "--workers", "1", "--idle-timeout", "1")
    try:
        want = srv.post("/api/v1/infer", json={"program_id": "sentiment", "input": "awful", "max_tokens": 8})
        assert want.status_code == 200
        # Four long answers queued ahead on the one worker: seconds of wait on
        # any box (even where a single answer takes well under a second).
        busy_pool = cf.ThreadPoolExecutor(4)
        queued = [busy_pool.submit(long_chat, srv, 300) for _ in range(4)]
        time.sleep(0.5)
        t0 = time.time()
        r = requests.post(srv.url + "/v1/chat/completions", stream=True, timeout=300, json={
            "model": "sentiment", "max_tokens": 8, "stream": True,
            "messages": [{"role": "user", "content": "awful"}]})
        assert r.status_code == 200 and r.headers["Content-Type"] == "text/event-stream"
        lines = [ln for ln in r.iter_lines(decode_unicode=True) if ln]
        assert all(q.result().status_code == 200 for q in queued)
        busy_pool.shutdown()
        assert time.time() - t0 > 2   # it did wait for the busy worker
        assert ": keep-alive" in lines and lines[-1] == "data: [DONE]"
        events = [json.loads(ln[6:]) for ln in lines if ln.startswith("data: {")]
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
        assert text == want.json()["output"]
    finally:
        assert srv.stop() == 0


def test_paw_serve_runs_paw_serve():
    """`paw serve ARGS` is the paw-serve binary built beside paw."""
    import subprocess
    from conftest import PAW
    out = subprocess.run([PAW, "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("usage: paw serve")
    bad = subprocess.run([PAW, "serve", "--port", "99999"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "bad or incomplete option '--port'" in bad.stderr
    bad = subprocess.run([PAW, "serve", "--host", "not-an-ip", "--port", "0", "-m", model_path()],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "--host must be an IPv4 address" in bad.stderr
