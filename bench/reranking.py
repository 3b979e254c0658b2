#!/usr/bin/env python3
"""reranking.py — the reranking case study (examples/reranking/).

TREC DL 2019 passage (../shared/data/rerank/trec-dl19-passage): 43 real Bing
queries, each with its BM25 top-20 MS MARCO passages and NIST grades 0-3.
The data has no train split, so this splits by query: the first 8 queries of
candidates.jsonl give the training pairs (--per-grade per grade, judged passages only)
and are never scored; the other 35 queries are the test set (their passages
are never shown to the compiler).

One relevance program, compiled once (not per query), maps
"Query: ...\\nPassage: ..." to one of four named buckets (paw.md §4's lesson:
named buckets, not 1-10 scores): exact_match / highly_relevant /
somewhat_relevant / not_relevant -> 3 / 2 / 1 / 0.  Each test query's 20
candidates are re-ordered by that score (stable: ties keep BM25's order) and
scored by NDCG@10 (gain = grade, log2 discount, unjudged = 0, ideal from all
of the query's NIST judgments, as trec_eval computes it) against BM25's own
order.  The base model prompted few-shot (`paw eval --baseline few-shot`,
one example per bucket: 24 long examples would not fit its 2,048-token
context) is scored the same way; the two evals run one after the other
(paw's spinning thread pools slow each other several-fold side by side).

  bench/reranking.py OUTDIR [--paw ./paw] [--threads 2] [--queries N] [--per-grade K] [--steps N]
                     [--pieces N] [--run I,J,..] [--jobs program,few-shot,scores]

--queries N scores only the first N test queries (a subsample); --per-grade K
training pairs per grade (default 6: 24 pairs); --steps N caps the compile's
training steps (paw compile's default is 60); --reuse rescores an OUTDIR's
earlier measurements without running them again.  For a long measurement in
pieces: --pieces N splits the test queries into N consecutive pieces, --run
the pieces (0-based) this invocation evaluates, --jobs which systems
(program, few-shot, and scores: the program again through `paw run --scores`,
ranking by its expected grade, the sum of P(bucket) x grade).  Each
system is scored on the pieces it has run so far in OUTDIR; when the
few-shot baseline has run fewer pieces than the program, the program and
BM25 are scored again on exactly the few-shot's queries, in rows of their own.
"""
import argparse, collections, json, math, os, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from studylib import compile_once  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "rerank", "trec-dl19-passage")
BUCKETS = ["not_relevant", "somewhat_relevant", "highly_relevant", "exact_match"]  # grade = index
SPEC = ("Judge how well a passage answers a web search query. Answer with exactly one label: "
        "exact_match if the passage directly and completely answers the query, highly_relevant if "
        "it answers most of it, somewhat_relevant if it is on the topic but only partly answers it, "
        "not_relevant if it does not answer the query.")
N_TRAIN_QUERIES = 8


def fmt(query, passage):
    return f"Query: {query}\nPassage: {passage}"


