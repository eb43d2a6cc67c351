"""The other pcs generations, live: the lab boots Debian 11 (pcs 0.10, Pacemaker 2.0) and
Debian 13 (pcs 0.12, Pacemaker 3.0) in turn, and on each the runbook converges from bare nodes,
a re-run changes nothing, fencing and a crash move the service and the node comes back, and a
config rollout loses no request. (Debian 12 runs the whole suite before this module.)"""

import os

import pytest

from fabfile.lab import monitoring
from fabfile.lab import settings as s

from .conftest import (
    TIMINGS,
    Load,
    add_frontend,
    config_with,
    crm_mon,
    drill,
    http_via_vip,
    inv,
    run_in,
    vip_holders,
    wait_for,
)

OTHER_RELEASES = [r for r in s.RELEASES if r != s.DEFAULT_RELEASE]
PCS_GENERATION = {"bullseye": "0.10.", "bookworm": "0.11.", "trixie": "0.12."}


@pytest.fixture(scope="module", params=OTHER_RELEASES)
def release(request):
    """A lab of this release, converged from bare nodes by setup-cluster."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (systemd-nspawn, bridge, mounts)")
    name = request.param
    rc, out, took = inv("lab.up", "--fresh", "--release", name, timeout=1800)
    assert rc == 0, out
    assert f"lab: up ({name})" in out
    TIMINGS[f"{name}: lab.up (switch, image build included when not cached)"] = f"{took:.1f}s"
    bare = run_in("node1", "sh", "-c", "command -v pcs pacemakerd haproxy", check=False).stdout
    assert bare == "", f"{name} nodes are not bare: {bare}"
    rc, out, took = inv("setup-cluster", "--config", "configs/lab.yaml")
    TIMINGS[f"{name}: setup-cluster from bare nodes"] = f"{took:.1f}s"
    assert rc == 0, out
    yield name


def test_the_release_runs_its_own_pcs_generation(release):
    rc, out, _ = inv("lab.status")
    assert f"release {release} ({s.RELEASES[release]})" in out
    version = run_in("node1", "pcs", "--version").stdout.strip()
    assert version.startswith(PCS_GENERATION[release]), version


def test_converged_with_stonith_and_the_service_behind_the_vip(release):
    status = wait_for(lambda: (lambda m: m if m["online"] == {"node1", "node2"} else None)(
        crm_mon("node1")), 120, "both nodes online")
    for node, peer in (("node1", "node2"), ("node2", "node1")):
        device = status["resources"][f"{node}-fence"]
        assert device["active"] and device["nodes"] == [peer]
    stonith = run_in("node1", "crm_attribute", "--type", "crm_config", "--name",
                     "stonith-enabled", "--query").stdout
    assert "value=true" in stonith
    holders = vip_holders()
    assert len(holders) == 1 and status["resources"]["haproxy"]["nodes"] == holders
    assert http_via_vip()[0] == 200


def test_the_exporter_serves_on_the_node_address_and_prometheus_scrapes_it(release):
    """Each packaged exporter (1.2 on Debian 11, 1.4 on 13) reads the settings halb writes, and
    each release's HAProxy serves its metrics from the node's own part of the config."""
    cluster = s.lab_cluster()
    port = cluster.metrics.exporter_port
    for node in cluster.nodes:
        listening = run_in(node.name, "ss", "-Hltn", f"sport = :{port}").stdout.split()
        assert [w for w in listening if w.endswith(f":{port}")] == [f"{node.address}:{port}"]
    wait_for(lambda: len(monitoring.query('ha_cluster_pacemaker_nodes{status="online"} == 1'))
             == 2 * len(cluster.nodes), 60, "both nodes online in both exporters' metrics")
    # HAProxy's own endpoint (2.2 on Debian 11, 3.0 on 13), read by halb's rules in both shapes.
    wait_for(lambda: monitoring.query('max by (group) (up{job="haproxy"})')[0]["value"][1] == "1",
             60, "the serving HAProxy's endpoint scraped")
    servers = monitoring.query('haproxy_server_status{state="UP"} == 1 or '
                               'haproxy_server_status{state=""} == 1')
    assert {r["metric"]["server"] for r in servers} == {"backend1", "backend2"}, servers


def test_a_rerun_changes_nothing(release):
    rc, out, took = inv("setup-cluster", "--config", "configs/lab.yaml")
    assert rc == 0, out
    assert "0 change(s) made" in out, out[-3000:]
    TIMINGS[f"{release}: setup-cluster on a converged cluster"] = f"{took:.1f}s"


def test_a_rollout_loses_no_request(release, tmp_path):
    changed = config_with(tmp_path, add_frontend, "lab-alt.yaml")
    try:
        with Load() as load:
            load.answers()
            rc, out, took = inv("haproxy-config", "--config", str(changed))
            load.answers()
        assert rc == 0, out
        assert load.failed == [] and load.ok > 20, (load.ok, load.failed[:5])
        wait_for(lambda: http_via_vip(port=8081)[0] == 200, 30, "the new frontend")
        TIMINGS[f"{release}: rollout under load"] = (
            f"{load.ok} requests answered, {len(load.failed)} lost; inv haproxy-config took {took:.1f}s")
    finally:
        rc, out, _ = inv("haproxy-config", "--config", "configs/lab.yaml")
        assert rc == 0, out


@pytest.mark.parametrize("fault", ["fence", "crash"])
def test_the_active_node_fails_the_service_moves_and_the_node_returns(release, fault):
    wait_for(lambda: crm_mon("node1")["online"] == {"node1", "node2"}, 240, "both nodes online")
    report, took = drill("--fault", fault, "--rounds", "1")
    (round_,) = report["rounds"]
    assert round_["error"] is None, round_
    assert round_["vip_after"] and round_["vip_after"] != round_["vip_before"]
    assert round_["fenced"] and round_["fence_first_attempt"] is True, round_["fenced"]
    assert round_["recovered_s"] is not None
    assert crm_mon(round_["vip_after"])["online"] == {"node1", "node2"}
    assert http_via_vip()[0] == 200
    TIMINGS[f"{release}: {fault} of the active node: outage (drill)"] = (
        f"{round_['outage_s']:.2f}s, {round_['failed']} failed requests, back in "
        f"{round_['recovered_s']:.1f}s")
