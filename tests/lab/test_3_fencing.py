"""Fencing is real: the active node is powered off through its virtual BMC, the service moves.
A node that died is replaced by a new machine of its name, which joins the pair again (a spare
from the site's golden image: a bare new machine is test_7_three_nodes's)."""

import time

from fabfile.lab import control

from .conftest import (
    GOLDEN_IMAGE,
    TIMINGS,
    Load,
    cluster_actions,
    crash_and_replace,
    crm_mon,
    http_via_vip,
    inv,
    ipmi,
    nodes,
    quorum_of,
    run_in,
    vip_holders,
    wait_for,
)

CONFIG = ("--config", "configs/lab.yaml")


def test_fencing_the_active_node_moves_the_service_and_it_comes_back(converged):
    active = vip_holders()[0]
    peer = "node2" if active == "node1" else "node1"
    assert "Chassis Power is on" in ipmi(active, "chassis", "power", "status").stdout
    since = time.time()

    run_in(peer, "pcs", "stonith", "fence", active, timeout=120)

    # The BMC really cut the power: the node's init is gone and IPMI says off.
    assert any(node == active and what == "off" and stamp >= since
               for stamp, node, what in control.power_events())
    assert control.power_state(nodes()[active]) == "off"
    assert "Chassis Power is off" in ipmi(active, "chassis", "power", "status").stdout

    wait_for(lambda: vip_holders() == [peer], 90, f"the VIP on {peer}")
    moved = time.time() - since
    status = wait_for(lambda: (lambda st: st if st["resources"]["haproxy"]["nodes"] == [peer]
                               else None)(crm_mon(peer)), 90, f"haproxy on {peer}")
    assert active not in status["online"]
    assert wait_for(lambda: http_via_vip()[0] == 200, 60, "HTTP through the VIP")
    history = run_in(peer, "pcs", "stonith", "history", "show", active).stdout
    assert "successful" in history
    TIMINGS["fence to VIP answering on the peer"] = f"{moved:.1f}s"

    # Powered on again through its BMC, the node boots and rejoins the cluster.
    assert ipmi(active, "chassis", "power", "on").returncode == 0
    back = time.time()
    wait_for(lambda: crm_mon(peer)["online"] == {"node1", "node2"}, 240, f"{active} back online")
    TIMINGS["power on to node back in the cluster"] = f"{time.time() - back:.1f}s"
    assert wait_for(lambda: http_via_vip()[0] == 200, 60, "HTTP through the VIP")
    assert len(vip_holders()) == 1


def test_enable_stonith_refuses_a_silent_fence_device_and_a_rerun_converges(converged):
    run_in("node1", "pcs", "property", "set", "stonith-enabled=false")
    # node2 checks node1's device (it would fence node1): give it a wrong BMC password.
    run_in("node2", "sh", "-c", "echo wrong-password > /etc/halb/fence/node1.password")
    try:
        rc, out, _ = inv("enable-stonith")
        assert rc == 1
        assert "refused" in out and "node1-fence" in out and "--force" in out
        assert "no answer" in out and "asking again" in out  # asked twice before refusing
        assert "Traceback" not in out
        props = run_in("node1", "crm_attribute", "--type", "crm_config", "--name",
                       "stonith-enabled", "--query").stdout
        assert "value=false" in props
    finally:
        rc, out, _ = inv("setup-cluster", "--from", "fence")
    assert rc == 0, out
    assert "[node2] BMC password of node1, root-only" in out  # the fence step repaired it
    props = run_in("node1", "crm_attribute", "--type", "crm_config", "--name",
                   "stonith-enabled", "--query").stdout
    assert "value=true" in props


def test_a_dead_node_replaced_by_a_new_machine_joins_the_pair_again(converged):
    """Two nodes and the arbiter: the quorum device stays through the change, its vote keeping
    the survivor quorate alone (pcs never sets two_node beside a device)."""
    wait_for(lambda: crm_mon("node1")["online"] == {"node1", "node2"}, 240, "both nodes online")
    run_in("node1", "pcs", "resource", "cleanup")
    (holder,) = vip_holders()
    victim = "node2" if holder == "node1" else "node1"
    with Load(clients=2, pace=0.02) as load:
        load.answers()
        crash_and_replace(victim, holder, CONFIG, golden_image=GOLDEN_IMAGE)
        started = time.time()
        rc, out, took = inv("setup-cluster", *CONFIG)
        load.answers()
    assert rc == 0, out[-4000:]
    assert f"pcs cluster node remove {victim}" in out and f"pcs cluster node add {victim}" in out
    # The device's vote keeps the survivor quorate alone: it stays through the change.
    assert "pcs quorum device" not in out, out[-4000:]
    assert load.failed == [] and load.ok > 20, (
        load.ok, load.failed[:5], cluster_actions({"node1", "node2"}, started))
    assert vip_holders() == [holder], "the service stays where it ran"
    TIMINGS[f"{victim} replaced by a new machine, converged under load"] = (
        f"{took:.1f}s; {load.ok} requests answered, {len(load.failed)} failed")
    wait_for(lambda: crm_mon(holder)["online"] == {"node1", "node2"}, 120, "both nodes online")
    assert "Qdevice" in quorum_of(holder)
    rc, out, _ = inv("status", *CONFIG)
    assert rc == 0, out
    rc, out, _ = inv("setup-cluster", *CONFIG)
    assert rc == 0 and "0 change(s) made" in out, out[-3000:]
