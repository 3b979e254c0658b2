"""pawc's verbs against the CLI and against paw's documented errors."""

import json
import os
import resource
import threading

import pytest

import pawc
from conftest import STORIES, TOY, TRIAGE_SPEC, ROOT, paw_cli


def triage_inputs():
    with open(os.path.join(ROOT, "examples", "triage-inputs.txt"), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def test_compile_then_function_equals_paw_run(triage):
    assert len(triage.id) == 20 and os.path.exists(triage.path)
    assert triage.spec == TRIAGE_SPEC
    assert "QUIET" in triage.pseudo_program and "ALERT" in triage.pseudo_program
    assert triage.report["metrics"], triage.report
    inputs = triage_inputs()
    with pawc.function(triage, threads=2) as fn:
        ours = [fn(x) for x in inputs]
        assert fn.batch(inputs) == ours
    cli = paw_cli("run", "-t", "2", triage.id, input_text="\n".join(inputs) + "\n")
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines() == ours
    assert set(ours) <= {"ALERT", "QUIET"}
    # The .paw written by compile(out=...) is the same program.
    with pawc.function(triage.path, threads=2) as fn:
        assert [fn(x) for x in inputs] == ours
    # int8 products: the same as `paw run --int8`, batched or not.
    with pawc.function(triage, threads=2, int8=True) as fn:
        ours8 = [fn(x) for x in inputs]
        assert fn.batch(inputs) == ours8
    cli = paw_cli("run", "-t", "2", "--int8", triage.id, input_text="\n".join(inputs) + "\n")
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines() == ours8
    assert set(ours8) <= {"ALERT", "QUIET"}


def test_threads_share_one_callable(triage, toy_stories):
    inputs = triage_inputs() * 2
    fn = pawc.function(triage, threads=1)
    expected = [fn(x) for x in inputs]
    results = {}

    def worker(k):
        results[k] = [fn(x) for x in inputs]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[k] for k in range(4)] == [expected] * 4
    fn.close()
    with pytest.raises(pawc.PawError):
        fn("after close")


def test_base_mode_equals_paw_run_base(smollm2):
    with pawc.function(None, base="smollm2-135m", threads=2, max_tokens=12) as fn:
        ours = fn("Name a colour.")
    cli = paw_cli("run", "--base", "-n", "12", "-t", "2", "Name a colour.")
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == ours and ours


