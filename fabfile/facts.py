"""Read-only facts about a node: each probe is a command plus a pure parser of its output."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .commands import MANIFEST, Command, run
from .dialects import (
    EXPORTER_CONFIG,
    EXPORTER_UNIT,
    Dialect,
    parse_pcs_version,
    platform_from_os_release,
)
from .errors import UserError
from .parsers import (
    Cib,
    Corosync,
    parse_cib,
    parse_corosync,
    parse_fence_metadata,
    parse_files,
    parse_manifest,
    parse_os_release,
    parse_packages,
    parse_pcsd_auth,
    parse_pcsd_bind,
    parse_units,
)

OCF_AGENT_PATH = "/usr/lib/ocf/resource.d/halb/haproxy"
FENCE_SECRET_DIR = "/etc/halb/fence"
# `pcs qdevice setup` creates qnetd's certificate database here; its presence means done.
QNETD_DATABASE = "/etc/corosync/qnetd/nssdb/cert9.db"


# The alert agents (plan/alerts.py): halb's webhook agent, Pacemaker's sample file agent and
# where halb copies it, and each webhook's token file.
ALERT_WEBHOOK_AGENT = "/usr/lib/halb/alert_webhook"
ALERT_FILE_SAMPLE = "/usr/share/pacemaker/alerts/alert_file.sh.sample"
ALERT_FILE_AGENT = "/usr/lib/halb/alert_file.sh"
ALERT_TOKEN_GLOB = re.compile(r"/etc/halb/alert-[A-Za-z0-9._-]+\.token")

# halb's quorum heuristic (plan/quorum.py), which corosync-qdevice runs on every cluster node.
QUORUM_HEURISTIC = "/usr/lib/halb/quorum_heuristic"


def uses_quorum_heuristic(cluster):
    device = cluster.quorum_device
    return device is not None and device.heuristics == "service"


# Each node's own part of a group's HAProxy config (its Prometheus frontend on the node's
# address), read after the shared file: /etc/halb/haproxy.node.cfg beside /etc/haproxy/haproxy.cfg.
HAPROXY_NODE_CONFIG_GLOB = re.compile(r"/etc/halb/[A-Za-z0-9_][A-Za-z0-9_.-]*\.node\.cfg")


def haproxy_node_config(haproxy):
    """Where a node keeps its own part of `haproxy`'s config."""
    stem = haproxy.config_path.rsplit("/", 1)[1].removesuffix(".cfg")
    return f"/etc/halb/{stem}.node.cfg"


def haproxy_node_configs(cluster):
    """The node config of every HAProxy group whose metrics endpoint is on."""
    return [haproxy_node_config(view.haproxy) for view in cluster.views()
            if view.haproxy and view.haproxy.metrics_port]


def alert_token_file(alert_name):
    return f"/etc/halb/alert-{alert_name}.token"


def alert_agent(alert):
    """The agent an alert runs: Pacemaker's sample (copied) for a file, halb's for the rest."""
    return ALERT_FILE_AGENT if alert.kind == "file" else ALERT_WEBHOOK_AGENT


def alert_agents(cluster):
    """The agents the configured alerts run, each once."""
    return list(dict.fromkeys(alert_agent(a) for a in cluster.alerts))


def alert_tokens(cluster):
    """(alert, its token file) for every alert that sends a token (the webhooks)."""
    return [(a, alert_token_file(a.name)) for a in cluster.alerts if a.token is not None]


def fence_password_file(node_name, level=1):
    return f"{FENCE_SECRET_DIR}/{node_name}.password" if level == 1 else \
        f"{FENCE_SECRET_DIR}/{node_name}.level{level}.password"


