"""The failover benchmark: `inv drill` in the lab for each failover variant, side by side.

A variant is the lab config with another failover profile, with or without the quorum arbiter,
or the lab of three nodes (majority quorum, no arbiter), for which the lab boots three nodes and
then goes back to two. Each is converged on the running lab by the runbook itself (the profile change goes through the
same maintenance window a user's would), then drilled: crashes of the active node (the VIP
alternates, so each node is the victim in turn), freezes of it, and planned switchovers.
Results: JSON with every round, and a Markdown table.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import settings as s

VARIANTS = {
    "fast+arbiter": {"profile": "fast", "arbiter": True},
    "fast": {"profile": "fast", "arbiter": False},
    "conservative+arbiter": {"profile": "conservative", "arbiter": True},
    "conservative": {"profile": "conservative", "arbiter": False},
    "3-nodes-fast": {"profile": "fast", "arbiter": False, "nodes": 3},
}
# fault -> how many rounds per requested round count (crash alternates between the nodes)
FAULTS = {"crash": 2, "freeze": 1, "standby": 1}


def variant_config(name, directory):
    """The lab config turned into one variant, written next to the results."""
    spec = VARIANTS[name]

    def change(data):
        data["failover"] = {"profile": spec["profile"]}
        if not spec["arbiter"]:
            data.get("quorum", {}).pop("device", None)
    file_name = "lab-" + "".join(c if c.isalnum() else "-" for c in name).replace("--", "-")
    return s.config_variant(change, Path(directory) / f"{file_name}.yaml",
                            base=s.config_for(spec.get("nodes", 2)))


def _lab_of(nodes, say):
    """The lab booted with `nodes` nodes (fresh when it had another number)."""
    if s.lab_config() != s.config_for(nodes):
        _inv("lab.up", "--nodes", str(nodes), say=say)


def _inv(*args, say):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=s.ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"inv {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    say(f"   inv {' '.join(args[:3])} ... {time.monotonic() - started:.0f}s")
    return proc.stdout


def run(variants, out_dir, say=print):
    """variants: [(name, rounds)]."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    report = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "commit": commit(),
              "machine": machine(), "variants": {}}
    stamp = started.strftime("%Y%m%d-%H%M")
    for name, rounds in variants:
        say(f"bench: {name}, {rounds} round(s) per fault and victim")
        config = variant_config(name, out_dir)
        _lab_of(VARIANTS[name].get("nodes", 2), say)
        _inv("setup-cluster", "--config", str(config), say=say)
        results = {}
        for fault, factor in FAULTS.items():
            # Each drill's rounds drawn as timelines, linked from the table.
            picture = f"failover-{stamp}-{name.replace('+', '-')}-{fault}.svg"
            text = _inv("drill", "--config", str(config), "--fault", fault, "--rounds",
                        str(rounds * factor), "--json", "--plot", str(out_dir / picture),
                        say=say)
            results[fault] = {**json.loads(text[text.index("{"):]), "plot": picture}
        report["variants"][name] = results
    _lab_of(2, say)
    _inv("setup-cluster", "--config", str(s.LAB_CONFIG), say=say)  # back to the lab's own
    (out_dir / f"failover-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out_dir / f"failover-{stamp}.md").write_text(table + "\n")
    return table


def commit():
    """The checkout's commit, marked when files differ from it: a figure says what it measured."""
    def git(*argv):
        return subprocess.run(["git", *argv], cwd=s.ROOT, capture_output=True, text=True)
    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + (" with local changes" if changed else "")


def machine():
    cores = len([line for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("processor")])
    return f"{platform.node() or 'host'}: {cores} cores, Linux {platform.release()}"


def markdown(report):
    lines = [f"Failover drill, {report['date']}, commit {report.get('commit', 'unknown')}, "
             f"{report['machine']}; "
             f"outage as seen by a client of the VIP (HTTP GET every 100 ms).", "",
             "| variant | fault | victim | rounds | median | p95 | max | failed requests "
             "| fenced at first attempt | timelines |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, results in report["variants"].items():
        for fault, result in results.items():
            for row in result["summary"]:
                lines.append(f"| {name} | {fault} | {row['victim']} | {row['rounds']} | "
                             f"{row['median_s']:.2f} s | {row['p95_s']:.2f} s | "
                             f"{row['max_s']:.2f} s | {row['failed_requests']} | "
                             + ("-" if fault == "standby" else
                                "yes" if row["fence_first_attempt"] else "**no**") + " | "
                             + (f"[svg]({result['plot']})" if result.get("plot") else "-")
                             + " |")
    return "\n".join(lines)
