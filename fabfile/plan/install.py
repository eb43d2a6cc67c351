"""Runbook step 1/10: install the cluster packages and start pcsd on every node (and on the quorum
arbiter: qnetd and pcs, which sets qnetd up and hands its certificates to the nodes)."""

import dataclasses
import ipaddress

from ..dialects import EXPORTER_UNIT, Dialect
from ..errors import UserError
from ..facts import QNETD_DATABASE
from ..parsers import Corosync
from . import Plan

ACTIVE = ("enabled", "active")


def host_dialect(host_facts, dialect):
    """The arbiter may run another release than the nodes: its own package manager."""
    return (Dialect.for_platform(host_facts.platform, host_facts.pcs_version)
            if host_facts.platform else dialect)


def packages_for(cluster, host, own):
    if host.bmc is None:
        return own.arbiter_packages()
    return own.node_packages(cluster)


def expected_after(cluster, dialect, facts):
    """The hosts as this step leaves them, for planning the later steps before it has run (a
    runbook, an offline dry run): packages in, pcsd running, and what the packages started
    by themselves (see dialects.PACKAGES_START_SERVICES) but the units the cluster runs."""
    after = {}
    for host in cluster.hosts:
        host_facts = facts[host.name]
        own = host_dialect(host_facts, dialect)
        packages = packages_for(cluster, host, own)
        units = {**host_facts.units, "pcsd": ACTIVE}
        files = dict(host_facts.files)
        corosync = host_facts.corosync
        if own.packages_start_services:
            if host.bmc is None:
                units["corosync-qnetd"] = ACTIVE
                files.setdefault(QNETD_DATABASE, "made by the corosync-qnetd package")
            else:
                units.update(corosync=ACTIVE, pacemaker=ACTIVE)
                if corosync is None and own.packaged_cluster_name:
                    corosync = Corosync(own.packaged_cluster_name, (host.name,), False)
        if host.bmc is not None:  # this step leaves them to the cluster
            for unit, active_is_cluster in cluster_units(cluster):
                active = host_facts.units.get(unit, ("", ""))[1] if active_is_cluster else ""
                units[unit] = ("disabled", active or "inactive")
        after[host.name] = dataclasses.replace(
            host_facts, installed=host_facts.installed | set(packages), units=units,
            files=files, corosync=corosync)
    return after


def plan(cluster, dialect, facts):
    plan = Plan("install")
    for host in cluster.hosts:
        host_facts = facts[host.name]
        own = host_dialect(host_facts, dialect)
        if cluster.metrics.exporter_port and host.bmc is not None and not own.exporter_packages():
            raise UserError(f"{cluster.path}: metrics.exporter: {host.name} runs {own.platform}, "
                            "which packages no hacluster exporter (Debian and Ubuntu do); set "
                            "metrics.exporter: false; nothing was changed")
        packages = packages_for(cluster, host, own)
        missing = [p for p in packages if p not in host_facts.installed]
        if missing and host.bmc is not None and cluster.metrics.exporter_port and \
                set(own.exporter_packages()) & set(missing):
            # Debian's package starts the exporter on every address; the metrics step
            # starts it on the node's cluster address only.
            plan.add(host.name, own.mask_unit(EXPORTER_UNIT, "the exporter starts only once the "
                                              "metrics step has bound it to the cluster address"),
                     phase=0)
        if missing:
            plan.add(host.name, *own.install_packages(missing, cluster.package_repo), phase=0)
        else:
            plan.unchanged(host.name, f"packages already installed: {' '.join(packages)}")
        if host_facts.unit_enabled("pcsd") and host_facts.unit_active("pcsd"):
            plan.unchanged(host.name, "pcsd is enabled and running")
        else:
            plan.add(host.name, own.enable_units(["pcsd"], start=True), phase=0)
        bind_pcsd(plan, host, host_facts, own)
        if host.bmc is not None:
            leave_to_cluster(plan, cluster, host.name, host_facts, own, installs=bool(missing))
    return plan


def cluster_units(cluster):
    """The units whose service the cluster alone runs, each with whether the unit being
    active is the cluster's own doing (Pacemaker's systemd class starts the unit; halb's
    HAProxy runs through its OCF agent, never through haproxy.service)."""
    if cluster.service.is_haproxy:
        return [("haproxy", False)]
    unit = cluster.service.systemd_unit
    return [(unit, True)] if unit else []


def leave_to_cluster(plan, cluster, name, host_facts, dialect, installs):
    """A package may enable and start its service at install (Debian's haproxy and nginx do).
    Left running, a node joining a running cluster is probed with a second copy active, and
    Pacemaker stops every copy to recover: the service stops for a moment on the node serving.
    So this step, before the node joins, leaves the unit to the cluster."""
    for unit, active_is_cluster in cluster_units(cluster):
        started = installs and dialect.packages_start_services
        running = host_facts.unit_active(unit) and not active_is_cluster
        if started or host_facts.unit_enabled(unit) or running:
            plan.add(name, dialect.disable_unit(
                unit, f"the cluster alone starts {unit}, on the node holding the VIP"), phase=0)
        else:
            plan.unchanged(name, f"{unit}.service is left to the cluster")


def pcsd_addresses(host):
    """Where pcsd listens: the host's cluster address (the other hosts' pcs reach it there)
    and loopback; None when the address is a host name (PCSD_BIND_ADDR takes addresses)."""
    try:
        address = ipaddress.ip_address(host.address)
    except ValueError:
        return None
    return (str(address), "127.0.0.1" if address.version == 4 else "::1")


def bind_pcsd(plan, host, host_facts, dialect):
    """pcsd listens on every address by default: bound to the cluster address and loopback,
    its port 2224 (a root login to the whole cluster for whoever holds the hacluster password)
    is not offered to every network the node is on."""
    addresses = pcsd_addresses(host)
    if addresses is None:
        plan.unchanged(host.name, f"pcsd listens on every address: {host.address} is a host "
                       "name, and PCSD_BIND_ADDR takes addresses")
    elif host_facts.pcsd_bind == ",".join(addresses):
        plan.unchanged(host.name, f"pcsd listens on {', '.join(addresses)} only")
    else:
        plan.add(host.name, dialect.bind_pcsd(addresses), dialect.restart_pcsd(), phase=0)
