"""Day two on the freshly converged lab (before the tests that crash, fence and restart it): `inv status` tells a whole cluster from a degraded or drifted
one; `inv standby` / `inv unstandby` finish the move before they return, losing no request."""

import json
import time

from .conftest import TIMINGS, crm_mon, inv, run_in, vip_holders, wait_for
from .test_2_rollout import Load

CONFIG = ("--config", "configs/lab.yaml")


def status():
    rc, out, took = inv("status", "--json", *CONFIG)
    report = json.loads(out[out.index("{"):])
    return rc, {c["name"]: c for c in report["checks"]}, report, took


def failing(checks):
    return sorted(name for name, c in checks.items() if not c["ok"])


def test_a_whole_cluster_is_healthy(converged):
    wait_for(lambda: crm_mon("node1")["online"] == {"node1", "node2"}, 240, "both nodes online")
    rc, checks, report, took = status()
    assert rc == 0 and report["healthy"], failing(checks)
    assert "Qdevice" in checks["quorum"]["detail"]
    assert "2 server(s) UP" in checks["backends healthy"]["detail"]
    assert checks["matches the config"]["detail"] == "setup-cluster would change nothing"
    rc, out, _ = inv("status", *CONFIG)
    assert rc == 0 and out.rstrip().endswith("healthy")
    TIMINGS["inv status on a healthy cluster"] = f"{took:.1f}s"


def test_standby_moves_the_service_before_returning_and_status_sees_it(converged):
    active = wait_for(lambda: (vip_holders() or [None])[0], 60, "a VIP holder")
    peer = "node2" if active == "node1" else "node1"
    with Load() as load:
        time.sleep(1)
        rc, out, took = inv("standby", active, *CONFIG)
        assert rc == 0, out
        # Returned only once the move was over: the peer holds the VIP right now.
        assert vip_holders() == [peer]
        time.sleep(1)
    TIMINGS["inv standby of the active node under load"] = (
        f"{took:.1f}s; {load.ok} requests answered, {len(load.failed)} failed within "
        f"{load.outage():.2f}s")
    # A planned move may cost up to a second: the VIP goes down before it comes up on the peer.
    assert load.outage() <= 1.5, (load.outage(), load.failed[:3])
    try:
        rc, checks, _, _ = status()
        # The node in standby runs nothing, so neither the device that fences its peer.
        assert rc == 1 and failing(checks) == sorted(["no node in standby",
                                                      f"fence device {peer}-fence"])
        assert active in checks["no node in standby"]["detail"]
    finally:
        rc, out, took = inv("unstandby", active, *CONFIG)
        assert rc == 0, out
    assert active in crm_mon(peer)["online"]
    rc, checks, _, _ = status()
    assert rc == 0, failing(checks)
    assert vip_holders() == [peer]  # stickiness: the service stays where it moved


def test_drift_from_the_config_is_found_and_named(converged):
    standby = next(n for n in ("node1", "node2") if n not in vip_holders())
    run_in(standby, "sh", "-c", "echo '# edited by hand' >> /etc/haproxy/haproxy.cfg")
    try:
        rc, checks, _, _ = status()
        assert rc == 1 and failing(checks) == ["matches the config"]
        detail = checks["matches the config"]["detail"]
        assert "haproxy on " + standby in detail, detail
    finally:
        rc, out, _ = inv("haproxy-config", *CONFIG)
        assert rc == 0, out
    rc, checks, _, _ = status()
    assert rc == 0, failing(checks)


def test_standby_of_an_unknown_node_is_refused_before_anything(converged):
    rc, out, _ = inv("standby", "node9", *CONFIG)
    assert rc == 1 and "'node9' is not a node of halb-lab" in out and "Traceback" not in out
