"""Runbook step 1: install the cluster packages and start pcsd on every node."""

from . import Plan


def plan(cluster, dialect, facts):
    plan = Plan("install")
    packages = dialect.cluster_packages(cluster.service.is_haproxy,
                                        cluster.extra_packages + cluster.service.packages)
    for node in cluster.nodes:
        host = facts[node.name]
        missing = [p for p in packages if p not in host.installed]
        if missing:
            plan.add(node.name, *dialect.install_packages(missing, cluster.package_repo), phase=0)
        else:
            plan.unchanged(node.name, f"packages already installed: {' '.join(packages)}")
        if host.unit_enabled("pcsd") and host.unit_active("pcsd"):
            plan.unchanged(node.name, "pcsd is enabled and running")
        else:
            plan.add(node.name, dialect.enable_units(["pcsd"], start=True), phase=0)
    return plan
