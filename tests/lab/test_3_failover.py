"""Unplanned failures, measured by `inv drill` as a user runs it and checked from outside:
the service comes back on the other node, the VIP is never up on both, the victim is fenced at
the first attempt and rejoins once powered on. These assert behaviour; the figures are printed.
"""

import json
import re
import threading
import time

import pytest

from fabfile.lab import control

from .conftest import TIMINGS, crm_mon, http_via_vip, inv, run_in, vip_holders, wait_for


class VipWatch:
    """Samples which nodes hold the VIP (from inside each node) while a drill runs."""

    def __init__(self):
        self.samples, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.wait(0.2):
            try:
                self.samples.append(tuple(vip_holders()))
            except Exception:  # a node powering off mid-sample: skip that sample
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def fencer_failures(node_name, since):
    log = run_in(node_name, "journalctl", "--since", f"@{int(since)}", "--no-pager", "-o", "cat",
                 "-t", "pacemaker-fenced", check=False).stdout
    return [line for line in log.splitlines()
            if re.search(r"failed|error|Timer expired", line, re.I)
            and "targeting" in line]


def drill(*args):
    rc, out, took = inv("drill", "--json", *args, timeout=900)
    assert rc == 0, out
    report = json.loads(out[out.index("{"):])
    return report, took


@pytest.mark.parametrize("fault,victim", [("crash", "active"), ("crash", "standby"),
                                          ("freeze", "active")])
def test_an_unplanned_failure_is_fenced_once_and_the_service_survives(converged, fault, victim):
    wait_for(lambda: crm_mon("node1")["online"] == {"node1", "node2"}, 240, "both nodes online")
    active = wait_for(lambda: (vip_holders() or [None])[0], 60, "a VIP holder")
    target = active if victim == "active" else ("node2" if active == "node1" else "node1")
    survivor = "node2" if target == "node1" else "node1"
    since = time.time()
    with VipWatch() as watch:
        report, took = drill("--fault", fault, "--victim", target, "--rounds", "1")
    (round_,) = report["rounds"]
    assert round_["victim"] == target and round_["error"] is None
    # The service ends on the survivor; a standby victim never had it.
    assert round_["vip_after"] == survivor if victim == "active" else round_["vip_after"] == active
    assert round_["fenced"], "the victim was not fenced"
    assert round_["fence_first_attempt"] is True, round_["fenced"]
    assert fencer_failures(survivor, since) == []
    # The victim really lost its power (a frozen node only through fencing) ...
    assert any(node == target and what in ("off", "crash") and stamp >= since
               for stamp, node, what in control.power_events())
    # ... and the drill powered it on again: it rejoined, with the VIP on exactly one node.
    assert crm_mon(survivor)["online"] == {"node1", "node2"}
    assert watch.samples and all(len(holders) <= 1 for holders in watch.samples)
    assert http_via_vip()[0] == 200
    TIMINGS[f"{fault} of the {victim} node: client-visible outage (drill)"] = \
        f"{round_['outage_s']:.2f}s, {round_['failed']} failed requests"


def test_a_planned_switchover_loses_at_most_a_second(converged):
    report, _ = drill("--fault", "standby", "--rounds", "1")
    (round_,) = report["rounds"]
    assert round_["vip_after"] != round_["vip_before"]
    assert round_["outage_s"] <= 1.0, round_
    assert round_["fenced"] == []
    TIMINGS["standby of the active node: client-visible outage (drill)"] = \
        f"{round_['outage_s']:.2f}s, {round_['failed']} failed requests"
