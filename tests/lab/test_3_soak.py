"""A short soak (`inv lab.soak`, fixed seed): random faults one after another under load, with
the split-brain invariants watched from the host throughout. First the watch itself is shown to
see what it must: the serving node's ARP answer and HAProxy, and a VIP planted on the other node."""

import json

from fabfile.lab import control
from fabfile.lab import settings as s
from fabfile.lab.soak import Watcher
from fabfile.lab.watch import haproxy_by_config

from .conftest import ROOT, TIMINGS, crm_mon, inv, nodes, run_in, vip_holders, wait_for

# Every fault type the container lab can make, packet loss included.
SOAK_FAULTS = ("crash,freeze,split,standby,restart,haproxy-kill,pcsd-stop,corosync-kill,"
               "flap-short,flap-long,loss")
SHORT_SOAK = ("--faults", "20", "--seed", "5", "--only", SOAK_FAULTS)


def test_the_watch_sees_one_server_and_a_second_one_planted(converged):
    wait_for(lambda: crm_mon("node1")["online"] == {"node1", "node2"}, 120, "both nodes online")
    wait_for(lambda: len(vip_holders()) == 1, 60, "the VIP on one node")
    (serving,) = vip_holders()
    other = next(name for name in nodes() if name != serving)
    macs = {run_in(n, "cat", "/sys/class/net/host0/address").stdout.strip(): n for n in nodes()}
    vip = s.vip()
    watcher = Watcher([vip], macs)
    try:
        answers = watcher.probe.who_has([vip], listen_s=0.5)[vip]
        assert {macs.get(m) for m in answers} == {serving}, answers
        found = haproxy_by_config()
        assert found and all(where == {serving} for where in found.values()), found
        watcher.check_once()
        assert watcher.since(0) == []
        # The VIP on the other node as well: two nodes answer ARP for it, and the watch says so.
        run_in(other, "ip", "address", "add", f"{vip}/32", "dev", "host0")
        try:
            wait_for(lambda: watcher.check_once() or watcher.since(0), 5, "the watch to see it",
                     interval=0.1)
        finally:
            run_in(other, "ip", "address", "del", f"{vip}/32", "dev", "host0")
            # The planted address answered the host's ARP too: forget what the host learnt,
            # or its requests to the VIP go to the other node until the entry goes stale.
            control.forget_neighbour(vip)
        (seen,) = {what for _, what in watcher.since(0)}
        assert f"VIP {vip} answered ARP from 2 MACs" in seen and other in seen, seen
    finally:
        watcher.probe.close()
    assert control.power_state(nodes()[other]) == "on"


def test_a_short_soak_keeps_every_invariant(converged):
    # Kept in logs/ beside the run's other logs: each fault's timeline, for a failure's reader.
    report_file = ROOT / "logs" / "soak-short.json"
    report_file.parent.mkdir(exist_ok=True)
    report_file.unlink(missing_ok=True)
    rc, out, took = inv("lab.soak", *SHORT_SOAK, "--json", str(report_file), timeout=3600)
    assert report_file.exists(), out
    report = json.loads(report_file.read_text())
    assert rc == 0 and report["violations"] == 0, out[-6000:]
    assert report["setup_cluster_after_changes_nothing"], out[-3000:]
    assert len(report["outcomes"]) == 20 and report["watch_checks"] > 100
    kinds = {row["fault"] for row in report["summary"]}
    assert len(kinds) >= 8, kinds  # the seed draws most fault types
    worst = max(row["outage_worst_s"] for row in report["summary"])
    TIMINGS["soak (20 faults, seed 5): faults, worst outage, invariant checks"] = (
        f"{len(kinds)} fault types in {took:.0f}s; worst outage {worst:.2f}s; "
        f"{report['watch_checks']} checks, 0 violations")
    for row in report["summary"]:
        TIMINGS[f"soak: {row['fault']} x{row['count']}"] = (
            f"availability {100 * row['availability']:.2f}%, outage median "
            f"{row['outage_median_s']:.2f}s worst {row['outage_worst_s']:.2f}s, healthy after "
            f"{row['recovered_median_s']}s (worst {row['recovered_worst_s']}s)")
