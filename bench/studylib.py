"""What the case-study benches (log_monitoring.py, reranking.py) share:
running a paw command with its output in a log, and compiling a study's
program once per output folder."""
import os
import subprocess
import sys
import time


def run(cmd, log):
    """Runs cmd with stdout+stderr into log; exits naming the log when it
    fails.  Returns the seconds it took."""
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if rc:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {' '.join(cmd)} failed (exit {rc}), see {log}")
    return time.time() - t0


def compile_once(a, spec, prog):
    """Compiles spec + a.out/train.jsonl into prog (a.paw, a.steps, a.threads);
    a prog already there from an earlier run on the same a.out is reused (the
    compile is deterministic, and slow on a busy machine).  Returns the
    compile's seconds (None if reused)."""
    if os.path.exists(prog):
        print(f"reusing {prog} (delete it to compile again)")
        return None
    tmp = prog + ".tmp.paw"
    steps = ["--steps", str(a.steps)] if a.steps else []
    s = run([a.paw, "compile", spec, "--examples", os.path.join(a.out, "train.jsonl"), "--no-teacher",
             *steps, "-t", a.threads, "-o", tmp], os.path.join(a.out, "compile.log"))
    os.replace(tmp, prog)
    return s
