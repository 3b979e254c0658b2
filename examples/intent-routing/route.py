#!/usr/bin/env python3
"""route.py — a two-stage intent router on paw programs, as an application
would run it: a coarse router program picks a group, that group's fine
program picks the intent.  Every program is closed-label, so each answer is
one of its labels, never free text.

  examples/intent-routing/route.py PROGRAMS_DIR [QUERY ...]

PROGRAMS_DIR holds router.paw and one fine-GROUP.paw per group (the router's
labels), as bench/intent_routing.py compiles them.  Queries come from the
arguments, else one per line on stdin; each answer is printed as
"group<TAB>intent<TAB>ms"."""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
os.environ.setdefault("PAWC_LIB", os.path.join(ROOT, "build", "libpaw.so"))
import pawc  # noqa: E402


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: route.py PROGRAMS_DIR [QUERY ...]")
    d = sys.argv[1]
    router = pawc.function(os.path.join(d, "router.paw"), progress=False)
    fine = {}
    queries = sys.argv[2:] or (l.rstrip("\n") for l in sys.stdin)
    for q in queries:
        if not q.strip():
            continue
        t0 = time.perf_counter()
        group = router(q)
        if group not in fine:   # opened on first use: a handle each, one shared base model
            fine[group] = pawc.function(os.path.join(d, f"fine-{group}.paw"), progress=False)
        intent = fine[group](q)
        print(f"{group}\t{intent}\t{1e3 * (time.perf_counter() - t0):.0f}", flush=True)


if __name__ == "__main__":
    main()