def ndcg10(grades_in_order, all_grades):
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(grades_in_order[:10]))
    ideal = sorted(all_grades, reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--paw", default="./paw")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--queries", type=int, default=0)
    ap.add_argument("--per-grade", type=int, default=6)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--pieces", type=int, default=1)
    ap.add_argument("--run", default="")
    ap.add_argument("--jobs", default="program,few-shot,scores")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "programs"), exist_ok=True)
    with open(os.path.join(DATA, "candidates.jsonl"), encoding="utf-8") as f:
        cands = [json.loads(l) for l in f if l.strip()]
    qrels = collections.defaultdict(list)
    with open(os.path.join(DATA, "qrels.dl19-passage.full.trec")) as f:
        for line in f:
            qid, _, _, g = line.split()
            qrels[qid].append(int(g))

    train_q, test_q = cands[:N_TRAIN_QUERIES], cands[N_TRAIN_QUERIES:]
    if a.queries:
        test_q = test_q[:a.queries]
    # Training pairs: round-robin over the training queries, per grade.
    train = []
    for g in (3, 2, 1, 0):
        pool = [[c for c in q["candidates"] if c["grade"] == g] for q in train_q]
        taken, i = 0, 0
        while taken < a.per_grade and any(pool):
            p = pool[i % len(pool)]
            if p:
                c = p.pop(0)
                train.append({"input": fmt(train_q[i % len(pool)]["query"], c["text"]), "output": BUCKETS[g]})
                taken += 1
            i += 1
    # the compiler takes examples in order; interleave the grades
    train = [train[j * a.per_grade + i] for i in range(a.per_grade) for j in range(4)]
    few = [next(e for e in train if e["output"] == b) for b in reversed(BUCKETS)]
    with open(os.path.join(a.out, "train.jsonl"), "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in train)
    pieces = [test_q[len(test_q) * k // a.pieces:len(test_q) * (k + 1) // a.pieces] for k in range(a.pieces)]
    prog = os.path.join(a.out, "programs", "rerank.paw")
    secs = {"compile": compile_once(a, SPEC, prog)}
    # one eval per system and piece, one after the other
    run = [int(x) for x in a.run.split(",") if x] if a.run else list(range(a.pieces))
    for k in run:
        items = [{"input": fmt(q["query"], c["text"]),
                  "output": BUCKETS[c["grade"]] if c["grade"] is not None else "unjudged"}
                 for q in pieces[k] for c in q["candidates"]]
        for name, ex, mode in (("program", train, ["--programs", os.path.join(a.out, "programs")]),
                               ("few-shot", few, ["--baseline", "few-shot"])):
            done = os.path.join(a.out, f"eval-{name}-{k}of{a.pieces}.json")
            if name not in a.jobs.split(",") or (a.reuse and os.path.exists(done) and os.path.getsize(done)):
                continue  # --reuse: rescore what an earlier run measured
            suite = os.path.join(a.out, f"suite-{name}-{k}of{a.pieces}.jsonl")
            with open(suite, "w") as f:
                f.write(json.dumps({"id": "rerank", "category": "rerank", "spec": SPEC, "train": ex,
                                    "test": items}) + "\n")
            cmd = [a.paw, "eval", suite, *mode, "-n", "8", "-t", a.threads, "--json", done + ".tmp"]
            with open(os.path.join(a.out, f"eval-{name}-{k}of{a.pieces}.log"), "w") as log:
                if subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT):
                    sys.exit(f"reranking.py: {' '.join(cmd)} failed, see {log.name}")
            os.replace(done + ".tmp", done)
        # the same program, ranking by its expected grade sum(P(bucket) x grade)
        # from the closed-label probabilities (`paw run --scores`) instead of
        # by the argmax bucket: far fewer ties than four buckets give
        done = os.path.join(a.out, f"eval-scores-{k}of{a.pieces}.json")
        if "scores" in a.jobs.split(",") and not (a.reuse and os.path.exists(done)):
            stdin = "".join(json.dumps({"input": it["input"]}) + "\n" for it in items)
            with open(os.path.join(a.out, f"eval-scores-{k}of{a.pieces}.log"), "w") as log:
                r = subprocess.run([a.paw, "run", prog, "--jsonl", "--scores", "--no-install", "-n", "8",
                                    "-t", a.threads], input=stdin, capture_output=True, text=True)
                log.write(r.stderr)
            if r.returncode:
                sys.exit(f"reranking.py: paw run --scores failed, see {log.name}")
            rows = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
            assert len(rows) == len(items), (len(rows), len(items))
            with open(done, "w") as f:
                json.dump({"tasks": [{"results": rows}]}, f)
    # Each system is scored on every piece it has run; the few-shot baseline
    # may have run fewer (it is the slower, weaker one), so the program is
    # also scored on exactly the few-shot's pieces, in a row of its own.
    def ran(name):
        return [k for k in range(a.pieces) if os.path.exists(os.path.join(a.out, f"eval-{name}-{k}of{a.pieces}.json"))]

    def results_of(name, ks):
        rs = []
        for k in ks:
            with open(os.path.join(a.out, f"eval-{name}-{k}of{a.pieces}.json")) as f:
                rs += json.load(f)["tasks"][0]["results"]
        return rs

    if not ran("program"):
        print("the program has not run on any piece yet: no scores")
        return
    few_ks = [k for k in ran("few-shot") if k in ran("program")]
    runs = {"program": ran("program")}
    if ran("scores"):
        runs["program, expected grade"] = ran("scores")
    if few_ks:
        runs["few-shot"] = few_ks
        if few_ks != runs["program"]:
            runs["program@few-shot-queries"] = few_ks
    res = {"spec": SPEC, "n_train_pairs": len(train), "steps": a.steps, "train_queries": [q["qid"] for q in train_q],
           "n_test_queries": sum(len(pieces[k]) for k in runs["program"]), "seconds": secs, "systems": {}}

    def bm25_of(qs):
        return [ndcg10([c["grade"] or 0 for c in q["candidates"]], qrels[q["qid"]]) for q in qs]

    test_q = [q for k in runs["program"] for q in pieces[k]]
    oracle = [ndcg10(sorted([c["grade"] or 0 for c in q["candidates"]], reverse=True), qrels[q["qid"]])
              for q in test_q]
    res["systems"]["bm25"] = {"ndcg10": sum(bm25_of(test_q)) / len(test_q), "n_queries": len(test_q)}
    res["systems"]["oracle-top20"] = {"ndcg10": sum(oracle) / len(oracle), "n_queries": len(test_q)}
    if "program@few-shot-queries" in runs:
        few_q = [q for k in few_ks for q in pieces[k]]
        res["systems"]["bm25@few-shot-queries"] = {"ndcg10": sum(bm25_of(few_q)) / len(few_q),
                                                   "n_queries": len(few_q)}
    for name, ks in runs.items():
        results = results_of("scores" if name.startswith("program, expected") else name.split("@")[0], ks)
        test_q = [q for k in ks for q in pieces[k]]
        bm25 = bm25_of(test_q)
        k, scores, ms_q, hits, bad = 0, [], [], 0, collections.Counter()
        judged = 0
        for q in test_q:
            n = len(q["candidates"])
            rs = results[k:k + n]
            k += n
            score = []
            for c, r in zip(q["candidates"], rs):
                o = (r.get("output") or "").strip()
                if o not in BUCKETS:
                    bad[o[:40]] += 1
                if r.get("scores"):
                    score.append(sum(p * BUCKETS.index(b) for b, p in r["scores"].items()))
                else:
                    score.append(BUCKETS.index(o) if o in BUCKETS else 0)
                if c["grade"] is not None:
                    judged += 1
                    hits += o == BUCKETS[c["grade"]]
            order = sorted(range(n), key=lambda i: (-score[i], i))
            scores.append(ndcg10([q["candidates"][i]["grade"] or 0 for i in order], qrels[q["qid"]]))
            ms_q.append(sum(r["ms"] for r in rs))
        res["systems"][name] = {"ndcg10": sum(scores) / len(scores), "n_queries": len(test_q),
                                "better_than_bm25": sum(s > b + 1e-12 for s, b in zip(scores, bm25)),
                                "worse_than_bm25": sum(s < b - 1e-12 for s, b in zip(scores, bm25)),
                                "bucket_accuracy": hits / judged if judged else 0.0,
                                "ms_per_query": sum(ms_q) / len(ms_q),
                                "outputs_not_a_bucket": dict(bad.most_common(5)),
                                "predicted": dict(collections.Counter(
                                    (r.get("output") or "").strip() for r in results).most_common(6))}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(f"TREC DL19: {res['n_test_queries']} test queries x 20 BM25 candidates; {len(train)} training pairs "
          f"from {N_TRAIN_QUERIES} other queries")
    for name, s in res["systems"].items():
        extra = ""
        if "ms_per_query" in s:
            extra = (f"  better/worse than BM25 on {s['better_than_bm25']}/{s['worse_than_bm25']} queries, "
                     f"bucket accuracy {s['bucket_accuracy']:.3f}, {s['ms_per_query']:.0f} ms/query")
        print(f"{name:24} {s['n_queries']:3} queries  NDCG@10 {s['ndcg10']:.4f}{extra}")
    print(f"compile {secs['compile']:.1f} s" if secs["compile"] else "compile: reused")


if __name__ == "__main__":
    main()
