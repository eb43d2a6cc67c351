"""Interrupted runs: `setup-cluster` killed at random moments, and what the next run does.

Each round tears the lab's cluster down (packages stay), starts `inv setup-cluster`, kills the
controller with SIGKILL after a random delay (seeded, so a run repeats), then runs
`setup-cluster` once (it must converge: exit 0, no manual step) and once more (it must change
nothing), and asks `inv status` (exit 0). The report names the step each kill hit.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from . import settings as s

STEP_LINE = re.compile(r"^== (\S+)", re.M)


def _inv(*args, timeout=900):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=s.ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def killed_run(config, after_s):
    """setup-cluster, SIGKILLed after `after_s` seconds (its whole process group: the controller
    and nothing else of it survives). Returns the step it was in and whether it ended first."""
    with tempfile.TemporaryFile("w+") as output:
        proc = subprocess.Popen([sys.executable, "-m", "invoke", "setup-cluster", "--config",
                                 config], cwd=s.ROOT, stdout=output, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        try:
            proc.wait(after_s)
            finished = True
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            finished = False
        output.seek(0)
        steps = STEP_LINE.findall(output.read())
    return (steps[-1] if steps else "before the first step"), finished


def one_round(number, config, after_s, say):
    rc, out, _ = _inv("teardown", "--yes", "--config", config)
    if rc != 0:
        raise RuntimeError(f"round {number}: teardown failed:\n{out[-2000:]}")
    step, finished = killed_run(config, after_s)
    rc, out, took = _inv("setup-cluster", "--config", config)
    changes = re.search(r"(\d+) change\(s\) made", out)
    again_rc, again, _ = _inv("setup-cluster", "--config", config)
    status_rc, status, _ = _inv("status", "--config", config)
    result = {
        "round": number, "killed_after_s": round(after_s, 2), "step": step,
        "ended_before_the_kill": finished,
        "next_run_exit": rc, "next_run_changes": int(changes.group(1)) if changes else None,
        "next_run_s": round(took, 1),
        "took_over_the_lock": "run lock taken over" in out,
        "then_changes_nothing": again_rc == 0 and "0 change(s) made" in again,
        "status_exit": status_rc,
    }
    result["ok"] = rc == 0 and result["then_changes_nothing"] and status_rc == 0
    if not result["ok"]:
        result["output"] = (out if rc else again if again_rc else status)[-3000:]
    say(f"round {number:>3}: killed after {after_s:5.1f}s in {step:<15} next run: exit {rc}, "
        f"{result['next_run_changes']} change(s) in {took:.0f}s; then "
        f"{'0 changes' if result['then_changes_nothing'] else 'CHANGES'}; status exit {status_rc}")
    return result


def run(rounds, seed, config, longest_s, say=print):
    """`rounds` kills at uniform random moments in [0.5, longest_s] seconds."""
    pick = random.Random(seed)
    rc, out, took = _inv("setup-cluster", "--config", config)
    if rc != 0:
        raise RuntimeError(f"the lab does not converge to begin with:\n{out[-2000:]}")
    results = [one_round(n, config, pick.uniform(0.5, longest_s), say)
               for n in range(1, rounds + 1)]
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "seed": seed,
            "rounds": rounds, "longest_s": longest_s, "config": config,
            "failed": sum(not r["ok"] for r in results), "results": results}


def write(report, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
