"""Unplanned failures, measured by `inv drill` as a user runs it and checked from outside:
the service comes back on the other node, the VIP is never up on both, the victim is fenced at
the first attempt and rejoins once powered on. These assert behaviour; the figures are printed.
"""

import re
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest

from fabfile.lab import bench, control, monitoring

from .conftest import (
    TIMINGS,
    alerts_received,
    crm_mon,
    drill,
    fencing_alert,
    http_via_vip,
    inv,
    ipmi,
    nodes,
    power_events_since,
    quorum_of,
    run_in,
    settled,
    vip_holders,
    wait_for,
)


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
    # The alerts heard it: the webhook's POST reached labd's receiver with the lab's token, and
    # Pacemaker's sample file agent logged it on the survivor.
    alert = wait_for(lambda: fencing_alert(target, since), 30, f"the webhook's fencing alert for {target}")
    assert alert["authorized"] and alert["path"] == "/pacemaker", alert
    assert all(post["authorized"] for post in alerts_received(since)
               if post["path"] == "/pacemaker")
    event = alert["event"]
    assert event["cluster"] == "halb-lab" and event["sent_by"] == survivor
    fenced_at = int(event["timestamp_epoch"]) + int(event["timestamp_usec"]) / 1e6
    delivery = alert["received"] - fenced_at
    assert 0 <= delivery < 10, delivery  # within the alert's timeout
    logged = run_in(survivor, "cat", "/var/log/pacemaker/halb-alerts.log").stdout
    assert any("Fencing" in line and target in line for line in logged.splitlines()), logged[-500:]
    TIMINGS[f"{fault} of the {victim} node: webhook fencing alert after the fence"] = \
        f"{delivery:.2f}s"
    # The alertmanager alert put it in the lab's Alertmanager, as PacemakerFencing.
    fenced = wait_for(lambda: [a for a in monitoring.alerts()
                               if a["labels"].get("alertname") == "PacemakerFencing"
                               and a["labels"].get("node") == target
                               # an alert of the same labels (an earlier fence) is updated
                               and datetime.fromisoformat(a["updatedAt"]).timestamp() >= since],
                      30,
                      f"Alertmanager's PacemakerFencing alert for {target}")
    assert fenced[0]["labels"]["cluster"] == "halb-lab" and fenced[0]["status"]["state"] == "active"
    relayed = [post for post in alerts_received(since) if post["path"] == "/api/v2/alerts"
               and post["event"][0]["labels"]["alertname"] == "PacemakerFencing"]
    assert relayed and relayed[0]["status"] == 200, relayed  # Alertmanager took it
    TIMINGS[f"{fault} of the {victim} node: PacemakerFencing taken by Alertmanager after the "
            "fence"] = f"{relayed[0]['received'] - fenced_at:.2f}s"


def test_a_planned_switchover_moves_the_service_and_fences_nobody(converged):
    since = time.time()
    report, _ = drill("--fault", "standby", "--rounds", "1")
    (round_,) = report["rounds"]
    assert round_["vip_after"] != round_["vip_before"]
    assert round_["fenced"] == [] and power_events_since(since) == []
    assert crm_mon("node1")["online"] == {"node1", "node2"}  # out of standby again
    assert http_via_vip()[0] == 200
    TIMINGS["standby of the active node: client-visible outage (drill)"] = \
        f"{round_['outage_s']:.2f}s, {round_['failed']} failed requests"




@pytest.fixture(scope="module", params=["arbiter", "race delay"])
def quorum_variant(request, converged, tmp_path_factory):
    """The lab's own config (qnetd settles a split), or the same cluster changed on the fly to
    the conservative profile without arbiter (a race delay on node1's device settles it).
    Changing over and back runs through the runbook on the live cluster: it must fence nobody."""
    if request.param == "arbiter":
        yield {"config": "configs/lab.yaml", "delay_s": 0, "name": "fast, arbiter"}
        return
    config = bench.variant_config("conservative", tmp_path_factory.mktemp("variant"))
    holder = vip_holders()
    since = time.time()
    rc, out, took = inv("setup-cluster", "--config", str(config))
    assert rc == 0, out
    assert "pcs quorum device remove" in out and "totem" in out
    assert power_events_since(since) == [] and vip_holders() == holder
    assert "2Node" in quorum_of("node1")
    assert run_in("node1", "corosync-cmapctl", "-g", "runtime.config.totem.token").stdout.strip() \
        .endswith("= 3000")
    TIMINGS["fast+arbiter -> conservative on the live cluster (no fence)"] = f"{took:.1f}s"
    yield {"config": str(config), "delay_s": 10, "name": "conservative, race delay"}
    wait_for(lambda: crm_mon("node1")["online"] == {"node1", "node2"}, 240, "both nodes online")
    since = time.time()
    rc, out, took = inv("setup-cluster")
    assert rc == 0, out
    assert power_events_since(since) == []
    assert run_in("node2", "corosync-cmapctl", "-g", "runtime.config.totem.token").stdout.strip() \
        .endswith("= 500")
    assert "Qdevice" in quorum_of("node1")
    TIMINGS["conservative -> fast+arbiter on the live cluster (no fence)"] = f"{took:.1f}s"


