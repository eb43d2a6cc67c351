"""Test harness of the plan layer: raw probe outputs in, planned commands out. No hosts."""

from pathlib import Path

from fabfile import facts as factlib
from fabfile.commands import content_digest
from fabfile.dialects import EXPORTER_CONFIG
from fabfile.facts import (
    ALERT_FILE_AGENT,
    ALERT_FILE_SAMPLE,
    ALERT_WEBHOOK_AGENT,
    OCF_AGENT_PATH,
    QUORUM_HEURISTIC,
    fence_password_file,
    haproxy_node_config,
    uses_quorum_heuristic,
)
from fabfile.plan.haproxy import config_checksum, node_configs
from fabfile.plan.install import pcsd_addresses
from fabfile.plan.metrics import exporter_settings
from fabfile.render import agent_text, quorum_heuristic_text, render_haproxy_config, webhook_agent_text
from fabfile.runner import STEPS
from fabfile.secret import secret_content_digest

FACT_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "facts"


def node_outputs(source, node):
    """{fact name: output} of one node of a recorded cluster: facts/<fact>/<source>-<node>.txt."""
    return {p.parent.name: p.read_text() for p in FACT_FIXTURES.glob(f"*/{source}-{node}.txt")}


def current_checksum(cluster):
    """The haproxy resource's config_checksum as the config renders today."""
    if not cluster.haproxy:
        return ""
    return config_checksum(render_haproxy_config(cluster), node_configs(cluster))


def haproxy_files(cluster, node):
    """The sha256sum lines of the (first) group's HAProxy config and this node's own part."""
    hp = cluster.haproxy
    if not hp:
        return ""
    out = f"{content_digest(render_haproxy_config(cluster))}  {hp.config_path}\n"
    if hp.metrics_port:
        out += f"{content_digest(node_configs(cluster)[node.name])}  {haproxy_node_config(hp)}\n"
    return out


def raw_facts(cluster, name, edits=None, stale=()):
    """Facts of every node from tests/fixtures/facts/<probe>/NAME-<node>.txt.

    CURRENT in a fixture stands for the checksum of the config as rendered today; the files,
    the hacluster hash and the BMC password files are made to match the test's secrets unless
    listed in `stale`. `edits` maps node -> probe -> [(old, new), ...] text replacements.
    """
    out = {}
    for node in cluster.hosts:
        texts = node_outputs(name, node.name)
        for probe, replacements in ((edits or {}).get(node.name) or {}).items():
            for old, new in replacements:
                assert old in texts.get(probe, ""), f"fixture edit: {old!r} not in {probe}"
                texts[probe] = texts[probe].replace(old, new)
        texts = {k: v.replace("CURRENT", current_checksum(cluster)) for k, v in texts.items()}
        # What the node's own password check answers (see facts._PASSWORD_CHECK).
        texts["hacluster_password"] = "differs\n" if "hacluster" in stale else "same\n"
        if node.bmc is None:  # the quorum arbiter holds no agent, config or BMC password
            stale = (*stale, "files", "secret_files")
        if "files" not in stale:
            texts["files"] = f"{content_digest(agent_text())}  {OCF_AGENT_PATH}\n"
            texts["files"] += haproxy_files(cluster, node)
            texts["files"] += alert_files(cluster)
            if cluster.metrics.exporter_port:
                texts["files"] += (f"{content_digest(exporter_settings(node, cluster.metrics.exporter_port))}"
                                   f"  {EXPORTER_CONFIG}\n")
            if uses_quorum_heuristic(cluster):
                texts["files"] += f"{content_digest(quorum_heuristic_text())}  {QUORUM_HEURISTIC}\n"
        base = {k: texts.get(k, "") for k in ("os_release", "pcs_version")}
        dialect = factlib.dialect_for(base, cluster.platform)
        if "files" not in stale and "manifest" not in texts:
            # What the converged node's manifest says: the agent and the fence password files
            # created, the package's haproxy.cfg and pcsd settings replaced.
            texts["manifest"] = f"created {OCF_AGENT_PATH}\n" + "".join(
                f"created {fence_password_file(n.name)}\n" for n in cluster.nodes) + "".join(
                f"created {path}\n" for path in alert_paths(cluster)) + (
                f"replaced {cluster.haproxy.config_path}\n" if cluster.haproxy else "") + "".join(
                f"created {haproxy_node_config(cluster.haproxy)}\n"
                for _ in [cluster.haproxy] if cluster.haproxy and cluster.haproxy.metrics_port) + (
                f"replaced {dialect.pcsd_settings_file}\n") + (
                f"replaced {EXPORTER_CONFIG}\n" if cluster.metrics.exporter_port else "") + (
                f"created {QUORUM_HEURISTIC}\n" if uses_quorum_heuristic(cluster) else "")
        if "pcsd_settings" not in stale and "pcsd_settings" not in texts:
            # A converged host's pcsd is bound to its cluster address and loopback.
            addresses = pcsd_addresses(node)
            texts["pcsd_settings"] = "PCSD_DEBUG=false\n" + (
                f"PCSD_BIND_ADDR={','.join(addresses)}\n" if addresses else "")
        if "secret_files" not in stale:
            texts["secret_files"] = "".join(
                f"{secret_content_digest(n.fence_password)}  {fence_password_file(n.name)}\n"
                for n in cluster.nodes) + "".join(
                f"{secret_content_digest(a.token)}  {path}\n"
                for a, path in factlib.alert_tokens(cluster))
        out[node.name] = factlib.assemble(base, texts, dialect)
    return out


# What a converged node's sha256sum says of Pacemaker's sample file agent and halb's copy.
SAMPLE_DIGEST = "5" * 64


def alert_files(cluster):
    """The sha256sum lines of the alert agents on a converged node."""
    agents = factlib.alert_agents(cluster)
    return (f"{content_digest(webhook_agent_text())}  {ALERT_WEBHOOK_AGENT}\n"
            if ALERT_WEBHOOK_AGENT in agents else "") + (
        f"{SAMPLE_DIGEST}  {ALERT_FILE_SAMPLE}\n{SAMPLE_DIGEST}  {ALERT_FILE_AGENT}\n"
        if ALERT_FILE_AGENT in agents else "")


def alert_paths(cluster):
    """What the alerts step creates on a node, in its order."""
    return factlib.alert_agents(cluster) + [path for _, path in factlib.alert_tokens(cluster)]


def fresh_facts(cluster):
    return {n.name: factlib.fresh(cluster.platform) for n in cluster.hosts}


def plan_step(step, cluster, facts, planner=None):
    return (planner or STEPS[step])(cluster, factlib.cluster_dialect(cluster, facts), facts)


def lines(plan):
    """'host: command' for every planned command, in order."""
    return [f"{host}: {cmd.display()}" for phase in plan.phases for host, cmds in phase
            for cmd in cmds]


def lab_cluster():
    """configs/lab.yaml with the test secrets."""
    from fabfile import config

    from .conftest import CONFIGS, SECRETS
    return config.load(CONFIGS / "lab.yaml", env=SECRETS)