@dataclass(frozen=True)
class HostFacts:
    """What one node told us. `assumed` marks facts invented for a dry run without connecting."""

    platform: str | None
    pcs_version: tuple | None
    installed: frozenset = frozenset()
    units: dict = field(default_factory=dict)  # unit -> (enabled, active)
    # Whether the hacluster password is the configured one: "same", "differs", "unset", or
    # None when the node could not tell (no Python or libcrypt yet).
    hacluster_password: str | None = None
    authed_nodes: frozenset = frozenset()
    corosync: Corosync | None = None
    cib: Cib | None = None
    files: dict = field(default_factory=dict)  # path -> sha256
    secret_files: dict = field(default_factory=dict, repr=False)  # path -> sha256, never logged
    # What halb created or replaced on the node: ("created" | "replaced", path) pairs.
    manifest: tuple = ()
    # The OCF service agent's parameters (service.agent ocf:..., not halb's own), as
    # fence_parameters; empty before Pacemaker is installed.
    service_parameters: dict = field(default_factory=dict)
    # pcsd's PCSD_BIND_ADDR: "" when unset (every address), None when pcsd has no settings file.
    pcsd_bind: str | None = None
    # The parameters the fence agent's meta-data names (its obsolete spellings too), name ->
    # AgentParameter; empty before the agent is installed.
    fence_parameters: dict = field(default_factory=dict)
    # The same for the second fencing level's agent (fencing.second_level), if any.
    second_fence_parameters: dict = field(default_factory=dict)
    assumed: bool = False

    def fence_parameters_of(self, level):
        return self.fence_parameters if level == 1 else self.second_fence_parameters

    def unit_enabled(self, unit):
        return self.units.get(unit, ("", ""))[0] == "enabled"

    def unit_active(self, unit):
        return self.units.get(unit, ("", ""))[1] == "active"


def fresh(platform):
    """Facts of a node that has nothing installed yet (dry run with a pinned platform)."""
    return HostFacts(platform=platform, pcs_version=None, assumed=True)


# --- exit codes a probe accepts: anything else is a failure of the probe itself ------------
# cat and sha256sum: 1 when a file is absent, which is the answer.
ABSENT_OK = (0, 1)
# pcs --version: 127 when pcs is not installed yet.
PCS_ABSENT_OK = (0, 1, 127)
# cibadmin: 102/107 (not connected) and 3 while Pacemaker is stopped, 127 before it is installed.
CIBADMIN_OK = (0, 1, 2, 3, 102, 107, 127)

CLUSTER_UNITS_AND_SERVICE = ("pcsd.service", "corosync.service", "pacemaker.service",
                             "haproxy.service", "corosync-qnetd.service")


@dataclass(frozen=True)
class Probe:
    """What a fact's command may depend on: the node asked, its dialect, the cluster."""

    dialect: Dialect | None  # None for the base facts, which tell the dialect
    cluster: object
    node: object

    @property
    def is_arbiter(self):
        return self.node.bmc is None


@dataclass(frozen=True)
class Fact:
    """One thing read from a node: the read-only command that asks (None: nothing to ask on
    this node), the pure parser of its output, and whether the output holds credentials
    (then it is never logged). `name` names the output in logs and fixtures; `field` is the
    HostFacts attribute the parsed value fills."""

    name: str
    field: str
    command: Callable[[Probe], Command | None]
    parse: Callable[[str | None, Dialect], object]
    sensitive: bool = False


def _packages_wanted(probe):
    if probe.is_arbiter:  # the quorum arbiter: qnetd and pcs only
        return probe.dialect.arbiter_packages()
    return probe.dialect.node_packages(probe.cluster)


def _units_wanted(probe):
    unit = probe.cluster.service.systemd_unit
    extra = (f"{unit}.service",) if unit and f"{unit}.service" not in CLUSTER_UNITS_AND_SERVICE \
        else ()
    if probe.cluster.metrics.exporter_port and not probe.is_arbiter:
        extra += (f"{EXPORTER_UNIT}.service",)
    return CLUSTER_UNITS_AND_SERVICE + extra


def _files_wanted(probe):
    if probe.is_arbiter:
        return [QNETD_DATABASE]
    agents = alert_agents(probe.cluster)
    agents += [ALERT_FILE_SAMPLE] if ALERT_FILE_AGENT in agents else []
    exporter = [EXPORTER_CONFIG] if probe.cluster.metrics.exporter_port else []
    heuristic = [QUORUM_HEURISTIC] if uses_quorum_heuristic(probe.cluster) else []
    return [OCF_AGENT_PATH] + [view.haproxy.config_path for view in probe.cluster.views()
                               if view.haproxy] + haproxy_node_configs(probe.cluster) + \
        agents + exporter + heuristic


