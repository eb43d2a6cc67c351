"""Runbook step 1: install the cluster packages and start pcsd on every node (and on the quorum
arbiter: qnetd and pcs, which sets qnetd up and hands its certificates to the nodes)."""

from ..dialects import Dialect
from . import Plan


def plan(cluster, dialect, facts):
    plan = Plan("install")
    for host in cluster.hosts:
        host_facts = facts[host.name]
        # The arbiter may run another release than the nodes: its own package manager.
        own = (Dialect.for_platform(host_facts.platform, host_facts.pcs_version)
               if host_facts.platform else dialect)
        if host.bmc is None:
            packages = own.arbiter_packages()
        else:
            packages = own.cluster_packages(cluster.service.is_haproxy,
                                            cluster.extra_packages + cluster.service.packages,
                                            qdevice=cluster.quorum_device is not None)
        missing = [p for p in packages if p not in host_facts.installed]
        if missing:
            plan.add(host.name, *own.install_packages(missing, cluster.package_repo), phase=0)
        else:
            plan.unchanged(host.name, f"packages already installed: {' '.join(packages)}")
        if host_facts.unit_enabled("pcsd") and host_facts.unit_active("pcsd"):
            plan.unchanged(host.name, "pcsd is enabled and running")
        else:
            plan.add(host.name, own.enable_units(["pcsd"], start=True), phase=0)
    return plan
