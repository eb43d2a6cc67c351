"""Interrupted runs: `setup-cluster` cut off at random moments, and what the next run does.

Each round tears the lab's cluster down (packages stay), starts `inv setup-cluster` and, after
a random delay (seeded, so a run repeats), interrupts it in one of three ways: the controller
killed with SIGKILL, its SSH connections cut on every node (sshd's session processes killed),
or a node rebooted under it. Then `setup-cluster` runs once (it must converge: exit 0, no
manual step) and once more (it must change nothing), and `inv status` must exit 0. The report
names the step each interruption hit.
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

from . import control
from . import settings as s

STEP_LINE = re.compile(r"^== (\S+)", re.M)


def inv_run(*args, timeout=900):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=s.ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


WAYS = {
    "kill": "the controller killed (SIGKILL of its process group)",
    "cut": "every SSH connection cut on the nodes' side (sshd's session processes killed)",
    "reboot": "a node rebooted under the run (systemctl reboot)",
}


def interrupt(proc, how, victim):
    if how == "kill":
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    elif how == "cut":
        for machine in s.lab_machines():
            if control.power_state(machine) == "on":
                # The per-connection sshd processes ("sshd: root@notty", "sshd: root [priv]"),
                # not the listener.
                control.node_exec(machine, ["pkill", "-KILL", "-f", "^sshd: root[@ ]"])
    elif how == "reboot":
        control.node_exec(victim, ["systemctl", "reboot"])


def interrupted_run(config, after_s, how, victim):
    """setup-cluster, interrupted `how` after `after_s` seconds; unless killed, the run goes on
    to its own end (an error, or a retry that got through). Returns the step it was in when
    interrupted, whether it had ended before, and its exit status."""
    with tempfile.TemporaryFile("w+") as output:
        proc = subprocess.Popen([sys.executable, "-m", "invoke", "setup-cluster", "--config",
                                 config], cwd=s.ROOT, stdout=output, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        try:
            proc.wait(after_s)
            finished = True
        except subprocess.TimeoutExpired:
            finished = False
        output.seek(0)
        steps = STEP_LINE.findall(output.read())  # what it had done when interrupted
        if not finished:
            interrupt(proc, how, victim)
            try:
                proc.wait(900)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if how == "reboot":
        control.wait_for_ssh(victim, 180)
    return (steps[-1] if steps else "before the first step"), finished, proc.returncode


def one_round(number, config, after_s, how, victim, say):
    rc, out, _ = inv_run("teardown", "--yes", "--config", config)
    if rc != 0:
        raise RuntimeError(f"round {number}: teardown failed:\n{out[-2000:]}")
    step, finished, interrupted_exit = interrupted_run(config, after_s, how, victim)
    rc, out, took = inv_run("setup-cluster", "--config", config)
    changes = re.search(r"(\d+) change\(s\) made", out)
    again_rc, again, _ = inv_run("setup-cluster", "--config", config)
    status_rc, status, _ = inv_run("status", "--config", config)
    result = {
        "round": number, "how": how, "victim": victim.name if how == "reboot" else None,
        "after_s": round(after_s, 2), "step": step, "ended_before": finished,
        "interrupted_run_exit": interrupted_exit,
        "next_run_exit": rc, "next_run_changes": int(changes.group(1)) if changes else None,
        "next_run_s": round(took, 1),
        "took_over_the_lock": "run lock taken over" in out,
        "then_changes_nothing": again_rc == 0 and "0 change(s) made" in again,
        "status_exit": status_rc,
    }
    result["ok"] = rc == 0 and result["then_changes_nothing"] and status_rc == 0
    if not result["ok"]:
        result["output"] = (out if rc else again if again_rc else status)[-3000:]
    what = f"{how}{' ' + victim.name if how == 'reboot' else ''}"
    say(f"round {number:>3}: {what:<14} after {after_s:5.1f}s in {step:<15} next run: exit {rc}, "
        f"{result['next_run_changes']} change(s) in {took:.0f}s; then "
        f"{'0 changes' if result['then_changes_nothing'] else 'CHANGES'}; status exit {status_rc}")
    return result


def run(rounds, seed, config, longest_s, ways=tuple(WAYS), say=print):
    """`rounds` interruptions, each a way picked at random, at uniform random moments in
    [0.5, longest_s] seconds."""
    pick = random.Random(seed)
    nodes = s.lab_nodes()
    rc, out, took = inv_run("setup-cluster", "--config", config)
    if rc != 0:
        raise RuntimeError(f"the lab does not converge to begin with:\n{out[-2000:]}")
    results = []
    for number in range(1, rounds + 1):
        how, after_s, victim = pick.choice(ways), pick.uniform(0.5, longest_s), pick.choice(nodes)
        results.append(one_round(number, config, after_s, how, victim, say))
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "seed": seed,
            "rounds": rounds, "longest_s": longest_s, "config": config, "ways": list(ways),
            "by_way": {w: sum(r["how"] == w for r in results) for w in ways},
            "failed": sum(not r["ok"] for r in results), "results": results}


def write(report, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
