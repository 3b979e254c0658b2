#!/usr/bin/env python3
"""intent_routing.py — the intent-routing case study (examples/intent-routing/).

Banking77 (../shared/data/intents/banking77): 77 intents of real online-
banking customer queries, train 10,003 / test 3,080.  Written as a user of
the Python SDK `pawc` would write it (compile, function) plus the CLI's
`paw eval --baseline few-shot` for the prompted base model.

Groups: the source has no coarse grouping, so the 7 groups come from the
words of the intent names that occur in train.jsonl (never from a test
query): an ordered list of keyword rules on the '_'-separated words of each
label, first match wins (GROUP_RULES below; `cards` takes the rest).

Training data: --per-intent K train queries of each intent (default 3),
drawn with a fixed seed from train.jsonl only, interleaved across intents
(the compiler holds out every 4th example for validation, so each intent
keeps most of its examples in training).  From these one list, four kinds
of program, all closed-label (every output a label; paw.md §4: labels, not
free text):
  router        query -> group name (7 labels, all K*77 examples)
  fine-GROUP    query -> intent, one per group (its intents' examples)
  flat77        query -> intent, one 77-way program (all K*77 examples)
The pipeline is router then the chosen group's fine program (2 calls).
The few-shot baseline is the base model prompted with one train example per
intent (77 examples; a 4,096-token context) via `paw eval --baseline
few-shot`; its prefix KV is computed once, so it costs a call per query too.

Test set: --test-per-intent N takes the first N test queries of every
intent in file order (a fixed, stratified subsample; 0 = all 40 each, the
whole 3,080); --fewshot-per-intent M the first M of those for the slower
few-shot baseline.  Predictions are appended to OUTDIR/pred-SYSTEM.jsonl as
they are made, and a rerun continues where the last stopped, so the
measurement can run in pieces: --budget-s S stops calling programs after S
seconds (the result is then marked partial).  --rerun-fine G,.. answers the
pipeline rows routed to those groups again with their current fine programs
(after one was deleted and so compiled again), keeping the router's answers.

  bench/intent_routing.py OUTDIR [--paw build/paw] [--threads 2] [--per-intent 3]
      [--steps N] [--test-per-intent N] [--fewshot-per-intent M] [--budget-s S] [--rerun-fine G,..]
      [--skip-fewshot]

Needs libpaw.so (PAWC_LIB, default build/libpaw.so) and python/ on the path
(both set here when run from a checkout)."""
import argparse, collections, json, os, random, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
os.environ.setdefault("PAWC_LIB", os.path.join(ROOT, "build", "libpaw.so"))
import pawc  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data", "intents", "banking77")

# (group, words): a label belongs to the first group one of whose words is
# among the label's '_'-separated words (lower-cased).  Written from the
# intent names alone.
GROUP_RULES = [
    ("top_up", {"top", "topping"}),
    ("cash_atm", {"cash", "atm"}),
    ("transfers", {"transfer", "beneficiary", "receiving", "refund", "debit"}),
    ("exchange", {"exchange", "currency", "currencies", "fiat", "country"}),
    ("account_security", {"identity", "verify", "personal", "passcode", "pin", "phone", "account", "age"}),
    ("card_payments", {"payment", "charged", "charge", "statement", "pay"}),
]
REST = "cards"
GROUP_DESC = {
    "top_up": "topping up the account (top-ups, their limits, fees and failures)",
    "cash_atm": "cash, ATMs and cash withdrawals or deposits",
    "transfers": "bank transfers, receiving money, refunds and direct debits",
    "exchange": "exchange rates, currencies and supported countries",
    "account_security": "identity verification, PIN and passcode, personal details, the account itself",
    "card_payments": "card payments and charges on the statement",
    "cards": "the card itself: ordering, delivery, activation, virtual and disposable cards, "
             "lost or broken cards",
}
ROUTER_SPEC = ("Route an online-banking customer query to the topic it is about. Answer with exactly one "
               "label: " + "; ".join(f"{g} = {d}" for g, d in GROUP_DESC.items()) + ".")
