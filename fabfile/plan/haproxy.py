"""Runbook step 7/10: HAProxy as a cluster resource, through the project's own OCF agent.

Files go to the standby node first and the active node last; the running HAProxy only picks
the new config up when the cluster reloads it, which it does because the resource's
config_checksum parameter changes (a reloadable parameter of the agent).
Each node also gets its own part of the config, read after the shared file: the frontend of
HAProxy's Prometheus endpoint, bound to that node's address (metrics.haproxy_port). It is a file
of its own because the shared file is the same on every node, and the endpoint must never bind
the VIP or every address.
A service other than HAProxy (service.agent) is simply created in the group.
"""

import dataclasses
import ipaddress
import re
import shutil
import subprocess
import tempfile

from ..commands import content_digest, remove_created_files, write_validated_file
from ..errors import UserError
from ..facts import HAPROXY_NODE_CONFIG_GLOB, OCF_AGENT_PATH, haproxy_node_config
from ..fencing import parameter_problem
from ..render import agent_text, render_haproxy_config, render_haproxy_node_config
from . import Plan, require_cib
from .resources import ensure_grouped_resource

# An address reserved for documentation (RFC 5737): never routed, never resolved.
UNRESOLVED_STAND_IN = "192.0.2.1"
# haproxy -c validates the file and prints why it refuses one; -q would hide the reason.
CHECK_COMMAND = ("haproxy", "-c", "-f")


def without_host_names(cluster):
    """The cluster with every backend server named by host name moved to a stand-in address,
    and how many were moved: a syntax check that needs no name resolution."""
    moved = 0
    backends = []
    for backend in cluster.haproxy.backends:
        servers = []
        for server in backend.servers:
            try:
                ipaddress.ip_address(server.address)
            except ValueError:
                server = dataclasses.replace(server, address=UNRESOLVED_STAND_IN)
                moved += 1
            servers.append(server)
        backends.append(dataclasses.replace(backend, servers=tuple(servers)))
    haproxy = dataclasses.replace(cluster.haproxy, backends=tuple(backends))
    return dataclasses.replace(cluster, haproxy=haproxy), moved


def refusal_reason(output, limit=400):
    """haproxy's own ALERT lines, without their '[ALERT] (pid) :' prefix, cut to a few lines."""
    alerts = [re.sub(r"^\[ALERT\]\s*(\(\d+\)\s*)?:\s*", "", line).strip()
              for line in output.splitlines() if line.startswith("[ALERT]")]
    lines = output.strip().splitlines()
    text = "; ".join(alerts[:3]) or (lines[-1] if lines else "(haproxy printed nothing)")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def node_configs(cluster):
    """{node name: its own part of the config} (empty when metrics.haproxy is off)."""
    if not cluster.haproxy.metrics_port:
        return {}
    return {node.name: render_haproxy_node_config(cluster, node) for node in cluster.nodes}


def config_checksum(config_text, per_node):
    """What the resource's config_checksum says: the shared file and every node's part, so
    that a change to either reloads HAProxy where it runs."""
    if not per_node:
        return content_digest(config_text)
    return content_digest("".join([config_text, *(per_node[name] for name in sorted(per_node))]))


def haproxy_options(cluster, config_text, per_node):
    """The resource's parameters; `per_node` is node_configs(cluster)."""
    hp = cluster.haproxy
    options = [("conffile", hp.config_path), ("stats_socket", hp.stats_socket)]
    if per_node:
        options.append(("node_conffile", haproxy_node_config(hp)))
    if hp.status_url:
        options.append(("status_url", hp.status_url))
    options.append(("config_checksum", config_checksum(config_text, per_node)))
    return options + list(cluster.service.options)


def check_service_options(cluster, facts):
    """An OCF service's options must be parameters its meta-data lists, with values of their
    types, as the fence devices' (before Pacemaker is installed there is nothing to ask)."""
    primary = cluster.primary.name
    known = facts[primary].service_parameters
    if not known:
        return
    for name, value in cluster.service.options:
        problem = "is not a parameter of the agent" if name not in known else \
            parameter_problem(known[name], value)
        if problem:
            raise UserError(f"{cluster.path}: service.options.{name}: {problem} (crm_resource "
                            f"--show-metadata {cluster.service.agent} on {primary} lists "
                            f"{len(known)}); nothing was changed")


