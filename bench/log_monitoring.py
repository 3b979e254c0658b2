#!/usr/bin/env python3
"""log_monitoring.py — the log-monitoring case study (examples/log-monitoring/).

On loghub's BGL_2k (../shared/data/logs/bgl_2k.jsonl, real BlueGene/L lines
labelled ALERT/QUIET per line by loghub) this

  1. picks 16 training lines from 10 hand-chosen templates (event_ids; listed
     below, chosen before any measurement) and holds out every line of those
     templates (1,093 lines): the test set is the other 907 lines (118 ALERT),
     whose templates the compiler never saw (the label is a function of the template, so a random
     line split would leak);
  2. `paw compile`s an ALERT/QUIET program from the spec below and the 16
     lines (no teacher);
  3. runs it (`paw eval --programs`) and the few-shot prompted base model
     (`paw eval --baseline few-shot`: the same spec and the same 16 lines as
     Input/Output pairs) on the test lines, and on all 2,000 Thunderbird_2k
     lines (none is an alert: every ALERT there is a false alarm);
  4. scores a keyword baseline, `grep -iE 'error|fail|fatal|panic'`, on the
     same lines;
  5. runs `paw watch --once` over the (first --watch-lines) test lines, for
     lines per second through the watcher, and checks that it alerts on
     exactly the lines paw eval's outputs call ALERT.

Precision, recall and F1 of the ALERT class; an output counts as ALERT when it
equals "ALERT" ignoring case and surrounding whitespace (paw watch's rule).

  bench/log_monitoring.py OUTDIR [--paw ./paw] [--threads 2] [--steps N]
                          [--quiet-stride K] [--alert-stride K] [--tb-stride K]
                          [--fewshot-stride K] [--watch-lines N] [--jobs LIST] [--reuse]

Subsampling, for a busy machine (the README says what was used): --quiet-stride
K keeps every K-th QUIET test line (precision is then also estimated for the
full test set by weighting each kept line by its stratum's stride);
--alert-stride K keeps every K-th ALERT test line (recall is then measured on
those); --tb-stride K keeps every K-th Thunderbird line; --fewshot-stride K runs the
slower few-shot baseline on every K-th of those lines only (BGL and
Thunderbird alike), and the program and the keywords are then scored on
exactly those lines too, in rows of their own; --watch-lines N times paw
watch on the first N test lines.  The program's eval, the few-shot eval and
paw watch run one after the other (paw's spinning thread pools slow each
other several-fold when run side by side on a small machine); --jobs
program,few-shot,watch runs only those, the rest coming from an earlier run
in OUTDIR (so that a long measurement can run in pieces).  --steps N caps
the compile's training steps (paw compile's default is 60).  Needs only python3's standard library and the
paw binary.  --reuse rescores an OUTDIR's earlier measurements without running
them again.
"""
import argparse, json, os, re, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from studylib import compile_once  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "logs")

SPEC = ("Classify one line of a supercomputer's system log. Answer ALERT if it reports a "
        "failure that needs an operator: a crash, a fatal error, a failed operation, a lost "
        "connection. Answer QUIET if it is routine or reports an error that was corrected "
        "automatically.")

# Training templates: (event_id, lines taken), 16 lines in all.
TRAIN = [("E81", 2), ("E32", 2), ("E108", 2), ("E111", 2),                # ALERT
         ("E67", 2), ("E77", 2), ("E28", 1), ("E18", 1), ("E4", 1), ("E12", 1)]  # QUIET

KEYWORDS = re.compile(r"error|fail|fatal|panic", re.I)


