"""`paw serve` batches program calls across programs: jobs waiting in the
queue are decoded together (paw_program_call_batch), each with its own
program's adapter and prefix, and every answer equals the one-at-a-time
answer.  One worker, so that requests sent together queue behind the first
and are taken as a batch; /metrics counts the batches."""
import concurrent.futures as cf
import subprocess

from conftest import PAW, PAW_SERVE, Server, model_path

WORDS = ["great", "awful", "sunny", "broken", "lovely", "meh", "fine", "terrible"]


def batch_hist(srv):
    t = srv.get("/metrics").text
    le1 = int(t.split('\npaw_batch_size_bucket{le="1"} ')[1].split("\n")[0])
    count = int(t.split("\npaw_batch_size_count ")[1].split("\n")[0])
    return le1, count


def test_batched_answers_equal_one_at_a_time(cache, programs):
    srv = Server(cache, "-t", "2", "--workers", "1", "-c", "256")
    try:
        calls = [(pid, w) for w in WORDS for pid in programs["ids"]]
        alone = {}
        for pid, w in calls:   # one at a time: each alone in the queue
            r = srv.post("/api/v1/infer", json={"program_id": pid, "input": w, "max_tokens": 6})
            assert r.status_code == 200, r.text
            alone[(pid, w)] = r.json()["output"]
        le1, count = batch_hist(srv)
        assert le1 == count == len(calls)   # nothing was batched so far

        def infer(call):
            pid, w = call
            r = srv.post("/api/v1/infer", json={"program_id": pid, "input": w, "max_tokens": 6})
            assert r.status_code == 200, r.text
            return call, r.json()

        for _ in range(2):
            with cf.ThreadPoolExecutor(len(calls)) as ex:
                got = list(ex.map(infer, calls))
            for call, j in got:
                assert j["output"] == alone[call], (call, j["output"], alone[call])
        le1b, countb = batch_hist(srv)
        assert countb - le1b >= 1, "no batch of two or more calls was formed"
        t = srv.get("/metrics").text
        assert "# TYPE paw_batch_size histogram" in t
    finally:
        assert srv.stop() == 0


def test_max_batch_one_decodes_alone(cache, programs):
    """--max-batch 1: requests sent together are still all answered, each
    decoded alone (every batch in the histogram has one call); an
    out-of-range value is refused at start."""
    srv = Server(cache, "-t", "2", "--workers", "1", "-c", "256", "--max-batch", "1")
    try:
        calls = [(pid, w) for w in WORDS[:4] for pid in programs["ids"]]

        def infer(call):
            r = srv.post("/api/v1/infer", json={"program_id": call[0], "input": call[1], "max_tokens": 6})
            assert r.status_code == 200, r.text
            return r.json()["output"]

        with cf.ThreadPoolExecutor(len(calls)) as ex:
            assert all(ex.map(infer, calls))
        le1, count = batch_hist(srv)
        assert le1 == count == len(calls)
    finally:
        assert srv.stop() == 0
    for bad in ("0", "9", "x"):
        p = subprocess.run([PAW_SERVE, "--max-batch", bad, "--port", "0"], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 2 and "--max-batch" in p.stderr, (bad, p.stderr)


def test_int8_answers(cache, programs):
    """--int8: every answer equals `paw run --int8`'s for the same program
    and input (the same int8 products in both), batched or alone."""
    srv = Server(cache, "-t", "2", "--workers", "1", "-c", "256", "--int8")
    try:
        info = subprocess.run([PAW, "info", "--system"], capture_output=True, text=True, timeout=30).stdout
        assert srv.get("/api/v1/health").json()["int8_products"] == ("int8 products: available" in info)
        calls = [(pid, w) for w in WORDS[:3] for pid in programs["ids"]]
        want = {}
        for pid, w in calls:
            p = subprocess.run([PAW, "run", "--int8", "-m", model_path(), "-t", "2", "-c", "256", "-n", "6", pid, w],
                               capture_output=True, text=True, env=srv.env, timeout=120)
            assert p.returncode == 0, p.stderr
            want[(pid, w)] = p.stdout.rstrip("\n")

        def infer(call):
            r = srv.post("/api/v1/infer", json={"program_id": call[0], "input": call[1], "max_tokens": 6})
            assert r.status_code == 200, r.text
            return call, r.json()["output"]

        with cf.ThreadPoolExecutor(len(calls)) as ex:
            for call, out in ex.map(infer, calls):
                assert out == want[call], (call, out, want[call])
    finally:
        assert srv.stop() == 0
