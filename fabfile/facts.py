"""Read-only facts about a node: each probe is a command plus a pure parser of its output."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .commands import MANIFEST, Command, run
from .dialects import Dialect, parse_pcs_version, platform_from_os_release
from .errors import UserError

OCF_AGENT_PATH = "/usr/lib/ocf/resource.d/halb/haproxy"
FENCE_SECRET_DIR = "/etc/halb/fence"
# `pcs qdevice setup` creates qnetd's certificate database here; its presence means done.
QNETD_DATABASE = "/etc/corosync/qnetd/nssdb/cert9.db"


def fence_password_file(node_name, level=1):
    return f"{FENCE_SECRET_DIR}/{node_name}.password" if level == 1 else \
        f"{FENCE_SECRET_DIR}/{node_name}.level{level}.password"


@dataclass(frozen=True)
class Primitive:
    id: str
    agent: str  # "stonith:fence_ipmilan", "ocf:heartbeat:IPaddr2", "systemd:nginx"
    attributes: dict
    monitor_interval: str | None
    group: str | None


@dataclass(frozen=True)
class Cib:
    properties: dict
    primitives: dict  # id -> Primitive
    groups: dict  # group id -> [member ids] in order
    avoids: frozenset  # (resource, node) pairs with a -INFINITY location constraint
    online_nodes: frozenset
    resource_nodes: dict  # resource id -> tuple of nodes where it is active
    group_meta: dict = field(default_factory=dict)  # group id -> {meta attribute: value}
    # The fencing topology: (target node, level index, comma-separated device ids) triples.
    levels: frozenset = frozenset()


@dataclass(frozen=True)
class Corosync:
    cluster_name: str | None
    nodes: tuple[str, ...]
    two_node: bool
    token_ms: int | None = None  # None: not written, corosync's default applies
    consensus_ms: int | None = None
    text: str = field(default="", repr=False)  # the file itself, for dialects that rewrite it
    device: dict | None = None  # quorum device: model, host, algorithm, tie_breaker


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
    return CLUSTER_UNITS_AND_SERVICE + extra


def _files_wanted(probe):
    if probe.is_arbiter:
        return [QNETD_DATABASE]
    haproxy = probe.cluster.haproxy
    return [OCF_AGENT_PATH] + ([haproxy.config_path] if haproxy else [])


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


# --- parsers: pure functions of text ---------------------------------------------------------

@dataclass(frozen=True)
class AgentParameter:
    """One parameter of a fence agent, as its meta-data describes it."""

    kind: str  # the content type: string, integer, second, boolean, select
    choices: tuple = ()  # a select's values
    secret: bool = False


# How an agent's meta-data shows that a parameter carries a secret: the placeholder of its
# command-line option (--password=[password], --community=[community], --apikey=[key]). Fence
# agents mark nothing else; the config's own name filter (config.SECRET_OPTION_RE) adds names
# such as access_key or secret_key whose placeholder is [name].
SECRET_PLACEHOLDERS = ("password", "pass", "key", "community", "token", "secret")
# Parameters whose placeholder says [key] but which name a target: halb sets them itself.
TARGET_PARAMETERS = ("plug", "port", "key")


def parse_fence_metadata(text):
    """`fence_X -o metadata` -> {parameter name: AgentParameter}, obsolete spellings too."""
    if not (text or "").strip():
        return {}
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return {}
    out = {}
    for parameter in root.iter("parameter"):
        name = parameter.get("name")
        if not name:
            continue
        content = parameter.find("content")
        kind = content.get("type", "string") if content is not None else "string"
        choices = tuple(o.get("value") for o in content.iter("option")) \
            if content is not None and kind == "select" else ()
        getopt = parameter.find("getopt")
        placeholder = re.search(r"=\[([^\]]*)\]", getopt.get("mixed", "")) if getopt is not None \
            else None
        secret = (kind == "string" and name not in TARGET_PARAMETERS and placeholder is not None
                  and placeholder.group(1).lower() in SECRET_PLACEHOLDERS)
        described = AgentParameter(kind, choices, secret)
        for spelling in (name, parameter.get("obsoletes")):
            if spelling and spelling not in out:
                out[spelling] = described
    return out


def parse_pcsd_bind(text):
    """pcsd's environment file -> its last PCSD_BIND_ADDR value ("" when unset), None when
    there is no such file (cat printed nothing)."""
    if not (text or "").strip():
        return None
    values = [line.split("=", 1)[1].strip().strip('"').strip("'")
              for line in text.splitlines() if line.strip().startswith("PCSD_BIND_ADDR=")]
    return values[-1] if values else ""


def parse_manifest(text):
    """/var/lib/halb/manifest -> ((kind, path), ...), in the order written."""
    out = []
    for line in (text or "").splitlines():
        kind, _, path = line.partition(" ")
        if kind in ("created", "replaced") and path.startswith("/"):
            out.append((kind, path))
    return tuple(out)


def parse_os_release(text):
    out = {}
    for line in (text or "").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def parse_packages(text, manager):
    installed = set()
    for line in (text or "").splitlines():
        parts = line.split()
        if manager == "apt":
            if len(parts) >= 2 and parts[1] == "installed":
                installed.add(parts[0].split(":")[0])
        elif len(parts) == 2 and parts[1] == "installed":
            installed.add(parts[0])
    return frozenset(installed)


def parse_units(text):
    units, current = {}, {}
    for line in (text or "").splitlines() + [""]:
        if not line.strip():
            if "Id" in current:
                name = current["Id"].removesuffix(".service")
                units[name] = (current.get("UnitFileState", ""), current.get("ActiveState", ""))
            current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    return units


def parse_pcsd_auth(text, legacy):
    """Nodes this node holds pcsd tokens for (known-hosts in pcs >= 0.10, tokens in 0.9)."""
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        return frozenset()
    if legacy:
        return frozenset((data.get("tokens") or {}).keys())
    return frozenset((data.get("known_hosts") or {}).keys())


def parse_corosync(text):
    if not text or not text.strip():
        return None
    name = re.search(r"^\s*cluster_name\s*:\s*(\S+)", text, re.M)
    # Node names: `name:` (pcs >= 0.10); pcs 0.9 names nodes by their ring0_addr only.
    nodes = (re.findall(r"^\s*name\s*:\s*(\S+)", text, re.M)
             or re.findall(r"^\s*ring0_addr\s*:\s*(\S+)", text, re.M))
    two_node = re.search(r"^\s*two_node\s*:\s*1", text, re.M) is not None
    totem = _section(text, "totem")

    def totem_ms(key):
        # Top-level keys of the totem section only, not those of its interface subsections.
        found = re.search(rf"^\s*{key}\s*:\s*([0-9]+)\s*$", _without_subsections(totem), re.M)
        return int(found.group(1)) if found else None

    device = _section(_section(text, "quorum"), "device")
    found = None
    if device.strip():
        net = _section(device, "net")
        top = _without_subsections(device)
        found = {"model": _value(top, "model"), "timeout": _value(top, "timeout")}
        found.update({key: _value(net, key) for key in ("host", "algorithm", "tie_breaker")})
    return Corosync(name.group(1) if name else None, tuple(dict.fromkeys(nodes)), two_node,
                    totem_ms("token"), totem_ms("consensus"), text, found)


def _value(body, key):
    found = re.search(rf"^\s*{key}\s*:\s*(\S+)\s*$", body, re.M)
    return found.group(1) if found else None


def section_span(text, name):
    """(start, end) of the body of the first `name { ... }` section of corosync.conf, nested
    braces counted; None when there is none."""
    start = re.search(rf"^\s*{name}\s*\{{", text, re.M)
    if not start:
        return None
    depth, pos = 1, start.end()
    for i in range(pos, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return pos, i
    return pos, len(text)


def _section(text, name):
    span = section_span(text, name)
    return text[span[0]:span[1]] if span else ""


def _without_subsections(body):
    out, depth = [], 0
    for char in body:
        depth += char == "{"
        if depth == 0:
            out.append(char)
        depth -= char == "}" and depth > 0
    return "".join(out)


def parse_cib(text):
    if not text or not text.lstrip().startswith("<"):
        return None
    root = ET.fromstring(text)
    properties = {}
    for nv in root.findall("./configuration/crm_config/cluster_property_set/nvpair"):
        properties[nv.get("name")] = nv.get("value")
    primitives, groups, group_meta = {}, {}, {}

    def primitive(elem, group):
        cls, provider, kind = elem.get("class"), elem.get("provider"), elem.get("type")
        agent = ":".join(p for p in (cls, provider, kind) if p)
        attrs = {nv.get("name"): nv.get("value")
                 for nv in elem.findall("./instance_attributes/nvpair")}
        monitor = next((op.get("interval") for op in elem.findall("./operations/op")
                        if op.get("name") == "monitor"), None)
        primitives[elem.get("id")] = Primitive(elem.get("id"), agent, attrs, monitor, group)

    resources = root.find("./configuration/resources")
    for elem in (resources if resources is not None else []):
        if elem.tag == "primitive":
            primitive(elem, None)
        elif elem.tag == "group":
            groups[elem.get("id")] = [p.get("id") for p in elem.findall("./primitive")]
            group_meta[elem.get("id")] = {nv.get("name"): nv.get("value")
                                          for nv in elem.findall("./meta_attributes/nvpair")}
            for p in elem.findall("./primitive"):
                primitive(p, elem.get("id"))
    avoids = set()
    for loc in root.findall("./configuration/constraints/rsc_location"):
        if loc.get("score") in ("-INFINITY", "-infinity") and loc.get("node"):
            avoids.add((loc.get("rsc"), loc.get("node")))
    online = set()
    active = {}
    for state in root.findall("./status/node_state"):
        uname = state.get("uname")
        # Pacemaker >= 2.1.7 writes join timestamps where older versions wrote online/true.
        crmd, in_ccm = state.get("crmd", ""), state.get("in_ccm", "")
        if (crmd == "online" or crmd.isdigit()) and (in_ccm == "true" or in_ccm.isdigit()):
            online.add(uname)
        if uname not in online:
            continue
        for rsc in state.findall("./lrm/lrm_resources/lrm_resource"):
            if _resource_active(rsc):
                active.setdefault(rsc.get("id"), []).append(uname)
    levels = frozenset((level.get("target"), int(level.get("index")), level.get("devices"))
                       for level in root.findall("./configuration/fencing-topology/fencing-level")
                       if level.get("target") and (level.get("index") or "").isdigit())
    return Cib(properties, primitives, groups, frozenset(avoids), frozenset(online),
               {k: tuple(v) for k, v in active.items()}, group_meta, levels)


def _resource_active(rsc):
    """The last operation recorded decides: started/monitored ok -> active."""
    ops = sorted(rsc.findall("./lrm_rsc_op"), key=lambda o: int(o.get("call-id", "0")))
    state = False
    for op in ops:
        task, rc = op.get("operation"), op.get("rc-code")
        if task in ("start", "monitor", "migrate_from", "promote", "demote") and rc == "0":
            state = True
        elif task == "monitor" and rc == "7":
            state = False
        elif task == "stop" and rc == "0":
            state = False
    return state


def parse_files(text):
    out = {}
    for line in (text or "").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            out[parts[1].lstrip("*")] = parts[0]
    return out


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


# --- live cluster status (drills and lab checks) ---------------------------------------------

@dataclass(frozen=True)
class ClusterStatus:
    online: frozenset
    standby: frozenset
    unclean: frozenset
    resources: dict  # resource id -> tuple of nodes it is active on
    failures: int


def parse_crm_mon(text):
    """crm_mon's XML (Pacemaker 1.1 --as-xml or 2.x --output-as=xml); None when it is no status."""
    try:
        root = ET.fromstring(text or "")
    except ET.ParseError:
        return None
    nodes = root.find("nodes")
    if nodes is None:
        return None
    online, standby, unclean = set(), set(), set()
    for node in nodes.findall("node"):
        name = node.get("name")
        if node.get("online") == "true":
            online.add(name)
        if node.get("standby") == "true":
            standby.add(name)
        if node.get("unclean") == "true":
            unclean.add(name)
    resources = {}
    top = root.find("resources")
    for rsc in (top.iter("resource") if top is not None else ()):
        running = tuple(n.get("name") for n in rsc.findall("node"))
        resources[rsc.get("id")] = running if rsc.get("active") == "true" else ()
    failures = len(list(root.iter("failure")))
    return ClusterStatus(frozenset(online), frozenset(standby), frozenset(unclean), resources,
                         failures)