def test_errors(tmp_path, triage, toy_stories):
    with pytest.raises(pawc.NotFoundError) as e:
        pawc.function(str(tmp_path / "missing.paw"))
    assert "missing.paw" in str(e.value) and e.value.code == "ENOTFOUND"
    with pytest.raises(pawc.NotFoundError):
        pawc.function("0123456789abcdef0123")
    corrupt = tmp_path / "corrupt.paw"
    with open(triage.path, "rb") as f:
        data = f.read()
    corrupt.write_bytes(data[: len(data) // 2])
    with pytest.raises(pawc.FormatError):
        pawc.function(str(corrupt))
    # A stories260K program on SmolLM2: made for another base.
    with pytest.raises(pawc.InvalidInputError) as e:
        pawc.function(toy_stories, base="smollm2-135m")
    assert "base" in str(e.value)
    with pytest.raises(pawc.InvalidInputError):
        pawc.compile("", TOY)
    with pytest.raises(pawc.InvalidInputError):
        pawc.compile("   ", TOY)
    with pytest.raises(pawc.InvalidInputError) as e:
        pawc.compile("Say the secret word.", TOY[:2], base=STORIES, progress=False)
    assert "examples" in str(e.value)
    with pytest.raises(pawc.InvalidInputError):
        pawc.compile("Say the secret word.", [("a", 1)], base=STORIES, progress=False)
    with pawc.function(toy_stories, base=STORIES) as fn:
        with pytest.raises(pawc.InvalidInputError):
            fn("cat", temperature=0.7)
        with pytest.raises(pawc.InvalidInputError):
            fn("word " * 5000)          # over the context: refused, not truncated
    with pytest.raises(pawc.NotFoundError):
        pawc.function(None, base=str(tmp_path / "no-model.gguf"))
    # Every exception is a PawError with paw's message.
    assert issubclass(pawc.FormatError, pawc.PawError)


def test_rss_flat_over_10000_calls(toy_stories):
    def rss_kb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() // 1024

    with pawc.function(toy_stories, base=STORIES, threads=1, max_tokens=4) as fn:
        for _ in range(500):
            fn("cat")
        before = rss_kb()
        for k in range(10000):
            fn(TOY[k % len(TOY)][0])
        grown = rss_kb() - before
    assert grown < 5 * 1024, f"RSS grew {grown} KB over 10,000 calls"


def test_install_list_and_aliases(triage, tmp_path):
    prog = pawc.install(triage.path, alias="triage-test")
    assert prog.id == triage.id
    listed = {p["id"]: p for p in pawc.list_cached_programs()}
    assert "triage-test" in listed[triage.id]["aliases"]
    assert listed[triage.id]["spec"] == TRIAGE_SPEC
    with pawc.function("triage-test", threads=2) as fn:
        assert fn("kernel panic: not syncing") in ("ALERT", "QUIET")
    with pytest.raises(pawc.FormatError):
        bad = tmp_path / "bad.paw"
        bad.write_bytes(b"not a zip")
        pawc.install(bad)


def test_pull_progress_and_cancel(smollm2):
    seen = []
    path = pawc.pull("smollm2-135m", progress=lambda done, total: seen.append((done, total)))
    assert os.path.samefile(path, smollm2) and seen and seen[-1][0] == seen[-1][1] > 0
    with pytest.raises(pawc.CancelledError):
        pawc.pull("smollm2-135m", progress=lambda done, total: True)
    with pytest.raises(pawc.NotFoundError):
        pawc.pull("no-such-model", progress=False)


def test_compile_progress_callback(tmp_path):
    lines = []
    six = TOY + [("tree", "green")]           # enough for a 3-fold estimate (2 per fold)
    prog = pawc.compile("Say the secret word of the thing.", six, base=STORIES, steps=10, cv_folds=3,
                        progress=lambda stage, msg: lines.append((stage, msg)))
    stages = {s for s, _ in lines}
    assert {"data", "train", "export", "cv"} <= stages, lines
    assert len(prog.id) == 20
    assert prog.report["metrics"]["cv"]["folds"] == 3, prog.report
    # Returning True cancels: CancelledError, nothing installed.
    before = {p["id"] for p in pawc.list_cached_programs()}
    with pytest.raises(pawc.CancelledError):
        pawc.compile("Say the secret word of the thing, again.", TOY, base=STORIES, steps=10,
                     progress=lambda stage, msg: stage == "train")
    assert {p["id"] for p in pawc.list_cached_programs()} == before


def test_evaluate(triage, tmp_path):
    suite = tmp_path / "suite.jsonl"
    import json
    inputs = triage_inputs()
    with pawc.function(triage, threads=2) as fn:
        outs = [fn(x) for x in inputs]
    test = [{"input": x, "output": o if k % 2 == 0 else "NEVER"} for k, (x, o) in enumerate(zip(inputs, outs))]
    rows = [{"id": "triage", "category": "c", "spec": TRIAGE_SPEC, "train": [], "test": test},
            {"id": "absent", "category": "c", "spec": "x", "train": [], "test": test}]
    suite.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    progs = tmp_path / "progs"
    progs.mkdir()
    os.symlink(triage.path, progs / "triage.paw")
    res = pawc.evaluate(suite, progs, threads=2)
    assert res["tasks"]["triage"] == pytest.approx(sum(1 for k in range(len(test)) if k % 2 == 0) / len(test))
    assert res["tasks"]["absent"] == 0 and "absent" in res["errors"]
    assert res["mean_em"] == pytest.approx(res["tasks"]["triage"] / 2)


def test_labels(toy_stories):
    """Function.labels: a closed-label program's labels as its installed
    meta.json lists them, every call one of them; [] without labels."""
    ex = [("good", "POS"), ("bad", "NEG"), ("great", "POS"), ("awful", "NEG"), ("fine", "POS"), ("poor", "NEG")]
    prog = pawc.compile("Say POS or NEG.", ex, base=STORIES, progress=False, threads=2, steps=2, cv_folds=0)
    with open(os.path.join(pawc._resolve(prog.id).dir.decode(), "meta.json"), encoding="utf-8") as f:
        meta_labels = json.load(f)["labels"]
    assert meta_labels == ["POS", "NEG"]
    with pawc.function(prog, base=STORIES, threads=2) as fn:
        assert fn.labels == meta_labels
        assert {fn(x) for x in ("nice", "terrible", "ok", "cat")} <= set(meta_labels)
    # five one-off outputs are not a label set; the base mode has none
    with pawc.function(toy_stories, base=STORIES, threads=2) as fn:
        assert fn.labels == []
    with pawc.function(None, base=STORIES, threads=2) as fn:
        assert fn.labels == []


def test_on_text_streams_the_answer(smollm2):
    """fn(x, on_text=...) gets the output piece by piece as it is decoded
    (paw_program_call_stream): the pieces add up to the answer; a true
    return stops decoding; the callback's exception reaches the caller."""
    q = "Tell me a story about a cat."
    with pawc.function(None, base="smollm2-135m", threads=2, max_tokens=24) as fn:
        pieces = []
        got = fn(q, on_text=pieces.append)       # first call: no drafts, one token per step
        assert got == fn(q) and "".join(pieces) == got and len(pieces) > 3, pieces
        with pytest.raises(ZeroDivisionError):
            fn(q, on_text=lambda t: 1 / 0)
    with pawc.function(None, base="smollm2-135m", threads=2, max_tokens=24) as fn:
        seen = []
        part = fn(q, on_text=lambda t: seen.append(t) or len(seen) >= 2)
        assert len(seen) == 2 and got.startswith(part) and len(part) < len(got)


def test_augment():
    """augment= reaches the compiler: outputs that copy a word of their input
    train with that many variants per example by default-or-given, none with
    augment=0; the report says so."""
    ex = [("code: kiwi", "kiwi"), ("ship plum now", "plum"), ("fig, please", "fig"), ("the lime", "lime")]
    seen = {}
    for aug in (None, 2, 0):
        prog = pawc.compile("Copy the fruit.", ex, base=STORIES, progress=False, threads=2, steps=1,
                            augment=aug)
        seen[aug] = (prog.report["settings"]["augment"], prog.report["metrics"]["n_variants"])
    assert seen[2] == (2, 8)
    assert seen[0] == (0, 0)
    assert seen[None][0] > 0 and seen[None][1] == 4 * seen[None][0]


def test_label_loss():
    """label_loss= reaches the compiler: a closed-label program records the
    loss it trained with; a program without labels always trains over the
    vocabulary."""
    ex = [("sun", "warm"), ("snow", "cold"), ("fire", "warm"), ("ice", "cold")]
    got = {}
    for ll in (True, False):
        prog = pawc.compile("Say if it is warm or cold.", ex, base=STORIES, progress=False, threads=2, steps=1,
                            label_loss=ll)
        got[ll] = prog.report["settings"]["loss"]
    assert got == {True: "labels", False: "vocab"}
    prog = pawc.compile("Say it twice.", [("a", "a a"), ("b", "b b"), ("c", "c c"), ("d", "d d")],
                        base=STORIES, progress=False, threads=2, steps=1, label_loss=True)
    assert prog.report["settings"]["loss"] == "vocab"