def plan(cluster, dialect, facts, rollout_only=False):
    plan = Plan("haproxy-config" if rollout_only else "haproxy")
    cib = require_cib(cluster, facts, plan.step)
    service = cluster.service
    if not service.is_haproxy:
        return _other_service(plan, cluster, dialect, facts, cib, rollout_only)
    views = cluster.views()
    for view in views:
        if rollout_only and (cib is None or view.service.resource_id not in cib.primitives):
            raise UserError(f"step '{plan.step}': resource {view.service.resource_id} does not "
                            "exist yet (run the 'haproxy' step first)")
    # Each group: its view, its shared file, and every node's own part.
    configs = [(view, render_haproxy_config(view), node_configs(view)) for view in views]
    agent = agent_text()
    for phase, node in enumerate(cluster.busiest_last(cib.resource_nodes if cib else {})):
        host = facts[node.name]
        plan.ship(node.name, host, OCF_AGENT_PATH, agent, "install the OCF agent ocf:halb:haproxy",
                  "fabfile/ocf/haproxy", phase)
        for view, config_text, _ in configs:
            path = view.haproxy.config_path
            if host.files.get(path) == content_digest(config_text):
                plan.unchanged(node.name, f"{path} is current (sha256 {content_digest(config_text)[:12]})")
            else:
                plan.add(node.name, write_validated_file(
                    path, config_text, "0644", CHECK_COMMAND,
                    why="install the rendered HAProxy config once haproxy -c accepts it",
                    label=f"templates/haproxy.cfg.j2 rendered, sha256 {content_digest(config_text)[:12]}",
                    owner="haproxy"), phase=phase)
        _node_files(plan, node, host, configs, phase)
        if not rollout_only:
            _reprobe_joined(plan, dialect, cib, service.resource_id, node, host, phase)
    for view, config_text, per_node in configs:
        ensure_grouped_resource(plan, view, dialect, cib, view.service.resource_id,
                                view.service.resource_agent,
                                haproxy_options(view, config_text, per_node),
                                view.service.monitor_interval, phase=len(cluster.nodes))
    return plan


def _node_files(plan, node, host, configs, phase):
    """This node's own parts of the configs, each checked by haproxy -c with the shared file
    it follows; parts of a group whose endpoint is off (or gone) are removed."""
    for view, _, texts in configs:
        if not texts:
            continue
        path, text = haproxy_node_config(view.haproxy), texts[node.name]
        if host.files.get(path) == content_digest(text):
            plan.unchanged(node.name, f"{path} is current ({node.address}:"
                                      f"{view.haproxy.metrics_port})")
        else:
            plan.add(node.name, write_validated_file(
                path, text, "0644", CHECK_COMMAND + (view.haproxy.config_path, "-f"),
                why=f"HAProxy's Prometheus endpoint on {node.address}:"
                    f"{view.haproxy.metrics_port} only",
                label="templates/haproxy-node.cfg.j2 rendered"), phase=phase)
    wanted = {haproxy_node_config(view.haproxy) for view, _, texts in configs if texts}
    stale = [path for kind, path in host.manifest if kind == "created"
             and HAPROXY_NODE_CONFIG_GLOB.fullmatch(path) and path not in wanted]
    if stale:
        plan.add(node.name, remove_created_files(
            stale, "no group's HAProxy serves metrics from it any more"), phase=phase)


def _other_service(plan, cluster, dialect, facts, cib, rollout_only):
    """A service other than halb's HAProxy, created in the group (the single form only)."""
    service = cluster.service
    if rollout_only:
        raise UserError(f"service.agent is {service.agent!r}: there is no HAProxy config to roll out")
    check_service_options(cluster, facts)
    ensure_grouped_resource(plan, cluster, dialect, cib, service.resource_id,
                            service.resource_agent, list(service.options),
                            service.monitor_interval, phase=0)
    return plan


def _reprobe_joined(plan, dialect, cib, resource_id, node, host, phase):
    """A node that joined a running cluster was probed before its files came: the agent "not
    installed", a fence device failing without its password file. Once they are in place, its
    resources are probed again and those failures forgotten."""
    if OCF_AGENT_PATH not in host.files and cib is not None and \
            resource_id in cib.primitives and node.name in cib.online_nodes:
        plan.add(node.name, dialect.refresh_node(
            node.name, "it joined before its files were in place: probe its resources again"),
            phase=phase)


def rollout(cluster, dialect, facts):
    """`inv haproxy-config`: the haproxy step's files and reload, nothing else."""
    return plan(cluster, dialect, facts, rollout_only=True)


def check_rendered_config(cluster, say):
    """haproxy -c on the controller before the file goes anywhere (when haproxy is here).
    Backend host names are swapped for a documentation address first: this machine checks
    the syntax and never resolves a name (haproxy -c on each node resolves them)."""
    if not cluster.haproxy or not shutil.which("haproxy"):
        return
    for view in cluster.views():
        offline, renamed = without_host_names(view)
        if renamed:
            say(f"haproxy -c here checks the syntax; {renamed} backend host name(s) are "
                "resolved only by haproxy -c on each node")
        with tempfile.NamedTemporaryFile("w", suffix=".cfg") as handle:
            handle.write(render_haproxy_config(offline))
            handle.flush()
            check = subprocess.run(["haproxy", "-c", "-f", handle.name], capture_output=True,
                                   text=True)
        if check.returncode != 0:
            whose = f" (group {view.group})" if len(cluster.groups) > 1 else ""
            raise UserError(f"the rendered HAProxy config{whose} is refused by haproxy -c; no "
                            f"node was changed: {refusal_reason(check.stdout + check.stderr)}")