def test_a_crash_of_the_active_node_fails_over_in_either_variant(quorum_variant, tmp_path):
    picture = tmp_path / "crash.svg"
    report, _ = drill("--config", quorum_variant["config"], "--fault", "crash", "--rounds", "1",
                      "--plot", str(picture))
    (round_,) = report["rounds"]
    assert round_["vip_after"] not in (None, round_["victim"])
    assert round_["fence_first_attempt"] is True, round_["fenced"]
    # The moments come from the nodes' journals and the probes, in the order a crash has them.
    moments = round_["moments"]
    assert 0 <= moments["first failed request"] < moments["fenced"] < moments["VIP started"] \
        < moments["answered again"] < 30, moments
    svg = picture.read_text()
    assert f"crash of {round_['victim']}" in svg and "VIP started" in svg and "fenced" in svg
    TIMINGS[f"crash of the active node ({quorum_variant['name']}): outage (drill)"] = \
        f"{round_['outage_s']:.2f}s"


def test_a_network_split_leaves_exactly_one_node_the_right_one(quorum_variant):
    """Both nodes lose each other at once. With the arbiter, the side that runs the service
    passes halb's qdevice heuristics and keeps quorum, even against qnetd's tie-breaker (node1,
    the preferred node): the service runs on node2 here. Without the arbiter, both race to fence
    and the delay on node1's device lets node1 win."""
    wait_for(lambda: crm_mon("node1")["online"] == {"node1", "node2"}, 120, "both nodes online")
    if quorum_variant["delay_s"]:
        winner, loser = "node1", "node2"
    else:
        winner, loser = "node2", "node1"
        if vip_holders() != [winner]:  # a planned move; stickiness keeps the group there
            for task in ("standby", "unstandby"):
                rc, out, _ = inv(task, loser, "--config", quorum_variant["config"])
                assert rc == 0, out
        assert vip_holders() == [winner]
    since = time.time()
    # Cut only the traffic between the nodes: each keeps its path to the BMCs and the arbiter.
    for name, peer in ((winner, nodes()[loser].address), (loser, nodes()[winner].address)):
        run_in(name, "iptables", "-I", "INPUT", "-s", peer, "-j", "DROP")
        run_in(name, "iptables", "-I", "OUTPUT", "-d", peer, "-j", "DROP")

    def powered_off(name):
        return any(node == name and what == "off" and stamp >= since
                   for stamp, node, what in control.power_events())

    wait_for(lambda: powered_off(loser), 90, f"{loser} fenced")
    wait_for(lambda: vip_holders() == [winner], 90, f"the VIP on {winner}")
    assert wait_for(lambda: http_via_vip()[0] == 200, 60, "HTTP through the VIP")
    settled(winner)  # the winner's transition is over: any fence it ordered has been done
    # The loser died with its own attempt, whatever delay it had: the winner was never cut.
    assert not powered_off(winner)
    assert control.power_state(nodes()[winner]) == "on"
    off_at = max(t for t, n, w in control.power_events() if n == loser and w == "off")
    TIMINGS[f"split ({quorum_variant['name']}) to the loser powered off"] = f"{off_at - since:.1f}s"

    # Powered on while still cut off, the loser boots without quorum (two_node's wait_for_all,
    # or qnetd siding with the winner): it starts nothing and fences nobody.
    assert ipmi(loser, "chassis", "power", "on").returncode == 0
    wait_for(lambda: run_in(loser, "crm_mon", "-1").returncode == 0, 120, f"{loser} booted")
    settled(loser)  # alone and without quorum, it has decided: start nothing, fence nobody
    assert re.search(r"Quorate:\s+No", quorum_of(loser)), quorum_of(loser)
    assert "No active resources" in run_in(loser, "crm_mon", "-1").stdout
    assert control.power_state(nodes()[winner]) == "on" and not powered_off(winner)
    assert vip_holders() == [winner]

    # The network heals (the winner drops its rules; the loser never saved its own): it rejoins.
    for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
        run_in(winner, "iptables", "-D", chain, flag, nodes()[loser].address, "-j", "DROP")
    try:
        wait_for(lambda: crm_mon(winner)["online"] == {"node1", "node2"}, 120, f"{loser} back")
    except AssertionError:
        # Seen in 1 of 5 make test runs on Pacemaker 2.1.5: the loser is a member again
        # (corosync, controller, join "member") but its node state still says expected "down",
        # as its fencing left it, and Pacemaker counts such a node as pending: it runs nothing,
        # for good. halb must say so; the operator's remedy is a restart of its cluster stack.
        state = node_state(winner, loser)
        assert (state.get("join"), state.get("expected")) == ("member", "down"), state
        rc, out, _ = inv("status", "--config", quorum_variant["config"])
        assert rc != 0 and f"{loser} JOINING (pending" in out, out
        TIMINGS[f"split ({quorum_variant['name']}): {loser} left pending (joined, expected "
                "down), rejoined after a restart of its pacemaker"] = "seen"
        run_in(loser, "systemctl", "restart", "pacemaker", timeout=120)
    wait_for(lambda: crm_mon(winner)["online"] == {"node1", "node2"}, 240, f"{loser} back online")
    assert len(vip_holders()) == 1


def node_state(seen_from, node):
    """The attributes of `node`'s node_state in the CIB, as `seen_from` holds it."""
    out = run_in(seen_from, "cibadmin", "--query", "--xpath",
                 f"//node_state[@uname='{node}']").stdout
    return ET.fromstring(out).attrib
