"""The lab's Prometheus and Alertmanager: Debian's packages, run by labd on the host, each on
loopback only (127.0.0.1:9090, 127.0.0.1:9093). Prometheus scrapes every node's hacluster
exporter and HAProxy endpoint over the lab bridge with halb's alert rules loaded (fabfile/monitoring/rules.yml) and
sends what fires to Alertmanager, which notifies labd's receiver. The nodes reach Alertmanager
through labd (the alertmanager alert of configs/lab.yaml posts to labd on the bridge, which
passes it on): nothing listens beyond loopback and the bridge.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from . import settings as s

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
PROMETHEUS_ADDRESS = "127.0.0.1:9090"
ALERTMANAGER_ADDRESS = "127.0.0.1:9093"
RULES = s.ROOT / "fabfile" / "monitoring" / "rules.yml"
HOME = s.RUN / "monitoring"
# Scrapes and rule evaluations every 2 s: a failover is over in about 2 s, and the lab's tests
# wait for what the rules see.
INTERVAL = "2s"


def prometheus_config(cluster):
    port = cluster.metrics.exporter_port
    targets = [f"{n.address}:{port}" for n in cluster.nodes] if port else []
    # Each group's HAProxy on every node: only the node running it answers.
    haproxy = [{"targets": [f"{n.address}:{view.haproxy.metrics_port}" for n in cluster.nodes],
                "labels": {"group": view.group}}
               for view in cluster.views() if view.haproxy and view.haproxy.metrics_port]
    return {
        "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL,
                   "external_labels": {"cluster": cluster.name}},
        "rule_files": [str(RULES)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [ALERTMANAGER_ADDRESS]}]}]},
        "scrape_configs": [{"job_name": "ha_cluster", "static_configs": [{"targets": targets}]}]
        + ([{"job_name": "haproxy", "static_configs": haproxy}] if haproxy else []),
    }


def alertmanager_config():
    receiver = f"http://{s.HOST_ADDRESS}:{s.ALERT_RECEIVER_PORT}/alertmanager"
    return {"route": {"receiver": "labd", "group_by": ["alertname", "node"],
                      "group_wait": "1s", "group_interval": "5s", "repeat_interval": "1h"},
            "receivers": [{"name": "labd", "webhook_configs": [{"url": receiver,
                                                                 "send_resolved": True}]}]}


def available():
    return all(shutil.which(p) for p in (PROMETHEUS, ALERTMANAGER))


def start(cluster, log):
    """Both servers as children of the caller (labd), or [] when the host lacks them."""
    if not available():
        log("labd: prometheus or prometheus-alertmanager is not installed (make host-deps): "
            "the lab runs without them")
        return []
    # Each lab's servers start empty: an earlier lab's last samples (its alerts among them)
    # would otherwise read as current for Prometheus's five-minute lookback.
    for data in ("prometheus-data", "alertmanager-data"):
        shutil.rmtree(HOME / data, ignore_errors=True)
    HOME.mkdir(parents=True, exist_ok=True)
    (HOME / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(cluster)))
    (HOME / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config()))
    output = open(HOME / "servers.log", "ab")
    prometheus = [PROMETHEUS, f"--config.file={HOME / 'prometheus.yml'}",
                  f"--web.listen-address={PROMETHEUS_ADDRESS}",
                  f"--storage.tsdb.path={HOME / 'prometheus-data'}"]
    # No cluster gossip: Alertmanager would listen on every address (9094) for its peers.
    alertmanager = [ALERTMANAGER, f"--config.file={HOME / 'alertmanager.yml'}",
                    f"--web.listen-address={ALERTMANAGER_ADDRESS}", "--cluster.listen-address=",
                    f"--storage.path={HOME / 'alertmanager-data'}"]
    return [subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output,
                             stderr=subprocess.STDOUT) for argv in (prometheus, alertmanager)]


def leftover_pids():
    """Prometheus or Alertmanager processes of an earlier lab whose labd died without them."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].decode(errors="replace") in (PROMETHEUS, ALERTMANAGER) and \
                any(str(HOME).encode() in a for a in argv) and s.same_network_namespace(proc.name):
            found.append(int(proc.name))
    return found


def forward_to_alertmanager(body):
    """Pass a POST to Alertmanager's API on loopback; its status code."""
    request = urllib.request.Request(f"http://{ALERTMANAGER_ADDRESS}/api/v2/alerts", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 503


def query(expression):
    """Prometheus's answer to an instant query: its result list."""
    url = f"http://{PROMETHEUS_ADDRESS}/api/v1/query?" + urllib.parse.urlencode(
        {"query": expression})
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.load(reply)["data"]["result"]


def targets():
    with urllib.request.urlopen(f"http://{PROMETHEUS_ADDRESS}/api/v1/targets", timeout=5) as reply:
        return json.load(reply)["data"]["activeTargets"]


def alerts():
    """What Alertmanager holds now."""
    with urllib.request.urlopen(f"http://{ALERTMANAGER_ADDRESS}/api/v2/alerts", timeout=5) as reply:
        return json.load(reply)
