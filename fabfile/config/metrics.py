"""Section metrics: the Prometheus endpoints halb sets up on every node."""

from __future__ import annotations

from .model import Metrics
from .service import port_owner
from .validate import check_port

EXPORTER_PORT = 9664  # ha_cluster_exporter's own default
# Platforms whose archive packages ha_cluster_exporter (prometheus-hacluster-exporter):
# Debian 11 (1.2), 12 (1.3), 13 (1.4) and Ubuntu; EL and CentOS do not.
EXPORTER_PLATFORMS = ("debian11", "debian12", "debian13", "ubuntu")


def read_metrics(r, data, platform, nodes, groups):
    raw = r.mapping(r.get(data, "metrics", "", dict, default={}), "metrics",
                    ["exporter", "exporter_port"])
    packaged = platform is None or platform in EXPORTER_PLATFORMS
    exporter = r.get(raw, "exporter", "metrics", bool, default=packaged)
    if exporter and not packaged:
        r.fail("metrics.exporter", f"platform {platform} packages no hacluster exporter "
               f"(Debian and Ubuntu do: {', '.join(EXPORTER_PLATFORMS)}); set it to false")
    port = r.get(raw, "exporter_port", "metrics", int, default=EXPORTER_PORT, check=check_port)
    if not exporter:
        return Metrics(None)
    if owner := port_owner(port, nodes):
        r.fail("metrics.exporter_port", f"{port} is {owner}'s port on the nodes")
    taken = {p: f"a HAProxy frontend's port (group {g.name})" for g in groups if g.haproxy
             for p in [f.port for f in g.haproxy.frontends]}
    taken.update({g.haproxy.health_port: f"HAProxy's health port (group {g.name})"
                  for g in groups if g.haproxy and g.haproxy.health_port})
    if port in taken:
        r.fail("metrics.exporter_port", f"{port} is {taken[port]}: the exporter could not bind it")
    return Metrics(port)
