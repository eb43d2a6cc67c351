"""load(): one config file, every section read, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

from .. import yamlfile
from ..errors import ConfigError
from .alerts import read_alerts
from .cluster import TOP_FIELDS, read_cluster, read_install, read_platform, read_ssh
from .fencing import read_failover, read_fencing
from .groups import read_groups, read_single_group
from .metrics import read_metrics, with_haproxy_metrics
from .model import Cluster
from .nodes import read_nodes, read_quorum
from .reader import Reader
from .secrets import Secrets, config_values, read_secrets


def load(path, env=None, require_secrets=True):
    """Read and validate a cluster config. `env` maps variable names to values (secrets)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "(file)", "does not exist or is not a file")
    try:
        data = yamlfile.read(path)
    except yamlfile.YamlProblem as exc:
        raise ConfigError(path, exc.where, exc.problem) from None
    data = {} if data is None else data
    env = read_secrets() if env is None else env
    r = Reader(path)
    if r.section(lambda r: r.mapping(data, "", TOP_FIELDS)) is None:
        raise ConfigError.of(path, r.problems)
    secret = Secrets(r, env, "\n".join([path.read_text(encoding="utf-8"),
                                          *config_values(data)]))

    platform = r.section(read_platform, data)
    name, pcs_request_timeout = r.section(read_cluster, data) or (None, None)
    ssh = r.section(read_ssh, data) or (None, "root", 22)
    nodes = r.section(read_nodes, data, ssh, secret)
    failover = r.section(read_failover, data)
    quorum = r.section(read_quorum, data, nodes or (), ssh) or (False, None)
    arbiter = quorum[1].arbiter if quorum[1] else None
    fencing = r.section(read_fencing, data, nodes, arbiter, failover) if nodes else None
    if "groups" in data:
        groups = r.section(read_groups, data, nodes, arbiter) or ()
    else:
        groups = read_single_group(r, data, nodes, arbiter)
    extra_packages, package_repo = r.section(read_install, data) or ((), None)
    alerts = r.section(read_alerts, data, secret) or ()
    metrics = r.section(read_metrics, data, platform, nodes or (), groups or ())
    if groups and nodes:
        ids = [i for g in groups for i in (*g.vip.resource_ids, g.service.resource_id, g.name)]
        ids += [f"{n.name}-fence{suffix}" for n in nodes for suffix in ("", "2")]
        if len(set(ids)) != len(ids):
            r.note("groups" if len(groups) > 1 else "service.resource_id",
                   "resource ids of the VIPs, the services, the groups and the fence devices "
                   "must all differ")
    hacluster = secret("HACLUSTER_PASSWORD")
    missing = tuple(dict.fromkeys(secret.missing))
    if missing and require_secrets:
        r.note(missing[0], "secret is not set: export it or put it in .env (see .env.example)")
    if r.problems:
        raise ConfigError.of(path, r.problems)
    groups = with_haproxy_metrics(groups, metrics)
    first = groups[0]
    return Cluster(
        path=str(path), name=name, platform=platform, nodes=nodes, ssh=ssh[0], vip=first.vip,
        fencing=fencing, group=first.name, failover=failover, service=first.service,
        haproxy=first.haproxy, groups=groups,
        no_quorum_policy_ignore=quorum[0], quorum_device=quorum[1],
        extra_packages=extra_packages, package_repo=package_repo,
        hacluster_password=hacluster, missing_secrets=missing,
        pcs_request_timeout=pcs_request_timeout, alerts=alerts, metrics=metrics,
    )
