"""Runbook step 9/10: Prometheus metrics on every node (ClusterLabs' hacluster exporter).

The exporter reads Pacemaker and corosync (crm_mon, cibadmin, corosync-quorumtool) and serves
their state on the node's cluster address only, never on every address: its settings file
(from the package, replaced, its original kept) names the address and port, and the unit is
restarted when they change. The install step masked the unit before the package came, so it
never listened anywhere else.
"""

from ..commands import content_digest, write_file
from ..dialects import EXPORTER_CONFIG, EXPORTER_PACKAGES, EXPORTER_UNIT
from . import Plan


def exporter_settings(node, port):
    """The exporter's settings file: the listening address in both spellings, since each
    packaged version reads one of them (1.2 and 1.3 address and port; 1.4 serves on
    web.listen-address and ignores the others). Quoted YAML strings: the address is an IP
    address or a host name (config/validate.py), neither of which holds a quote or a line
    break."""
    host = f"[{node.address}]" if ":" in node.address else node.address
    return ("# Written by halb (metrics.exporter_port): the hacluster exporter serves on this\n"
            "# node's cluster address only.\n"
            f'address: "{node.address}"\nport: "{port}"\n'
            f'web:\n  listen-address: "{host}:{port}"\n')


def plan(cluster, dialect, facts):
    plan = Plan("metrics")
    port = cluster.metrics.exporter_port
    if port is None:
        for node in cluster.nodes:
            plan.unchanged(node.name, "metrics.exporter is off: no exporter is set up")
        return plan
    for node in cluster.nodes:
        host = facts[node.name]
        text = exporter_settings(node, port)
        changed = host.files.get(EXPORTER_CONFIG) != content_digest(text)
        if changed:
            plan.add(node.name, write_file(
                EXPORTER_CONFIG, text, "0644", why=f"the exporter listens on {node.address}:"
                f"{port} only", owner=EXPORTER_PACKAGES["apt"][0]), phase=0)
        else:
            plan.unchanged(node.name, f"{EXPORTER_CONFIG} is current ({node.address}:{port})")
        running = host.unit_enabled(EXPORTER_UNIT) and host.unit_active(EXPORTER_UNIT)
        if changed or not running:
            plan.add(node.name, dialect.restart_unit(
                EXPORTER_UNIT, "start the exporter with its settings, and at every boot"),
                phase=0)
        else:
            plan.unchanged(node.name, f"{EXPORTER_UNIT} is enabled and running")
    return plan
