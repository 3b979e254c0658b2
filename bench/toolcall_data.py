"""The tool-calling study's fixed split of BFCL v4 and the training examples
of its two programs (see examples/tool-calling/README.md).

BFCL has no train split, so one is made by case id: a case whose numeric id
is a multiple of 5 is TRAIN (simple_python 0, 5, ..., 395; irrelevance 0, 5,
..., 235), every other case is TEST.  Only TRAIN cases feed the compiler;
bench/toolcall.py reports on TEST cases only.  ToolCall-15 is never used
for training.

The two programs' inputs are written by the endpoint (tools/server/toolcall.c)
in exactly the same shape:
  relevance:  "Request: <user text>\nFunction: <name>: <description>"  -> call | none
  argument:   "Request: <user text>\nParameter: <name> (<type>): <description>"
              -> the value as the request states it, or none

Run: python3 bench/toolcall_data.py ../shared/data/toolcall/bfcl-v4 examples/tool-calling
(writes train-relevance.jsonl and train-argument.jsonl; deterministic)."""
import json
import os
import sys


def case_no(case):
    return int(case["id"].rsplit("_", 1)[1])


def is_train(case):
    return case_no(case) % 5 == 0


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def relevance_input(user, fn):
    desc = " ".join((fn.get("description") or "").split())
    return f"Request: {user}\nFunction: {fn['name']}: {desc}"


def param_type(schema):
    t = schema.get("type", "string")
    if t == "array":
        it = (schema.get("items") or {}).get("type")
        return f"array of {it}" if it else "array"
    return t


def argument_input(user, name, schema):
    desc = " ".join((schema.get("description") or "").split())
    if schema.get("enum"):
        desc += " One of: " + ", ".join(str(v) for v in schema["enum"]) + "."
    return f"Request: {user}\nParameter: {name} ({param_type(schema)}): {desc}"


def value_text(v):
    """A ground-truth value as the argument program writes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ", ".join(value_text(x) for x in v)
    if isinstance(v, float) and v.is_integer():
        return str(v)
    return str(v)


def main(data, out):
    simple = load(os.path.join(data, "simple_python.jsonl"))
    irrel = load(os.path.join(data, "irrelevance.jsonl"))
    tr_s = [c for c in simple if is_train(c)]
    tr_i = [c for c in irrel if is_train(c)]
    # 24 matching pairs, 12 irrelevance pairs, 12 mismatched pairs (a request
    # beside the function of a train case never used as a matching pair, so
    # that no function is seen with both labels).  Order: blocks of
    # call none call none none call none call, so that the compiler's
    # validation split (every 4th example) holds both labels; with all of
    # one label it stops at once on a program that always answers it.
    pos, other = tr_s[0::2][:24], tr_s[1::2]
    neg = []
    for k, c in enumerate(pos):
        if k % 2 == 0:
            i = tr_i[k // 2 * 4 % len(tr_i)]
            neg.append({"input": relevance_input(i["user"], i["functions"][0]), "output": "none"})
        else:
            o = other[(k * 7) % len(other)]
            neg.append({"input": relevance_input(c["user"], o["functions"][0]), "output": "none"})
    pos = [{"input": relevance_input(c["user"], c["functions"][0]), "output": "call"} for c in pos]
    rel = []
    for b in range(6):
        p, n = pos[4 * b:4 * b + 4], neg[4 * b:4 * b + 4]
        rel += [p[0], n[0], p[1], n[1], n[2], p[2], n[3], p[3]]
    arg = []
    for c in tr_s:
        fn = c["functions"][0]
        gt = c["ground_truth"][0][fn["name"]]
        for name, schema in fn["parameters"]["properties"].items():
            if schema.get("type") in ("dict", "tuple", "any") or name not in gt:
                continue
            vals = gt[name]
            if "" in vals and len(vals) == 1 or (vals and vals[0] == ""):
                v = "none"
            else:
                v = value_text(vals[0])
            if len(v) > 60:
                continue
            arg.append({"input": argument_input(c["user"], name, schema), "output": v})
    # Keep the set small enough to compile in minutes: every third pair
    # (types stay mixed), the "none" ones all kept.
    arg = [a for k, a in enumerate(arg) if a["output"] == "none" or k % 3 == 0][:48]
    for name, rows in (("train-relevance.jsonl", rel), ("train-argument.jsonl", arg)):
        with open(os.path.join(out, name), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        print(name, len(rows))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