def load(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def prf(pred, gold):
    tp = sum(p and g for p, g in zip(pred, gold))
    fp = sum(p and not g for p, g in zip(pred, gold))
    fn = sum(g and not p for p, g in zip(pred, gold))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return dict(tp=tp, fp=fp, fn=fn, precision=prec, recall=rec, f1=f1)


def est_precision(m, w_alert, w_quiet):
    """Precision on the full test set when only a sample of each class was
    run: each scored line stands for its class's weight of lines."""
    tp, fp = m["tp"] * w_alert, m["fp"] * w_quiet
    return tp / (tp + fp) if tp + fp else 0.0


def is_alert(out):
    return out is not None and out.strip().lower() == "alert"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--paw", default="./paw")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--quiet-stride", type=int, default=1)
    ap.add_argument("--tb-stride", type=int, default=1)
    ap.add_argument("--alert-stride", type=int, default=1)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--watch-lines", type=int, default=0)
    ap.add_argument("--fewshot-stride", type=int, default=1)
    ap.add_argument("--jobs", default="program,few-shot,watch")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "programs"), exist_ok=True)
    bgl, tb = load("bgl_2k.jsonl"), load("thunderbird_2k.jsonl")

    train, train_ids = [], {e for e, _ in TRAIN}
    for eid, k in TRAIN:
        train += [r for r in bgl if r["event_id"] == eid][:k]
    test = [r for r in bgl if r["event_id"] not in train_ids]
    assert len(train) == 16 and not {r["event_id"] for r in test} & train_ids
    n_quiet_full = sum(r["label"] == "QUIET" for r in test)
    n_alert_full = len(test) - n_quiet_full
    quiet = [r for r in test if r["label"] == "QUIET"][::a.quiet_stride]
    alerts = [r for r in test if r["label"] == "ALERT"][::a.alert_stride]
    keep = {id(r) for r in quiet + alerts}
    test = [r for r in test if id(r) in keep]
    tb = tb[::a.tb_stride]
    ex = [{"input": r["line"], "output": r["label"]} for r in train]
    with open(os.path.join(a.out, "train.jsonl"), "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in ex)
    suite = [{"id": "bgl", "category": "logs", "spec": SPEC, "train": ex,
              "test": [{"input": r["line"], "output": r["label"]} for r in test]},
             {"id": "thunderbird", "category": "logs", "spec": SPEC, "train": ex,
              "test": [{"input": r["line"], "output": r["label"]} for r in tb]}]
    suite_path = os.path.join(a.out, "suite.jsonl")
    with open(suite_path, "w") as f:
        f.writelines(json.dumps(t) + "\n" for t in suite)
    few_suite_path = os.path.join(a.out, "suite-few-shot.jsonl")
    with open(few_suite_path, "w") as f:
        f.writelines(json.dumps(dict(t, test=t["test"][::a.fewshot_stride])) + "\n" for t in suite)

    prog = os.path.join(a.out, "programs", "bgl.paw")
    secs = {"compile": compile_once(a, SPEC, prog)}
    with open(prog, "rb") as src, open(os.path.join(a.out, "programs", "thunderbird.paw"), "wb") as dst:
        dst.write(src.read())
    # The two evals and paw watch (over the BGL_2k lines, for lines per
    # second end to end) run one after the other.
    lines_path = os.path.join(a.out, "bgl_test.log")
    with open(lines_path, "w", encoding="utf-8") as f:
        f.writelines(r["line"] + "\n" for r in (test[:a.watch_lines] if a.watch_lines else test))
    jobs = {}
    for name, sp, mode in (("program", suite_path, ["--programs", os.path.join(a.out, "programs")]),
                           ("few-shot", few_suite_path, ["--baseline", "few-shot"])):
        # the few-shot prompt (spec + 16 BGL lines) is ~2,030 tokens: 4,096 context
        jobs[name] = [a.paw, "eval", sp, *mode, "-n", "8", "-t", a.threads, "-c", "4096", "--json",
                      os.path.join(a.out, f"eval-{name}.json")]
    jobs["watch"] = [a.paw, "watch", lines_path, "--program", prog, "--once", "--json", "--all",
                     "-n", "8", "-t", a.threads]
    wanted = set(a.jobs.split(","))
    for name, cmd in jobs.items():
        done = os.path.join(a.out, "watch.log" if name == "watch" else f"eval-{name}.json")
        if name not in wanted or (a.reuse and os.path.exists(done) and os.path.getsize(done)):
            continue  # rescore what an earlier run measured
        t0 = time.time()
        with open(os.path.join(a.out, f"{name}.out"), "w") as out, \
                open(os.path.join(a.out, f"{name}.log"), "w") as err:
            if subprocess.call(cmd, stdout=out, stderr=err):
                sys.exit(f"log_monitoring.py: {' '.join(cmd)} failed, see {a.out}/{name}.log")
        secs[name] = time.time() - t0
    if not all(os.path.exists(os.path.join(a.out, f)) for f in ("eval-program.json", "eval-few-shot.json",
                                                                "watch.log")):
        print("not every job has run in this OUTDIR yet: no scores")
        return
    reports = {}
    for name in ("program", "few-shot"):
        with open(os.path.join(a.out, f"eval-{name}.json")) as f:
            reports[name] = {t["id"]: t for t in json.load(f)["tasks"]}
    # the watcher's own summary: seconds from its first read to its exit
    with open(os.path.join(a.out, "watch.log")) as f:
        m = re.search(r"(\d+) lines, (\d+) classified, (\d+) alerts in ([\d.]+) s", f.read())
    watch_s = float(m.group(4))
    with open(os.path.join(a.out, "watch.out")) as f:
        events = [json.loads(l) for l in f]
    watch_alerts = {e["line"] for e in events if e["event"] == "alert"}

    # The program and the keywords are scored on every line the program ran;
    # the few-shot baseline on its own (--fewshot-stride) lines, with the
    # program and the keywords again on exactly those lines as rows
    # "program@few-shot-lines" and "keyword@few-shot-lines".  Matched by text.
    outs = {n: {t: {x["input"]: x["output"] for x in rep[t]["results"]} for t in ("bgl", "thunderbird")}
            for n, rep in reports.items()}
    test = [r for r in test if r["line"] in outs["program"]["bgl"]]
    tb = [r for r in tb if r["line"] in outs["program"]["thunderbird"]]
    few_lines = {t: set(outs["few-shot"][t]) & set(outs["program"][t]) for t in ("bgl", "thunderbird")}
    reports["program@few-shot-lines"] = json.loads(json.dumps(reports["program"]))
    outs["program@few-shot-lines"] = outs["program"]
    rows_of = {}
    for n in reports:
        sub = n != "program"
        rows_of[n] = ([r for r in test if not sub or r["line"] in few_lines["bgl"]],
                      [r for r in tb if not sub or r["line"] in few_lines["thunderbird"]])
    for n, rep in reports.items():
        test_n, tb_n = rows_of[n]
        for t, rows in (("bgl", test_n), ("thunderbird", tb_n)):
            ms = {x["input"]: x["ms"] for x in rep[t]["results"]}
            rep[t]["results"] = [{"input": r["line"], "output": outs[n][t][r["line"]], "ms": ms[r["line"]]}
                                 for r in rows]
        rep["bgl"]["mean_ms"] = sum(x["ms"] for x in rep["bgl"]["results"]) / max(len(test_n), 1)
    # stratum weights for estimating precision on the full test set
    n_alert_scored = sum(r["label"] == "ALERT" for r in test)
    w_alert = n_alert_full / max(n_alert_scored, 1)
    w_quiet = n_quiet_full / max(len(test) - n_alert_scored, 1)
    res = {"spec": SPEC, "train_templates": TRAIN, "n_test_bgl": len(test), "n_test_quiet_full": n_quiet_full,
           "quiet_stride": a.quiet_stride, "alert_stride": a.alert_stride, "tb_stride": a.tb_stride,
           "steps": a.steps, "fewshot_stride": a.fewshot_stride,
           "n_fewshot_bgl": len(rows_of["few-shot"][0]), "n_fewshot_thunderbird": len(rows_of["few-shot"][1]),
           "n_test_alerts": sum(r["label"] == "ALERT" for r in test), "n_thunderbird": len(tb),
           "seconds": secs, "systems": {}}
    for kname, (test_n, tb_n) in (("keyword", (test, tb)), ("keyword@few-shot-lines", rows_of["few-shot"])):
        kb = [bool(KEYWORDS.search(r["line"])) for r in test_n]
        m = prf(kb, [r["label"] == "ALERT" for r in test_n])
        res["systems"][kname] = dict(m, n_bgl=len(test_n), n_thunderbird=len(tb_n),
                                     tb_false_alarms=sum(bool(KEYWORDS.search(r["line"])) for r in tb_n),
                                     precision_full_estimate=est_precision(m, w_alert, w_quiet))
    for name, rep in reports.items():
        gold = [r["label"] == "ALERT" for r in rows_of[name][0]]
        pb = [is_alert(x["output"]) for x in rep["bgl"]["results"]]
        pt = [is_alert(x["output"]) for x in rep["thunderbird"]["results"]]
        other = sorted({(x["output"] or "") for x in rep["bgl"]["results"]} - {"ALERT", "QUIET"})
        res["systems"][name] = dict(prf(pb, gold), n_bgl=len(pb), n_thunderbird=len(pt), tb_false_alarms=sum(pt),
                                    precision_full_estimate=est_precision(prf(pb, gold), w_alert, w_quiet),
                                    ms_per_line=rep["bgl"]["mean_ms"],
                                    outputs_not_a_label=other[:10])
        if name == "program":
            mine = {r["line"] for r, p in zip(test, pb) if p}
            # on the test lines both ran on, paw watch alerts exactly where paw eval said ALERT
            both = {e["line"] for e in events} & {r["line"] for r in test}
            res["watch_lines_checked"] = len(both)
            res["watch_agrees_with_eval"] = (mine & both) == (watch_alerts & both)
            res["missed_templates"] = sorted({r["event_id"] for r, p, g in zip(test, pb, gold) if g and not p})
            res["false_alarm_templates"] = sorted({r["event_id"] for r, p, g in zip(test, pb, gold) if p and not g})
    res["watch"] = {"lines": len(events), "seconds": watch_s, "lines_per_s": len(events) / watch_s,
                    "alerts": len(watch_alerts)}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(f"BGL_2k test: {len(test)} lines scored ({res['n_test_alerts']} of {n_alert_full} ALERT, "
          f"{len(test) - res['n_test_alerts']} of {n_quiet_full} QUIET) from templates unseen in training")
    print(f"{'system':24} {'BGL n':>5} {'P':>6} {'P(full)':>7} {'R':>6} {'F1':>6} {'TP':>4} {'FP':>4} {'FN':>4} "
          f"{'TB false alarms':>16} {'ms/line':>8}")
    for name, s in res["systems"].items():
        print(f"{name:24} {s['n_bgl']:5} {s['precision']:6.3f} {s['precision_full_estimate']:7.3f} "
              f"{s['recall']:6.3f} {s['f1']:6.3f} {s['tp']:4} {s['fp']:4} {s['fn']:4} "
              f"{s['tb_false_alarms']:>11}/{s['n_thunderbird']} {s.get('ms_per_line', 0):8.1f}")
    print(f"paw watch --once: {len(events)} lines in {watch_s:.1f} s = {res['watch']['lines_per_s']:.1f} lines/s "
          f"(agrees with paw eval on the {res.get('watch_lines_checked')} test lines both ran: "
          f"{res.get('watch_agrees_with_eval')})")
    print(f"compile {secs['compile']:.1f} s" if secs["compile"] else "compile: reused")


if __name__ == "__main__":
    main()
