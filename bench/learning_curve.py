#!/usr/bin/env python3
"""learning_curve.py — exact match versus the number of training examples.

What more examples (the user's own, or a teacher's synthesis) buy: for each
size N (default 8, 16, 32, 64, 128) a program is compiled with the default
recipe (`paw compile SPEC --examples train.jsonl --no-teacher`) from N
examples drawn from a real train split, and scored on the test split with
`paw eval --programs`.

  banking77  ../shared/data/intents/banking77: --intents K intents (default
             4) drawn from train.jsonl's sorted labels with random.Random(0)
             (the rule fixed before any measurement).  4, not 5: 8 examples
             then split evenly (2 each), and the compiler makes a closed-label
             program only when the distinct outputs are at most half the
             examples, which 5 labels in 8 examples are not.  Test: the
             test.jsonl queries of those intents (--test-per-intent M: the
             first M of each, in file order).
  bgl        ../shared/data/logs/bgl_2k.jsonl, split by template exactly as
             bench/log_monitoring.py (its SPEC and TRAIN templates, imported):
             training lines only from its 10 training templates, test lines
             from all the others (907 lines, 118 ALERT; --bgl-stride K keeps
             every K-th line of each label).  Those templates hold only 25
             ALERT lines, so from N = 64 on the extra lines are QUIET.

The N examples are nested (the N=16 set starts with the N=8 set, ...) and
balanced: each class's rows are shuffled with a fixed seed and the classes
are taken in turn (banking77: intent by intent; bgl: ALERT, QUIET by turns,
each label's templates in turn), a class that runs out being skipped.  The
test split is read only to score.

Per size: EM on the test lines (bgl also ALERT precision/recall/F1), compile
seconds (wall), the training steps and the train/validation split the
compiler reports, ms per test line and the load (/proc/loadavg) after the
compile and after the eval.  OUTDIR/DATASET/nN/ keeps each size's
train.jsonl, program, compile log, suite and eval report; a rerun skips what
is there (delete a folder to measure it again; OUTDIR/setup.json refuses a
rerun with other --steps, --intents, --test-per-intent or --bgl-stride).
Writes OUTDIR/results.json and prints a markdown table.  Needs only python3's
standard library and the paw binary.

  bench/learning_curve.py OUTDIR [--paw build/paw] [--sizes 8,16,32,64,128]
      [--datasets banking77,bgl] [--threads 2] [--steps N] [--intents 4]
      [--test-per-intent M] [--bgl-stride K]
"""
import argparse, collections, json, os, random, re, sys, time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from studylib import compile_once, run  # noqa: E402
import log_monitoring as lm  # noqa: E402

