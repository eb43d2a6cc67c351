"""Beyond two nodes, live: `lab.up --nodes 4` boots four nodes, each with its own BMC, and the
arbiter. setup-cluster converges three of them into a cluster that keeps quorum by majority (no two_node, no arbiter, no race delay); a re-run changes nothing; a crash of the node
serving the VIP moves the service to one of the two others, the victim fenced at the first
attempt; a node cut off from the two others is fenced by them while they keep serving. Then,
under client load, the fourth node joins (with the arbiter, lms: four nodes are an even count)
and leaves again, and no request fails. Last, a node that died is replaced by a new machine of
the same name (bare disk, new host key): halb refuses its unknown key, then, with the old key
removed, makes it a member again under load.

The install step is not this module's subject (test_1_converge and test_9_releases install
on bare nodes, as does the replaced machine here): its cluster nodes
boot with the packages already installed (`lab.up --provisioned`), as from a site's golden
image, which halves the first setup."""

import os
import re
import time

import pytest

from fabfile.lab import control
from fabfile.lab import settings as s

from .conftest import (
    TIMINGS,
    Load,
    cluster_actions,
    crash_and_replace,
    crm_mon,
    drill,
    http_via_vip,
    inv,
    ipmi,
    node_report,
    nodes,
    quorum_of,
    run_in,
    settled,
    vip_holders,
    wait_for,
)

THREE = ("--config", "configs/lab-3nodes.yaml")
FOUR = ("--config", "configs/lab-4nodes.yaml")
NODES = {"node1", "node2", "node3"}


@pytest.fixture(scope="module")
def three_nodes():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (systemd-nspawn, bridge, mounts)")
    rc, out, _ = inv("lab.up", "--fresh", "--nodes", "4", "--release", s.DEFAULT_RELEASE,
                     "--provisioned", THREE[1])
    assert rc == 0, out
    assert "node4 192.168.56.15 (BMC 192.168.56.104:626)" in out, out
    rc, out, took = inv("setup-cluster", *THREE)
    assert rc == 0, out
    assert "apt-get" not in out, "the provisioned nodes have every package"
    TIMINGS["3 nodes: setup-cluster from provisioned nodes"] = f"{took:.1f}s"
    yield
    rc, out, _ = inv("lab.down")  # the next module boots the two-node lab again
    assert rc == 0, out


def all_online(expected):
    return lambda: (lambda m: m if m["online"] == expected else None)(crm_mon("node1"))


def test_three_nodes_converge_with_quorum_by_majority(three_nodes):
    status = wait_for(all_online(NODES), 120, "three nodes online")
    for node in sorted(NODES):
        device = status["resources"][f"{node}-fence"]
        assert device["active"] and len(device["nodes"]) == 1 and device["nodes"] != [node]
    assert "node4-fence" not in status["resources"]
    assert "two_node" not in run_in("node1", "cat", "/etc/corosync/corosync.conf").stdout
    flags = quorum_of("node1")
    assert "Quorate" in flags and "2Node" not in flags and "Qdevice" not in flags, flags
    assert "pcmk_delay_base" not in run_in("node1", "cibadmin", "--query").stdout
    assert http_via_vip()[0] == 200
    rc, out, _ = inv("status", *THREE)
    assert rc == 0, out


def test_a_rerun_on_three_nodes_changes_nothing(three_nodes):
    rc, out, took = inv("setup-cluster", *THREE)
    assert rc == 0 and "0 change(s) made" in out, out[-3000:]
    TIMINGS["3 nodes: setup-cluster on a converged cluster"] = f"{took:.1f}s"


def test_a_crash_of_the_serving_node_moves_the_service_to_another(three_nodes):
    report, _ = drill("--fault", "crash", "--rounds", "1", *THREE)
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


def powered_off_since(since):
    return {node for stamp, node, what in control.power_events()
            if stamp >= since and what in ("off", "crash")}


def cut(a, b, delete=False):
    """Drop the traffic between a and b, on a's side."""
    for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
        run_in(a, "iptables", "-D" if delete else "-I", chain, flag, nodes()[b].address,
               "-j", "DROP")


