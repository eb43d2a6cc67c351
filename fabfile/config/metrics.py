"""Section metrics: the Prometheus endpoints halb sets up on every node."""

from __future__ import annotations

import dataclasses

from .model import Metrics
from .service import port_owner
from .validate import check_port

EXPORTER_PORT = 9664  # ha_cluster_exporter's own default
HAPROXY_PORT = 8405  # the port HAProxy's documentation gives its Prometheus exporter
# Platforms whose archive packages ha_cluster_exporter (prometheus-hacluster-exporter):
# Debian 11 (1.2), 12 (1.3), 13 (1.4) and Ubuntu; EL and CentOS do not. Their haproxy is
# built with the Prometheus exporter too (Debian 11's 2.2 onwards).
EXPORTER_PLATFORMS = ("debian11", "debian12", "debian13", "ubuntu")


def read_metrics(r, data, platform, nodes, groups):
    raw = r.mapping(r.get(data, "metrics", "", dict, default={}), "metrics",
                    ["exporter", "exporter_port", "haproxy", "haproxy_port"])
    packaged = platform is None or platform in EXPORTER_PLATFORMS
    exporter = r.get(raw, "exporter", "metrics", bool, default=packaged)
    if exporter and not packaged:
        r.fail("metrics.exporter", f"platform {platform} packages no hacluster exporter "
               f"(Debian and Ubuntu do: {', '.join(EXPORTER_PLATFORMS)}); set it to false")
    port = r.get(raw, "exporter_port", "metrics", int, default=EXPORTER_PORT, check=check_port)
    haproxy = r.get(raw, "haproxy", "metrics", bool, default=packaged)
    haproxy_port = r.get(raw, "haproxy_port", "metrics", int, default=HAPROXY_PORT,
                         check=check_port)
    metrics = Metrics(port if exporter else None,
                      haproxy_port if haproxy and any(g.haproxy for g in groups) else None)
    taken = _ports_taken(groups)
    for field, wanted in [("metrics.exporter_port", metrics.exporter_port)] + \
            [("metrics.haproxy_port", p) for p in haproxy_ports(metrics, groups)]:
        if wanted is None:
            continue
        if owner := port_owner(wanted, nodes):
            r.note(field, f"{wanted} is {owner}'s port on the nodes")
        elif wanted in taken:
            r.note(field, f"{wanted} is {taken[wanted]}: it could not be bound twice")
        taken.setdefault(wanted, field.replace("metrics.", "the metrics section's "))
    return metrics


def _ports_taken(groups):
    taken = {p: f"a HAProxy frontend's port (group {g.name})" for g in groups if g.haproxy
             for p in [f.port for f in g.haproxy.frontends]}
    taken.update({g.haproxy.health_port: f"HAProxy's health port (group {g.name})"
                  for g in groups if g.haproxy and g.haproxy.health_port})
    return taken


def haproxy_ports(metrics, groups):
    """The port of each HAProxy group's Prometheus endpoint: haproxy_port, then the next."""
    if metrics.haproxy_port is None:
        return []
    return [metrics.haproxy_port + i for i in range(sum(1 for g in groups if g.haproxy))]


def with_haproxy_metrics(groups, metrics):
    """The groups with each HAProxy's metrics_port set (None when metrics.haproxy is off)."""
    ports = iter(haproxy_ports(metrics, groups))
    return tuple(dataclasses.replace(g, haproxy=dataclasses.replace(g.haproxy,
                                                                    metrics_port=next(ports)))
                 if g.haproxy and metrics.haproxy_port else g for g in groups)