# The node compares the password (on stdin) with hacluster's shadow entry through its own
# crypt(3), so every hash scheme it writes (yescrypt, SHA-512, ...) can be checked and neither
# the password nor the hash leaves it. The first Python found runs it (python3 on pcs 0.10+,
# platform-python on EL8, python 2 on EL7); it prints same, differs or unset.
_PASSWORD_CHECK = r"""
import ctypes, ctypes.util, sys
password = sys.stdin.readline().rstrip("\n")
entry = [l.split(":") for l in open(sys.argv[1]) if l.startswith("hacluster:")]
stored = entry[0][1] if entry else ""
if len(stored) < 2 or stored[0] in "!*":
    print("unset")
    sys.exit(0)
libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
libcrypt.crypt.restype = ctypes.c_char_p
libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
result = libcrypt.crypt(password.encode("utf-8"), stored.encode("utf-8"))
print("same" if result is not None and result.decode("utf-8") == stored else "differs")
"""
FIRST_PYTHON = ('for py in python3 /usr/libexec/platform-python python; do '
                 'command -v "$py" >/dev/null 2>&1 && exec "$py" -c "$1" "$2"; done; '
                 'cat >/dev/null; exit 127')
SHADOW = "/etc/shadow"


def _hacluster_password_command(probe):
    return run("sh", "-c", FIRST_PYTHON, "sh", _PASSWORD_CHECK, SHADOW, accept_codes=(0, 127),
               stdin=probe.cluster.hacluster_password,
               shown="check the hacluster password against /etc/shadow")


def parse_password_check(text):
    answer = (text or "").strip()
    return answer if answer in ("same", "differs", "unset") else None


def _secret_files_command(probe):
    if probe.is_arbiter:  # holds no BMC password
        return None
    files = [fence_password_file(n.name, level) for n in probe.cluster.nodes
             for level, _ in n.fence_passwords]
    files += [path for _, path in alert_tokens(probe.cluster)]
    return run("sha256sum", "--", *files, accept_codes=ABSENT_OK) if files else None


# The fence agent's own meta-data: the parameters it takes (nothing before it is installed).
FENCE_METADATA = 'command -v "$1" >/dev/null 2>&1 || exit 0; exec "$1" -o metadata'


def _fence_metadata_command(level):
    """The meta-data of the agent at a fencing level, asked on the nodes (the arbiter fences
    nobody); no command for a level the config does not have."""
    def command(probe):
        fencing = probe.cluster.fencing
        if probe.is_arbiter or level not in fencing.levels:
            return None
        return run("sh", "-c", FENCE_METADATA, "sh", fencing.agent_of(level))
    return command


# An OCF agent's meta-data as Pacemaker reads it (nothing before Pacemaker is installed).
SERVICE_METADATA = ('command -v crm_resource >/dev/null 2>&1 || exit 0; '
                    'exec crm_resource --show-metadata "$1" 2>/dev/null || exit 0')


def _service_metadata_command(probe):
    """The OCF service agent's meta-data, asked on the nodes; none for halb's own HAProxy
    agent (its options are the config's own list) or a systemd/LSB service (no options)."""
    service = probe.cluster.service
    if probe.is_arbiter or service.is_haproxy or not service.agent.startswith("ocf:"):
        return None
    return run("sh", "-c", SERVICE_METADATA, "sh", service.agent)


# Read first, alone: together they tell the dialect every other fact is asked in.
BASE_FACTS = (
    Fact("os_release", "os_release", lambda p: run("cat", "/etc/os-release", accept_codes=ABSENT_OK),
         lambda text, _: parse_os_release(text)),
    Fact("pcs_version", "pcs_version", lambda p: run("pcs", "--version", accept_codes=PCS_ABSENT_OK),
         lambda text, _: parse_pcs_version(text)),
)

