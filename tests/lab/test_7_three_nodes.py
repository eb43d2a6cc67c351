"""Three nodes, live: `lab.up --nodes 3` boots three nodes, each with its own BMC and no
arbiter; setup-cluster converges them from bare into a cluster that keeps quorum by majority
(no two_node, no race delay), a re-run changes nothing, and a crash of the node serving the VIP
moves the service to one of the two others, with the victim fenced at the first attempt."""

import os

import pytest

from fabfile.lab import settings as s

from .conftest import TIMINGS, crm_mon, drill, http_via_vip, inv, quorum_of, run_in, wait_for

CONFIG = ("--config", "configs/lab-3nodes.yaml")
NODES = {"node1", "node2", "node3"}


@pytest.fixture(scope="module")
def three_nodes():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (systemd-nspawn, bridge, mounts)")
    rc, out, _ = inv("lab.up", "--fresh", "--nodes", "3", "--release", s.DEFAULT_RELEASE)
    assert rc == 0, out
    assert "node3 192.168.56.14 (BMC 192.168.56.103:625)" in out and "arbiter" not in out, out
    rc, out, took = inv("setup-cluster", *CONFIG)
    assert rc == 0, out
    TIMINGS["3 nodes: setup-cluster from bare nodes"] = f"{took:.1f}s"
    yield
    rc, out, _ = inv("lab.down")  # the next module boots the two-node lab again
    assert rc == 0, out


def test_three_nodes_converge_with_quorum_by_majority(three_nodes):
    status = wait_for(lambda: (lambda m: m if m["online"] == NODES else None)(crm_mon("node1")),
                      120, "three nodes online")
    for node in sorted(NODES):
        device = status["resources"][f"{node}-fence"]
        assert device["active"] and len(device["nodes"]) == 1 and device["nodes"] != [node]
    assert "two_node" not in run_in("node1", "cat", "/etc/corosync/corosync.conf").stdout
    flags = quorum_of("node1")
    assert "Quorate" in flags and "2Node" not in flags and "Qdevice" not in flags, flags
    assert "pcmk_delay_base" not in run_in("node1", "cibadmin", "--query").stdout
    assert http_via_vip()[0] == 200
    rc, out, _ = inv("status", *CONFIG)
    assert rc == 0, out


def test_a_rerun_on_three_nodes_changes_nothing(three_nodes):
    rc, out, took = inv("setup-cluster", *CONFIG)
    assert rc == 0 and "0 change(s) made" in out, out[-3000:]
    TIMINGS["3 nodes: setup-cluster on a converged cluster"] = f"{took:.1f}s"


def test_a_crash_of_the_serving_node_moves_the_service_to_another(three_nodes):
    report, _ = drill("--fault", "crash", "--rounds", "1", *CONFIG)
    (round_,) = report["rounds"]
    assert round_["error"] is None, round_
    victim, after = round_["vip_before"], round_["vip_after"]
    assert after in NODES - {victim}, round_
    assert round_["fenced"] and round_["fence_first_attempt"] is True, round_["fenced"]
    assert crm_mon(after)["online"] == NODES
    assert http_via_vip()[0] == 200
    TIMINGS["3 nodes: crash of the active node: outage (drill)"] = (
        f"{round_['outage_s']:.2f}s, {round_['failed']} failed requests, back in "
        f"{round_['recovered_s']:.1f}s")