@dataclass(frozen=True)
class FenceEvent:
    """One line of the fencer's log: a device's attempt (`device` set, rc the agent's exit
    code) or the outcome of a whole fencing request (`device` None, rc 0 for OK)."""

    target: str
    action: str
    device: str | None
    rc: int
    by: str | None = None


# A device's attempt: Pacemaker 2.1 and later, then 2.0.
_ATTEMPTS = (re.compile(r"Operation '(\w+)' \[\d+\] targeting (\S+) using (\S+) returned (-?\d+)"),
             re.compile(r"Operation '(\w+)' \[\d+\] \(call \d+ from \S+\) for host '([^']+)' "
                        r"with device '([^']+)' returned: (-?\d+)"))
# A request's outcome: "targeting N by EXECUTOR for CLIENT: OK (complete)" from 2.1 on,
# "targeting N on EXECUTOR for CLIENT: OK" in 2.0.
_OUTCOME = re.compile(r"Operation '(\w+)' targeting (\S+) (?:by|on) (\S+) for \S+: ([^(]+?)\s*(?:\(|$)")


def parse_fencer_log(text):
    """The fencer's journal (pacemaker-fenced, `-o cat`) -> [FenceEvent] in log order."""
    events = []
    for line in (text or "").splitlines():
        if found := next((m for m in (a.search(line) for a in _ATTEMPTS) if m), None):
            action, target, device, rc = found.groups()
            events.append(FenceEvent(target, action, device, int(rc)))
        elif found := _OUTCOME.search(line):
            action, target, by, result = found.groups()
            events.append(FenceEvent(target, action, None, 0 if result == "OK" else 1, by))
    return events
