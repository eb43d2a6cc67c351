"""Watching the cluster between runs: every node's hacluster exporter serves on its cluster
address only, HAProxy's endpoint on the address of the node running it, the lab's Prometheus
(loopback, on the host) scrapes them all with halb's rules loaded, a backend cut off raises an
alert in Alertmanager, and the Pacemaker alerts are in place as the config says (the crash
test of test_3_failover sees them fire)."""

import time
import urllib.request

from fabfile.config import read_secrets
from fabfile.facts import haproxy_node_config
from fabfile.lab import monitoring
from fabfile.lab import settings as s

from .conftest import (
    TIMINGS,
    Load,
    crm_mon,
    inv,
    nodes,
    run_in,
    wait_for,
)


def test_each_exporter_serves_on_its_node_address_only(converged):
    cluster = s.lab_cluster()
    port = cluster.metrics.exporter_port
    for node in cluster.nodes:
        listening = run_in(node.name, "ss", "-Hltn", f"sport = :{port}").stdout.split()
        local = [word for word in listening if word.endswith(f":{port}")]
        assert local == [f"{node.address}:{port}"], listening
        assert run_in(node.name, "systemctl", "is-enabled", "ha_cluster_exporter").stdout.strip() \
            == "enabled"


def test_prometheus_on_the_host_scrapes_every_node_with_halbs_rules(converged):
    started = time.monotonic()
    cluster = s.lab_cluster()
    wanted = {f"{n.address}:{cluster.metrics.exporter_port}" for n in cluster.nodes}

    def all_up():
        up = {t["labels"]["instance"] for t in monitoring.targets() if t["health"] == "up"}
        return up >= wanted and up
    wait_for(all_up, 60, "every exporter scraped")
    online = monitoring.query('ha_cluster_pacemaker_nodes{status="online"} == 1')
    assert {r["metric"]["node"] for r in online} == set(nodes())
    # STONITH went on at the end of the run just made: the next scrapes see it on every node.
    wait_for(lambda: [r["value"][1] for r in monitoring.query(
        "ha_cluster_pacemaker_stonith_enabled")] == ["1"] * len(wanted), 30,
        "stonith-enabled in every node's metrics")
    # halb's rules are loaded, and on a healthy cluster none but the informational fire (an
    # earlier test's fault may take a scrape or two to resolve).
    deadline = time.monotonic() + 90
    while firing := monitoring.query('ALERTS{alertstate="firing", severity!="info"}'):
        assert time.monotonic() < deadline, [r["metric"] for r in firing]
        time.sleep(2)
    TIMINGS["Prometheus: every node's exporter up, ha_cluster_pacemaker_nodes answered"] = \
        f"{time.monotonic() - started:.1f}s"


def test_the_alerts_in_the_cib_are_the_configs(converged):
    listed = run_in("node1", "cibadmin", "--query", "--scope", "alerts").stdout
    for alert_id in ("halb-alert-log", "halb-alert-hook", "halb-alert-am"):
        assert f'id="{alert_id}"' in listed, listed
    token = read_secrets(s.ROOT / ".env")[s.ALERT_TOKEN_VARIABLE]
    assert token not in run_in("node1", "cibadmin", "--query").stdout, "the token in the CIB"
    for name in nodes():
        mode = run_in(name, "stat", "-c", "%a %U %G", "/etc/halb/alert-hook.token").stdout.split()
        assert mode == ["640", "root", "haclient"], mode


def test_status_publishes_its_checks_and_the_drift_for_prometheus(converged, tmp_path):
    """`inv status --metrics-file`: a change made by hand on a node is drift, 0 in the file a
    textfile collector reads (HalbConfigDrift's input), and 1 again once it is undone."""
    path = tmp_path / "halb.prom"
    drift = 'halb_status_check{cluster="halb-lab",check="matches the config"}'
    rc, out, _ = inv("status", "--metrics-file", str(path))
    assert rc == 0 and f"{drift} 1\n" in path.read_text(), out
    run_in("node2", "sh", "-c", "echo '# changed by hand' >> /etc/ha_cluster_exporter.yaml")
    try:
        rc, out, _ = inv("status", "--metrics-file", str(path))
        assert rc == 1 and "metrics on node2" in out, out
        assert f"{drift} 0\n" in path.read_text()
    finally:
        run_in("node2", "sed", "-i", "$d", "/etc/ha_cluster_exporter.yaml")
    rc, out, _ = inv("status", "--metrics-file", str(path))
    assert rc == 0 and f"{drift} 1\n" in path.read_text(), out