FACTS = (
    Fact("packages", "installed", lambda p: p.dialect.query_packages(_packages_wanted(p)),
         lambda text, d: parse_packages(text, d.package_manager)),
    Fact("units", "units",
         lambda p: run("systemctl", "show", "--property=Id,UnitFileState,ActiveState",
                       *_units_wanted(p), accept_codes=ABSENT_OK),
         lambda text, _: parse_units(text)),
    Fact("hacluster_password", "hacluster_password", _hacluster_password_command,
         lambda text, _: parse_password_check(text)),
    Fact("pcsd_auth", "authed_nodes",
         lambda p: run("cat", p.dialect.pcsd_auth_file, accept_codes=ABSENT_OK),
         lambda text, d: parse_pcsd_auth(text, d.legacy), sensitive=True),
    Fact("corosync", "corosync",
         lambda p: run("cat", "/etc/corosync/corosync.conf", accept_codes=ABSENT_OK),
         lambda text, _: parse_corosync(text)),
    # Sensitive: a CIB written by other tools may hold credentials in plain text.
    Fact("cib", "cib", lambda p: run("cibadmin", "--query", "--local", accept_codes=CIBADMIN_OK),
         lambda text, _: parse_cib(text), sensitive=True),
    Fact("files", "files", lambda p: run("sha256sum", "--", *_files_wanted(p), accept_codes=ABSENT_OK),
         lambda text, _: parse_files(text)),
    Fact("secret_files", "secret_files", _secret_files_command, lambda text, _: parse_files(text),
         sensitive=True),
    Fact("manifest", "manifest", lambda p: run("cat", MANIFEST, accept_codes=ABSENT_OK),
         lambda text, _: parse_manifest(text)),
    Fact("service_metadata", "service_parameters", _service_metadata_command,
         lambda text, _: parse_fence_metadata(text)),
    Fact("pcsd_settings", "pcsd_bind",
         lambda p: run("cat", p.dialect.pcsd_settings_file, accept_codes=ABSENT_OK),
         lambda text, _: parse_pcsd_bind(text)),
    Fact("fence_metadata", "fence_parameters", _fence_metadata_command(1),
         lambda text, _: parse_fence_metadata(text)),
    Fact("second_fence_metadata", "second_fence_parameters", _fence_metadata_command(2),
         lambda text, _: parse_fence_metadata(text)),
)


def read_base(ask):
    """The base facts' outputs, each command asked through `ask(command) -> stdout`."""
    return {f.name: ask(f.command(None)) for f in BASE_FACTS}


def require_dialect(base, cluster, node_name):
    dialect = dialect_for(base, cluster.platform)
    if dialect is None:
        raise UserError(f"{node_name}: cannot tell the platform from /etc/os-release; "
                        f"set 'platform' in {cluster.path}")
    return replace(dialect, request_timeout=cluster.pcs_request_timeout)


def dialect_for(base, pinned_platform=None):
    """The node's dialect from the base probes; a platform pinned in the config wins.
    None when the platform cannot be told."""
    platform = pinned_platform or platform_from_os_release(parse_os_release(base.get("os_release")))
    if platform is None:
        return None
    return Dialect.for_platform(platform, parse_pcs_version(base.get("pcs_version")))


def cluster_dialect(cluster, facts):
    """The dialect cluster-wide commands are spelled in: the primary node's, once both nodes
    are known to speak the same pcs generation."""
    dialects = {n.name: replace(Dialect.for_platform(facts[n.name].platform, facts[n.name].pcs_version),
                                request_timeout=cluster.pcs_request_timeout)
                for n in cluster.nodes}
    if len({d.legacy for d in dialects.values()}) > 1:
        raise UserError("the nodes run different pcs generations: "
                        + ", ".join(f"{n}: {d.label}" for n, d in dialects.items()))
    return dialects[cluster.primary.name]


def assemble(base, details, dialect: Dialect):
    """Turn probe outputs {fact name: stdout} into HostFacts; an absent output parses as the
    fact's value on a bare node."""
    return HostFacts(platform=dialect.platform,
                     pcs_version=parse_pcs_version(base.get("pcs_version")),
                     **{f.field: f.parse(details.get(f.name), dialect) for f in FACTS})