FINE_SPEC = ("Classify an online-banking customer query about {desc} into the customer's intent. "
             "Answer with exactly one intent label.")
FLAT_SPEC = "Classify an online-banking customer query into the customer's intent. Answer with exactly one intent label."
FEW_SPEC = ("Classify an online-banking customer query into the customer's intent. Answer with exactly one "
            "intent label from the examples.")


def group_of(label):
    words = set(label.lower().rstrip("?").split("_"))
    for g, kw in GROUP_RULES:
        if words & kw:
            return g
    return REST


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def interleave(by_label, k):
    """The k-th example of every label, then the (k+1)-th, ... (labels in
    sorted order)."""
    labels = sorted(by_label)
    return [by_label[l][i] for i in range(k) for l in labels if i < len(by_label[l])]


def load_preds(path):
    done = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):
                    r = json.loads(line)
                    done[r["i"]] = r
    return done


def compile_program(out, name, spec, examples, a, secs, reports):
    path = os.path.join(out, "programs", name + ".paw")
    if os.path.exists(path):
        print(f"reusing {path} (delete it to compile again)", flush=True)
    else:
        t0 = time.time()
        tmp = path + ".tmp"
        log = open(os.path.join(out, "programs", name + ".log"), "w")

        def progress(stage, msg):
            log.write(f"{time.time() - t0:8.1f} {stage}: {msg}\n")
            log.flush()
        prog = pawc.compile(spec, [(e["text"], e["out"]) for e in examples], out=tmp, progress=progress,
                            threads=int(a.threads), steps=a.steps or None, cv_folds=0)
        log.close()
        os.replace(tmp, path)
        secs[name] = time.time() - t0
        reports[name] = {k: prog.report.get("metrics", {}).get(k) for k in ("val_em", "train_em", "steps", "n_train",
                                                                             "n_val", "adapter_type")}
        print(f"compiled {name}: {secs[name]:.1f} s, {len(examples)} examples", flush=True)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--paw", default=os.path.join(ROOT, "build", "paw"))
    ap.add_argument("--threads", default="2")
    ap.add_argument("--per-intent", type=int, default=3)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--test-per-intent", type=int, default=0)
    ap.add_argument("--fewshot-per-intent", type=int, default=4)
    ap.add_argument("--budget-s", type=float, default=0)
    ap.add_argument("--skip-fewshot", action="store_true")
    ap.add_argument("--compile-only", action="store_true")
    ap.add_argument("--rerun-fine", default="",
                    help="groups (comma-separated) whose fine program changed: the pipeline rows routed to them "
                         "are answered again by the current program (the router's answers stay)")
    a = ap.parse_args()
    t_start = time.time()
    os.makedirs(os.path.join(a.out, "programs"), exist_ok=True)
    train, test = read(os.path.join(DATA, "train.jsonl")), read(os.path.join(DATA, "test.jsonl"))

    by_label = collections.defaultdict(list)
    for r in train:
        by_label[r["label"]].append(r)
    groups = collections.defaultdict(list)
    for l in sorted(by_label):
        groups[group_of(l)].append(l)
    rng = random.Random(0)
    picked = {l: rng.sample(rows, a.per_intent) for l, rows in sorted(by_label.items())}
    ex = interleave(picked, a.per_intent)
    few = interleave({l: rows[:1] for l, rows in picked.items()}, 1)

    test_by = collections.defaultdict(list)
    for i, r in enumerate(test):
        test_by[r["label"]].append(i)
    n_t = a.test_per_intent or max(len(v) for v in test_by.values())
    # round-robin over intents, so a run stopped early is still near-stratified
    order = [test_by[l][k] for k in range(n_t) for l in sorted(test_by) if k < len(test_by[l])]
    few_set = set(test_by[l][k] for l in test_by for k in range(min(a.fewshot_per_intent, len(test_by[l]))))

    meta_path = os.path.join(a.out, "setup.json")
    meta = {"groups": groups, "per_intent": a.per_intent, "steps": a.steps or 60, "n_examples": len(ex),
            "compile_s": {}, "compile_report": {}}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        meta["compile_s"], meta["compile_report"] = old.get("compile_s", {}), old.get("compile_report", {})
    with open(os.path.join(a.out, "train.jsonl"), "w") as f:
        f.writelines(json.dumps({"input": e["text"], "output": e["label"], "group": group_of(e["label"])}) + "\n"
                     for e in ex)

    secs, reports = meta["compile_s"], meta["compile_report"]
    progs = {}
    progs["router"] = compile_program(a.out, "router", ROUTER_SPEC,
                                      [{"text": e["text"], "out": group_of(e["label"])} for e in ex], a, secs, reports)
    for g, labels in sorted(groups.items()):
        gex = [{"text": e["text"], "out": e["label"]} for e in ex if e["label"] in labels]
        progs["fine-" + g] = compile_program(a.out, "fine-" + g, FINE_SPEC.format(desc=GROUP_DESC[g]), gex, a,
                                             secs, reports)
    progs["flat77"] = compile_program(a.out, "flat77", FLAT_SPEC,
                                      [{"text": e["text"], "out": e["label"]} for e in ex], a, secs, reports)
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    if a.compile_only:
        return

    # --- the programs, one query at a time, as an application would call them
    fns = {k: pawc.function(p, threads=int(a.threads), progress=False) for k, p in progs.items()}
    # every program answers within its labels, and the router's labels are the groups
    for k, fn in fns.items():
        if len(fn.labels) < 2:
            sys.exit(f"intent_routing.py: {k} is not a closed-label program ({fn.labels})")
    assert set(fns["router"].labels) == set(groups), fns["router"].labels
    pp, fp = os.path.join(a.out, "pred-pipeline.jsonl"), os.path.join(a.out, "pred-flat77.jsonl")
    done_p, done_f = load_preds(pp), load_preds(fp)
    # A fine program compiled again (e.g. after a compiler fix): only the
    # rows the router sent to its group depend on it, so only those run again.
    for g in [g for g in a.rerun_fine.split(",") if g]:
        if "fine-" + g not in fns:
            sys.exit(f"intent_routing.py: --rerun-fine: no group {g}")
        rows = [r for r in done_p.values() if r["group"] == g]
        for r in rows:
            t0 = time.perf_counter()
            r["out"] = fns["fine-" + g](test[r["i"]]["text"])
            r["ms"] = r["ms_router"] + 1e3 * (time.perf_counter() - t0)
        print(f"rerun fine-{g}: {len(rows)} routed queries answered again", flush=True)
    if a.rerun_fine:
        with open(pp + ".tmp", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in done_p.values())
        os.replace(pp + ".tmp", pp)
    stopped = False
    with open(pp, "a") as fpp, open(fp, "a") as ffp:
        for i in order:
            if a.budget_s and time.time() - t_start > a.budget_s:
                stopped = True
                break
            q = test[i]["text"]
            if i not in done_p:
                t0 = time.perf_counter()
                g = fns["router"](q)
                t1 = time.perf_counter()
                out = fns["fine-" + g](q)
                t2 = time.perf_counter()
                r = {"i": i, "group": g, "out": out, "ms_router": 1e3 * (t1 - t0), "ms": 1e3 * (t2 - t0)}
                fpp.write(json.dumps(r) + "\n")
                fpp.flush()
                done_p[i] = r
            if i not in done_f:
                t0 = time.perf_counter()
                out = fns["flat77"](q)
                r = {"i": i, "out": out, "ms": 1e3 * (time.perf_counter() - t0)}
                ffp.write(json.dumps(r) + "\n")
                ffp.flush()
                done_f[i] = r
    for fn in fns.values():
        fn.close()

    # --- the prompted base model on the few-shot subsample, side by side
    few_items = sorted(few_set)
    few_json = os.path.join(a.out, "eval-few-shot.json")
    if not a.skip_fewshot and not stopped and not os.path.exists(few_json):
        suite = os.path.join(a.out, "suite-few-shot.jsonl")
        with open(suite, "w") as f:
            f.write(json.dumps({"id": "banking77", "category": "intent", "spec": FEW_SPEC,
                                "train": [{"input": e["text"], "output": e["label"]} for e in few],
                                "test": [{"input": test[i]["text"], "output": test[i]["label"]}
                                         for i in few_items]}) + "\n")
        cmd = [a.paw, "eval", suite, "--baseline", "few-shot", "-c", "4096", "-n", "16", "-t", a.threads,
               "--json", few_json + ".tmp"]
        with open(os.path.join(a.out, "eval-few-shot.log"), "w") as log:
            if subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT):
                sys.exit(f"intent_routing.py: {' '.join(cmd)} failed, see {log.name}")
        os.replace(few_json + ".tmp", few_json)

    # --- scores
    labels = sorted(by_label)
    res = {"n_test_total": len(test), "n_test_planned": len(order), "partial": stopped or len(done_p) < len(order),
           "setup": meta, "systems": {}}

    def score(done, name, extra=None):
        items = [i for i in order if i in done]
        if not items:
            return
        hits = sum(done[i]["out"] == test[i]["label"] for i in items)
        ms = sorted(done[i]["ms"] for i in items)
        s = {"n": len(items), "accuracy": hits / len(items), "not_a_label": sum(done[i]["out"] not in labels
                                                                                 for i in items),
             "ms_mean": sum(ms) / len(ms), "ms_p50": ms[len(ms) // 2], "ms_p95": ms[int(len(ms) * 0.95)]}
        if extra:
            s.update(extra(items))
        res["systems"][name] = s

    def pipe_extra(items):
        rout = [i for i in items if done_p[i]["group"] == group_of(test[i]["label"])]
        fine_hits = sum(done_p[i]["out"] == test[i]["label"] for i in rout)
        per_group = {}
        for g in groups:
            gi = [i for i in items if group_of(test[i]["label"]) == g]
            per_group[g] = {"n": len(gi), "routed": sum(done_p[i]["group"] == g for i in gi) / max(1, len(gi)),
                            "accuracy": sum(done_p[i]["out"] == test[i]["label"] for i in gi) / max(1, len(gi))}
        return {"router_accuracy": len(rout) / len(items),
                "fine_accuracy_when_routed_right": fine_hits / max(1, len(rout)),
                "ms_router_mean": sum(done_p[i]["ms_router"] for i in items) / len(items), "per_group": per_group}

    score(done_p, "pipeline", pipe_extra)
    score(done_f, "flat77")
    # the programs on exactly the few-shot subsample, for a like-for-like row
    sub = {i: done_p[i] for i in few_items if i in done_p}
    score(sub, "pipeline@fewshot-subsample")
    score({i: done_f[i] for i in few_items if i in done_f}, "flat77@fewshot-subsample")
    if os.path.exists(few_json):
        with open(few_json) as f:
            rs = json.load(f)["tasks"][0]["results"]
        score({i: {"out": (r.get("output") or "").strip(), "ms": r["ms"]} for i, r in zip(few_items, rs)},
              "few-shot")
    res["uptime"] = open("/proc/loadavg").read().split()[:3]
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(f"Banking77: {len(order)} test queries planned ({n_t} per intent), {len(ex)} training examples "
          f"({a.per_intent} per intent); load {' '.join(res['uptime'])}" + ("  [PARTIAL]" if res["partial"] else ""))
    for name, s in res["systems"].items():
        extra = ""
        if "router_accuracy" in s:
            extra = (f"  router {s['router_accuracy']:.3f}, fine|routed {s['fine_accuracy_when_routed_right']:.3f}")
        print(f"{name:28} n {s['n']:5}  accuracy {s['accuracy']:.3f}  not-a-label {s['not_a_label']:4}  "
              f"{s['ms_mean']:.0f} ms/query (p50 {s['ms_p50']:.0f}, p95 {s['ms_p95']:.0f}){extra}")
    for k, v in secs.items():
        print(f"compile {k}: {v:.1f} s")


if __name__ == "__main__":
    main()