def test_a_node_cut_off_from_the_two_others_is_fenced_and_they_keep_serving(three_nodes):
    wait_for(all_online(NODES), 120, "three nodes online")
    (lonely,) = vip_holders()
    pair = sorted(NODES - {lonely})
    since = time.time()
    for other in pair:  # each side keeps its path to the BMCs
        cut(lonely, other)
        cut(other, lonely)
    wait_for(lambda: lonely in powered_off_since(since), 90, f"{lonely} fenced")
    wait_for(lambda: len(vip_holders()) == 1 and vip_holders()[0] in pair, 90, "the VIP moved")
    assert wait_for(lambda: http_via_vip()[0] == 200, 60, "HTTP through the VIP")
    settled(pair[0])
    assert powered_off_since(since) == {lonely}, "only the node without quorum is fenced"
    TIMINGS["3 nodes: one node cut off from two, to the service answering on the two"] = \
        f"{time.time() - since:.1f}s"
    # Back on while still cut off (its own rules went with the power): alone, without quorum,
    # it starts nothing and fences nobody.
    assert ipmi(lonely, "chassis", "power", "on").returncode == 0
    wait_for(lambda: run_in(lonely, "crm_mon", "-1").returncode == 0, 120, f"{lonely} booted")
    settled(lonely)
    assert re.search(r"Quorate:\s+No", quorum_of(lonely)), quorum_of(lonely)
    assert powered_off_since(since) == {lonely}
    for other in pair:
        cut(other, lonely, delete=True)
    wait_for(all_online(NODES), 240, f"{lonely} back online")
    assert len(vip_holders()) == 1


# Two clients, 50 requests a second each at most: a steady load that any failed request shows
# in, leaving the 2 cores to the nodes (back-to-back clients slowed the join down twofold).
STEADY = {"clients": 2, "pace": 0.02}


def test_a_fourth_node_joins_and_leaves_under_load_without_a_failed_request(three_nodes):
    wait_for(all_online(NODES), 240, "three nodes online")
    run_in("node1", "pcs", "resource", "cleanup")  # the split's fence left its history
    holder = vip_holders()
    with Load(**STEADY) as load:
        load.answers()
        rc, out, took = inv("setup-cluster", *FOUR)
        load.answers()
    assert rc == 0, out
    assert "pcs cluster node add node4" in out and "pcs quorum device add" in out, out
    assert load.failed == [] and load.ok > 20, (load.ok, load.failed[:5])
    assert vip_holders() == holder, "a node joining moves nothing"
    TIMINGS["4 nodes: node4 and the arbiter join under load"] = (
        f"{took:.1f}s; {load.ok} requests answered, {len(load.failed)} failed")
    status = wait_for(all_online(NODES | {"node4"}), 120, "four nodes online")
    assert status["failures"] == [], status["failures"]
    assert "Qdevice" in quorum_of("node4")
    rc, out, _ = inv("status", *FOUR)
    assert rc == 0, out
    rc, out, _ = inv("setup-cluster", *FOUR)
    assert rc == 0 and "0 change(s) made" in out, out[-3000:]

    with Load(**STEADY) as load:
        load.answers()
        rc, out, took = inv("setup-cluster", *THREE)
        load.answers()
    assert rc == 0, out
    assert "pcs cluster node remove node4" in out and "pcs stonith delete node4-fence" in out
    assert load.failed == [] and load.ok > 20, (load.ok, load.failed[:5])
    TIMINGS["3 nodes: node4 and the arbiter leave under load"] = (
        f"{took:.1f}s; {load.ok} requests answered, {len(load.failed)} failed")
    wait_for(all_online(NODES), 120, "three nodes online")
    assert "Qdevice" not in quorum_of("node1")
    rc, out, _ = inv("status", *THREE)
    assert rc == 0, out
    rc, out, _ = inv("setup-cluster", *THREE)
    assert rc == 0 and "0 change(s) made" in out, out[-3000:]



def test_a_dead_node_replaced_by_a_new_machine_of_its_name_joins_again(three_nodes):
    wait_for(all_online(NODES), 240, "three nodes online")
    run_in("node1", "pcs", "resource", "cleanup")
    (holder,) = vip_holders()
    victim = sorted(NODES - {holder})[-1]
    with Load(**STEADY) as load:
        load.answers()
        crash_and_replace(victim, holder, THREE)
        started = time.time()
        rc, out, took = inv("setup-cluster", *THREE)
        load.answers()
    assert rc == 0, out[-4000:] + "\n" + node_report(victim)
    assert f"pcs cluster node remove {victim}" in out and f"pcs cluster node add {victim}" in out
    assert load.failed == [] and load.ok > 20, (
        load.ok, load.failed[:5], cluster_actions(NODES, started))
    assert vip_holders() == [holder], "the service stays where it ran"
    TIMINGS[f"3 nodes: {victim} replaced by a new machine, converged under load"] = (
        f"{took:.1f}s; {load.ok} requests answered, {len(load.failed)} failed")
    status = wait_for(all_online(NODES), 120, "three nodes online")
    device = status["resources"][f"{victim}-fence"]
    assert device["active"] and device["nodes"] != [victim]
    rc, out, _ = inv("status", *THREE)
    assert rc == 0, out
    rc, out, _ = inv("setup-cluster", *THREE)
    assert rc == 0 and "0 change(s) made" in out, out[-3000:]
