#!/usr/bin/env python3
"""labels_vs_free.py — what closed-label decoding changes on a suite.

For every task of SUITE.jsonl whose compiled program PROGRAMS/<id>.paw is a
closed-label program (meta.json "labels"), runs the task's test inputs
through `paw run --jsonl` twice, within the labels (the default) and with
--free, and prints per task: exact match, validity (the output is one of the
labels) and mean ms per input for both, plus the compile report's
cross-validated estimate (metrics.cv.em).  A bench tool (python3 + the paw
binary); paw itself needs no Python.

    bench/labels_vs_free.py SUITE.jsonl PROGRAMS [-t THREADS]    (PAW=./paw)
"""
import json, os, subprocess, sys

def run(paw, prog, inputs, threads, free):
    args = [paw, "run", prog, "-t", str(threads), "--jsonl"] + (["--free"] if free else [])
    stdin = "".join(json.dumps({"input": x}, ensure_ascii=False) + "\n" for x in inputs)
    out = subprocess.run(args, input=stdin, capture_output=True, text=True, check=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    return [r.get("output", "") for r in rows], [r["ms"] for r in rows]

def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    suite, progs = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[sys.argv.index("-t") + 1]) if "-t" in sys.argv else 2
    paw = os.environ.get("PAW", "./paw")
    print("| task | labels | CV EM % | EM % labels | EM % free | valid % labels | valid % free | ms labels | ms free |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    tot = []
    for line in open(suite, encoding="utf-8"):
        if not line.strip():
            continue
        t = json.loads(line)
        prog = os.path.join(progs, t["id"] + ".paw")
        if not os.path.exists(prog):
            continue
        info = json.loads(subprocess.run([paw, "info", prog, "--json"], capture_output=True, text=True,
                                         check=True).stdout)
        labels = info.get("labels") or []
        if not labels:
            continue
        cv = ((info.get("metrics") or {}).get("cv") or {}).get("em")
        inputs = [e["input"] for e in t["test"]]
        gold = [e["output"].strip() for e in t["test"]]
        res = []
        for free in (False, True):
            outs, ms = run(paw, prog, inputs, threads, free)
            em = 100.0 * sum(o.strip() == g for o, g in zip(outs, gold)) / len(gold)
            valid = 100.0 * sum(o.strip() in labels for o in outs) / len(outs)
            res.append((em, valid, sum(ms) / len(ms)))
        tot.append((cv, res))
        print("| %s | %d | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f |" % (
            t["id"], len(labels), "%.1f" % (100 * cv) if cv is not None else "-", res[0][0], res[1][0],
            res[0][1], res[1][1], res[0][2], res[1][2]))
    if tot:
        n = len(tot)
        mean = lambda f: sum(f(x) for x in tot) / n
        cvs = [x[0] for x in tot if x[0] is not None]
        print("| **mean** (%d tasks) | | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f |" % (
            n, "%.1f" % (100 * sum(cvs) / len(cvs)) if cvs else "-", mean(lambda x: x[1][0][0]),
            mean(lambda x: x[1][1][0]), mean(lambda x: x[1][0][1]), mean(lambda x: x[1][1][1]),
            mean(lambda x: x[1][0][2]), mean(lambda x: x[1][1][2])))

if __name__ == "__main__":
    main()