def serving_node():
    return crm_mon("node1")["resources"]["haproxy"]["nodes"][0]


def test_haproxy_serves_metrics_on_its_nodes_address_only(converged):
    """HAProxy's Prometheus endpoint: on the address of the node running it, never the VIP or
    every address; nothing listens on the port where HAProxy does not run."""
    cluster = s.lab_cluster()
    port = cluster.haproxy.metrics_port
    serving = serving_node()
    for node in cluster.nodes:
        listening = run_in(node.name, "ss", "-Hltn", f"sport = :{port}").stdout.split()
        local = [word for word in listening if word.endswith(f":{port}")]
        assert local == ([f"{node.address}:{port}"] if node.name == serving else []), listening
    address = cluster.node(serving).address
    with urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=5) as reply:
        assert "haproxy_server_status" in reply.read().decode()
    wanted = f"{address}:{port}"
    wait_for(lambda: any(t["labels"]["instance"] == wanted and t["health"] == "up"
                         for t in monitoring.targets()), 30, "the serving HAProxy scraped")
    assert monitoring.query('max by (group) (up{job="haproxy"})')[0]["value"][1] == "1"


def test_a_backend_server_cut_off_raises_an_alert_in_alertmanager(converged):
    """The serving node loses its route to backend2: HAProxy's health checks fail, its
    endpoint says so, and halb's rule raises HaproxyBackendServerDown in Alertmanager."""
    serving = serving_node()
    backend = next(b for b in s.BACKENDS if b[0] == "backend2")
    run_in(serving, "ip", "route", "add", "prohibit", f"{backend[1]}/32")
    started = time.monotonic()
    try:
        def raised():
            return [a for a in monitoring.alerts()
                    if a["labels"].get("alertname") == "HaproxyBackendServerDown"
                    and a["labels"].get("server") == "backend2"]
        wait_for(raised, 120, "HaproxyBackendServerDown for backend2 in Alertmanager", 2)
        took = time.monotonic() - started
        TIMINGS["backend2 cut off from the serving node, to HaproxyBackendServerDown in "
                 "Alertmanager (the rule's for: 30s included)"] = f"{took:.1f}s"
    finally:
        run_in(serving, "ip", "route", "del", "prohibit", f"{backend[1]}/32", check=False)
    wait_for(lambda: monitoring.query(
        'ALERTS{alertname="HaproxyBackendServerDown", alertstate="firing"}') == [], 60,
        "the alert resolved once backend2 is reachable again", 2)


def test_the_endpoint_turned_off_and_on_under_load_loses_no_request(converged, tmp_path):
    """metrics.haproxy: false removes each node's part and the agent's node_conffile, true
    puts them back; HAProxy reloads each time, and no request through the VIP fails."""
    cluster = s.lab_cluster()
    port = cluster.haproxy.metrics_port
    off = s.config_variant(lambda d: d.setdefault("metrics", {}).update(haproxy=False),
                           tmp_path / "lab-no-haproxy-metrics.yaml")
    with Load() as load:
        load.answers()
        rc, out, took_off = inv("haproxy", "--config", str(off))
        assert rc == 0, out
        load.answers()
        node_part = haproxy_node_config(cluster.haproxy)
        for name in nodes():
            assert run_in(name, "ls", node_part, check=False).returncode != 0
        assert "node_conffile" not in run_in("node1", "cibadmin", "--query").stdout
        serving = serving_node()
        address = cluster.node(serving).address
        assert run_in(serving, "ss", "-Hltn", f"sport = :{port}").stdout.strip() == ""
        rc, out, took_on = inv("haproxy", "--config", "configs/lab.yaml")
        assert rc == 0, out
        load.answers()
    assert load.failed == [], load.failed[:5]
    wait_for(lambda: urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=3).status
             == 200, 30, "the endpoint back")
    TIMINGS["HAProxy metrics endpoint off, then on again, under load"] = (
        f"{took_off:.1f}s and {took_on:.1f}s; {load.ok} requests answered, 0 failed")