B77 = os.path.join(ROOT, "..", "shared", "data", "intents", "banking77")
B77_SPEC = ("Classify an online-banking customer query into the customer's intent. "
            "Answer with exactly one intent label.")


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def take_turns(pools):
    """The pools' elements in turn: slot i comes from pool (i + i//4) % K, the
    plain turn shifted by one every 4 slots, because the compiler holds out
    every 4th example for validation (pick() in src/compile/compile.c) and
    plain turns would hold out one class only (with 4 intents, all of one
    intent's examples).  A pool that runs out is skipped.  Every prefix is as
    balanced as the pools allow."""
    pos, out, k = [0] * len(pools), [], len(pools)
    for i in range(sum(map(len, pools))):
        c = (i + i // 4) % k
        while pos[c] >= len(pools[c]):
            c = (c + 1) % k
        out.append(pools[c][pos[c]])
        pos[c] += 1
    return out


def banking77(a):
    """(spec, ordered training pool [(input, output)], test [(input, output)])."""
    train = read(os.path.join(B77, "train.jsonl"))
    labels = random.Random(0).sample(sorted({r["label"] for r in train}), a.intents)
    rng = random.Random(1)
    pools = []
    for l in sorted(labels):
        rows = [(r["text"], l) for r in train if r["label"] == l]
        rng.shuffle(rows)
        pools.append(rows)
    test_by = collections.defaultdict(list)
    for r in read(os.path.join(B77, "test.jsonl")):  # scoring only
        if r["label"] in labels:
            test_by[r["label"]].append((r["text"], r["label"]))
    test = [t for _, v in sorted(test_by.items()) for t in v[:a.test_per_intent or None]]
    return B77_SPEC, take_turns(pools), test


def bgl(a):
    rows = lm.load("bgl_2k.jsonl")
    train_ids = [e for e, _ in lm.TRAIN]
    rng = random.Random(1)
    by_label = {}
    for label in ("ALERT", "QUIET"):
        pools = []
        for eid in train_ids:
            lines = [(r["line"], r["label"]) for r in rows if r["event_id"] == eid and r["label"] == label]
            rng.shuffle(lines)
            if lines:
                pools.append(lines)
        by_label[label] = take_turns(pools)
    test = [r for r in rows if r["event_id"] not in train_ids]
    test = [(r["line"], r["label"]) for r in test]
    test = [t for t in test if t[1] == "ALERT"][::a.bgl_stride] + [t for t in test if t[1] == "QUIET"][::a.bgl_stride]
    return lm.SPEC, take_turns([by_label["ALERT"], by_label["QUIET"]]), test


DATASETS = {"banking77": banking77, "bgl": bgl}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def compile_report(log):
    """What paw compile's report says (the regexes follow tools/paw/cmd_compile.c)."""
    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    m = re.search(r"^steps (\d+) .*train exact match (\d+)% \((\d+)\)\s+validation exact match (\d+)% \(([^)]*)\)",
                  text, re.M)
    lab = re.search(r"closed-label program: (\d+) labels", text)
    if not m:
        return {}
    return {"steps": int(m.group(1)), "train_em": int(m.group(2)), "n_train": int(m.group(3)),
            "val_em": int(m.group(4)), "val_on": m.group(5), "labels": int(lab.group(1)) if lab else 0}


def measure(a, name, spec, pool, test, n):
    d = os.path.join(a.out, name, f"n{n}")
    done = os.path.join(d, "result.json")
    if os.path.exists(done):
        print(f"{name} N={n}: done earlier ({done})", flush=True)
        with open(done) as f:
            return json.load(f)
    os.makedirs(os.path.join(d, "programs"), exist_ok=True)
    ex = pool[:n]
    if len(ex) < n:
        sys.exit(f"learning_curve.py: {name} has only {len(pool)} training examples, not {n}")
    with open(os.path.join(d, "train.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"input": i, "output": o}) + "\n" for i, o in ex)
    prog = os.path.join(d, "programs", name + ".paw")
    cj = os.path.join(d, "compile.json")
    if not os.path.exists(prog) or not os.path.exists(cj):
        if os.path.exists(prog):
            os.remove(prog)  # a program without its timing: compile it again
        print(f"{name} N={n}: compiling", flush=True)
        secs = compile_once(SimpleNamespace(paw=a.paw, steps=a.steps, threads=a.threads, out=d), spec, prog)
        with open(cj + ".tmp", "w") as f:
            json.dump({"seconds": secs, "load": loadavg(), "report": compile_report(os.path.join(d, "compile.log"))}, f)
        os.replace(cj + ".tmp", cj)
    with open(cj) as f:
        comp = json.load(f)
    ev = os.path.join(d, "eval.json")
    if not os.path.exists(ev):
        suite = os.path.join(d, "suite.jsonl")
        with open(suite, "w", encoding="utf-8") as f:
            f.write(json.dumps({"id": name, "category": "learning-curve", "spec": spec,
                                "train": [{"input": i, "output": o} for i, o in ex],
                                "test": [{"input": i, "output": o} for i, o in test]}) + "\n")
        print(f"{name} N={n}: evaluating on {len(test)} test lines", flush=True)
        t0 = time.time()
        run([a.paw, "eval", suite, "--programs", os.path.join(d, "programs"), "-n", "24", "-t", a.threads,
             "--json", ev + ".tmp"], os.path.join(d, "eval.log"))
        os.replace(ev + ".tmp", ev)
        with open(os.path.join(d, "eval-meta.json"), "w") as f:
            json.dump({"seconds": time.time() - t0, "load": loadavg()}, f)
    with open(ev) as f:
        task = json.load(f)["tasks"][0]
    with open(os.path.join(d, "eval-meta.json")) as f:
        evm = json.load(f)
    res = task["results"]
    labels = {o for _, o in test}
    r = {"dataset": name, "n": n, "train_labels": dict(collections.Counter(o for _, o in ex)),
         "compile_s": comp["seconds"], "compile_load": comp["load"], "compile": comp["report"],
         "n_test": len(res), "em": 100.0 * sum(x["ok"] for x in res) / max(len(res), 1),
         "not_a_label": sum((x["output"] or "").strip() not in labels for x in res),
         "ms_per_line": task["mean_ms"], "eval_s": evm["seconds"], "eval_load": evm["load"]}
    if name == "bgl":
        r["alert"] = lm.prf([lm.is_alert(x["output"]) for x in res], [x["expected"] == "ALERT" for x in res])
    with open(done, "w") as f:
        json.dump(r, f, indent=1)
    return r


def table(rows):
    print("| dataset | N | train labels | steps (train/val) | compile s | test n | EM % | ALERT P / R / F1 | "
          "ms/line | load (compile; eval) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["compile"]
        steps = f"{c['steps']} ({c['n_train']}/{r['n'] - c['n_train']})" if c else "?"
        al = r.get("alert")
        prf = f"{al['precision']:.2f} / {al['recall']:.2f} / {al['f1']:.2f}" if al else "-"
        comp = f"{r['compile_s']:.0f}" if r["compile_s"] is not None else "?"
        labs = ", ".join(f"{k} {v}" for k, v in sorted(r["train_labels"].items())) if r["dataset"] == "bgl" \
            else f"{len(r['train_labels'])} x {min(r['train_labels'].values())}-{max(r['train_labels'].values())}"
        print(f"| {r['dataset']} | {r['n']} | {labs} | {steps} | {comp} | {r['n_test']} | {r['em']:.1f} | {prf} | "
              f"{r['ms_per_line']:.0f} | {r['compile_load'].split()[0]}; {r['eval_load'].split()[0]} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--paw", default=os.path.join(ROOT, "build", "paw"))
    ap.add_argument("--sizes", default="8,16,32,64,128")
    ap.add_argument("--datasets", default="banking77,bgl")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--steps", type=int, default=0, help="cap on training steps (0: paw compile's default)")
    ap.add_argument("--intents", type=int, default=4)
    ap.add_argument("--test-per-intent", type=int, default=0, help="0: all")
    ap.add_argument("--bgl-stride", type=int, default=1)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    names = a.datasets.split(",")
    if not set(names) <= set(DATASETS):
        sys.exit(f"learning_curve.py: --datasets: choose from {','.join(DATASETS)}")
    os.makedirs(a.out, exist_ok=True)
    # what the programs and scores in OUTDIR depend on: a rerun must not mix settings
    data = {k: getattr(a, k) for k in ("steps", "intents", "test_per_intent", "bgl_stride")}
    dp = os.path.join(a.out, "setup.json")
    if os.path.exists(dp):
        with open(dp) as f:
            old = json.load(f)
        if old != data:
            sys.exit(f"learning_curve.py: {a.out} was measured with {old}, not {data}: use another OUTDIR")
    else:
        with open(dp, "w") as f:
            json.dump(data, f)
    rows = []
    for name in names:
        spec, pool, test = DATASETS[name](a)
        for n in sizes:
            rows.append(measure(a, name, spec, pool, test, n))
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"setup": dict(data, threads=a.threads), "rows": rows}, f, indent=1)
    table(rows)


if __name__ == "__main__":
    main()
