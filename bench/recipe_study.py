#!/usr/bin/env python3
"""recipe_study.py — the compiler's recipe chosen by k-fold cross-validation
on each task's training examples only (the test inputs are never read).

For every task of SUITE.jsonl (or those named with --tasks) and every
setting (lr, rank, steps), runs

    paw compile SPEC --examples TRAIN.jsonl --no-teacher --steps S --min-steps S
                --lr LR --rank R --cv-folds K -t THREADS --timings

i.e. training never stops early, and the compile's k-fold cross-validation
(each fold: its own pseudo-program from its own training examples, a fresh
adapter trained S steps, the held-out examples predicted at every check on
the way) gives the cross-validated exact match after 10, 20, ... S steps
(meta.json metrics.cv.curve).  The first step at which the program matched
all its training examples (metrics.first_match_step) is recorded as well, so
the stopping rule "stop at the first 100 % train match" can be read off the
same curve (the fold's EM at that step; a fold's own first match is close to
it).  Writes OUT/results.jsonl (one line per task and setting) and prints a
table: CV EM per task and setting at each check, and the mean per column.

    bench/recipe_study.py ../shared/eval/fuzzy-public.jsonl /tmp/study \\
        --tasks time-to-24h,date-to-iso --lr 2e-3,1e-3 --steps 40 [--augment off,4] [--loss label,vocab]

Only the "spec" and "train" fields of each task are read.  PAW (default
./paw) names the binary.  The programs land in OUT/programs/<setting>/ for
a later, separate measurement on test inputs (bench/compile_suite.sh's
paw eval), never used by this script.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import zipfile


def load_tasks(path, names):
    tasks = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            if names and t["id"] not in names:
                continue
            # Only the spec and the training examples: nothing else is kept.
            tasks.append({"id": t["id"], "spec": t["spec"], "train": t["train"]})
    return tasks


def meta_of(paw_path):
    with zipfile.ZipFile(paw_path) as z:
        for n in z.namelist():
            if n.endswith("meta.json"):
                return json.loads(z.read(n))
    raise RuntimeError(f"{paw_path}: no meta.json")


def run_one(paw, task, lr, rank, steps, folds, threads, out, augment="", loss="", seed=0):
    name = (f"lr{lr}-r{rank}-s{steps}" + (f"-aug{augment}" if augment else "") + (f"-{loss}loss" if loss else "")
            + (f"-seed{seed}" if seed else ""))
    d = os.path.join(out, "tasks", task["id"])
    os.makedirs(d, exist_ok=True)
    ex = os.path.join(d, "train.jsonl")
    with open(ex, "w", encoding="utf-8") as f:
        for e in task["train"]:
            f.write(json.dumps({"input": e["input"], "output": e["output"]}, ensure_ascii=False) + "\n")
    pd = os.path.join(out, "programs", name)
    os.makedirs(pd, exist_ok=True)
    prog = os.path.join(pd, task["id"] + ".paw")
    cmd = [paw, "compile", task["spec"], "--examples", ex, "--no-teacher", "--steps", str(steps),
           "--min-steps", str(steps), "--lr", str(lr), "--rank", str(rank), "--cv-folds", str(folds),
           "-t", str(threads), "--seed", str(seed), "--timings", "-o", prog]
    if augment == "off":
        cmd.append("--no-augment")
    elif augment:
        cmd += ["--augment", augment]
    if loss:
        cmd.append(f"--{loss}-loss")
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.time() - t0
    with open(os.path.join(out, "logs", f"{name}-{task['id']}.log"), "w") as f:
        f.write(p.stderr + p.stdout)
    if p.returncode:
        raise RuntimeError(f"{task['id']} {name}: paw compile failed:\n{p.stderr[-2000:]}")
    met = json.loads(meta_of(prog)["metrics"]) if isinstance(meta_of(prog)["metrics"], str) else meta_of(prog)["metrics"]
    cv = met.get("cv", {})
    return {"task": task["id"], "setting": name, "lr": lr, "rank": rank, "steps": steps, "folds": folds,
            "augment": augment or "default", "loss": loss or "default", "seed": seed, "n_variants": met.get("n_variants"),
            "curve": {c["steps"]: c["em"] for c in cv.get("curve", [])}, "cv_em": cv.get("em"),
            "first_match_step": met.get("first_match_step"), "train_em": met.get("train_em"),
            "seconds": round(secs, 1), "seconds_cv": met.get("seconds", {}).get("cv"),
            "seconds_train": met.get("seconds", {}).get("train")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite")
    ap.add_argument("out")
    ap.add_argument("--tasks", default="", help="comma-separated task ids (default: all)")
    ap.add_argument("--lr", default="2e-3")
    ap.add_argument("--rank", default="8")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--augment", default="",
                    help="comma-separated: off (--no-augment) or N (--augment N); default: the compiler's")
    ap.add_argument("--seed", default="0", help="comma-separated seeds (the adapter's init and the batch order)")
    ap.add_argument("--loss", default="",
                    help="comma-separated: label (--label-loss) or vocab (--vocab-loss); default: the compiler's")
    a = ap.parse_args()
    paw = os.environ.get("PAW", "./paw")
    names = set(x for x in a.tasks.split(",") if x)
    tasks = load_tasks(a.suite, names)
    os.makedirs(os.path.join(a.out, "logs"), exist_ok=True)
    res_path = os.path.join(a.out, "results.jsonl")
    for lr in a.lr.split(","):
        for rank in a.rank.split(","):
            for aug in a.augment.split(","):
                for loss in a.loss.split(","):
                    for seed in a.seed.split(","):
                        for t in tasks:
                            r = run_one(paw, t, lr, int(rank), a.steps, a.folds, a.threads, a.out, aug, loss,
                                        int(seed))
                            with open(res_path, "a") as f:
                                f.write(json.dumps(r) + "\n")
                            print(json.dumps(r), flush=True)
    report(res_path)


def report(res_path):
    rows = [json.loads(l) for l in open(res_path) if l.strip()]
    settings = sorted({r["setting"] for r in rows})
    for s in settings:
        rs = [r for r in rows if r["setting"] == s]
        checks = sorted({int(k) for r in rs for k in r["curve"]})
        print(f"\n== {s}: CV EM % by steps (first train match step; compile s)")
        print("task".ljust(24) + "".join(f"{c:>7}" for c in checks) + "  at-match  first  secs")
        sums = {c: 0.0 for c in checks}
        at_match = []
        for r in rs:
            cur = {int(k): v for k, v in r["curve"].items()}
            fm = r["first_match_step"] or 0
            am = cur.get(fm) if fm else None
            at_match.append(am if am is not None else cur.get(max(cur)) if cur else 0)
            for c in checks:
                sums[c] += cur.get(c, 0)
            print(r["task"].ljust(24) + "".join(f"{100 * cur.get(c, 0):7.1f}" for c in checks)
                  + f"  {100 * at_match[-1]:8.1f}  {fm:5d}  {r['seconds']:5.0f}")
        n = len(rs)
        print("mean".ljust(24) + "".join(f"{100 * sums[c] / n:7.1f}" for c in checks)
              + f"  {100 * sum(at_match) / n:8.1f}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--report":
        report(sys.argv[2])
    else:
        main()
