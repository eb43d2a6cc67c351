"""Sections cluster, platform, ssh and install; the top level's fields."""

from __future__ import annotations

from .model import PLATFORMS, Ssh
from .validate import (
    check_cluster_name,
    check_name,
    check_package,
    check_request_timeout,
    check_ssh_port,
    one_of,
    pacemaker_seconds,
    within,
)

TOP_FIELDS = ("cluster", "platform", "ssh", "nodes", "vip", "fencing", "group", "service",
              "haproxy", "groups", "quorum", "install", "failover", "alerts",
              "metrics")


def read_cluster(r, data):
    """cluster.name, and cluster.pcs_request_timeout: how long pcs waits for another node's pcsd
    (pcs --request-timeout; pcs's own default is 60 s, too short for a loaded or slow node)."""
    cluster = r.mapping(r.get(data, "cluster", "", dict), "cluster", ["name", "pcs_request_timeout"])
    name = r.get(cluster, "name", "cluster", str, check=check_cluster_name)
    timeout = r.get(cluster, "pcs_request_timeout", "cluster", str, default=None,
                    check=check_request_timeout)
    return name, (None if timeout is None else pacemaker_seconds(timeout))


def read_platform(r, data):
    return r.get(data, "platform", "", str, default=None, check=one_of(PLATFORMS, "a known platform"))


def read_ssh(r, data):
    raw = r.mapping(r.get(data, "ssh", "", dict, default={}), "ssh",
                    ["user", "port", "identity_file", "known_hosts", "accept_unknown_host_keys",
                     "sudo", "connect_timeout"])
    user = r.get(raw, "user", "ssh", str, default="root", check=check_name)
    return Ssh(
        identity_file=r.get(raw, "identity_file", "ssh", str, default=None, limit=4096),
        known_hosts=r.get(raw, "known_hosts", "ssh", str, default=None, limit=4096),
        accept_unknown_host_keys=r.get(raw, "accept_unknown_host_keys", "ssh", bool, default=False),
        sudo=r.get(raw, "sudo", "ssh", bool, default=user != "root"),
        connect_timeout=r.get(raw, "connect_timeout", "ssh", int, default=10,
                              check=within(1, 300, "s")),
    ), user, r.get(raw, "port", "ssh", int, default=22, check=check_ssh_port)


def read_install(r, data):
    raw = r.mapping(r.get(data, "install", "", dict, default={}), "install",
                    ["extra_packages", "package_repo"])
    return (r.texts(raw, "extra_packages", "install", check_package),
            r.get(raw, "package_repo", "install", str, default=None, check=check_name))


# The template's own frontend: a config's proxy may not take its name.
