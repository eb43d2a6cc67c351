"""Cluster config: YAML plus secrets from the environment or .env, validated into frozen objects.

Every check happens here, before any host is touched. Each section has its own reader; all
problems of a file are reported together, each naming the file, the field and what is wrong.
Every text that reaches a node is one line of printable characters without surrounding blanks,
so no value can add a line to a generated file, a pcs argument list or an agent's stdin.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import yamlfile
from .errors import CONTROL_RE, ConfigError, UserError
from .secret import Secret
from .yamlfile import YamlFloat, YamlInt, YamlWord

PLATFORMS = ("centos7", "el8", "el9", "debian11", "debian12", "debian13", "ubuntu")
# Names end up in pcs arguments, file names and environment variable names: letters, digits,
# dot, dash and underscore only, starting with a letter or digit.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# CIB ids (resources, groups, fence devices) are XML ids: a letter or '_' first.
RESOURCE_ID_RE = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,62}")
HOSTNAME_RE = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                         r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
# Options and agent names pass through pcs as name=value words; keep them to safe spellings.
OPTION_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")
AGENT_RE = re.compile(r"ocf:[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+|systemd:[A-Za-z0-9@_.-]+|"
                      r"service:[A-Za-z0-9_.-]+|lsb:[A-Za-z0-9_.-]+")
FENCE_AGENT_RE = re.compile(r"fence_[a-z0-9_]{1,40}")
PACKAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,99}")
PATH_RE = re.compile(r"/[A-Za-z0-9._/-]{1,200}")
URL_PATH_RE = re.compile(r"/[A-Za-z0-9._~/?=&%-]{0,200}")
# What any value that reaches a node, a file or a cloud API may hold: printable ASCII. Zero-width
# and bidi characters, NBSP, a BOM or non-ASCII digits would show one thing and do another.
NOT_ASCII_RE = re.compile(r"[^\x20-\x7e]")
HAPROXY_AGENT = "haproxy"
OCF_PROVIDER = "halb"
IPMI_PORT = 623
# Shorter secrets are guessable, and masking a short one in output gives it away by context.
MIN_SECRET_LENGTH = 8


@dataclass(frozen=True)
class Bmc:
    """How the fence agent reaches the node's power: an IPMI BMC, a hypervisor host plus the
    VM's name (`plug`), or a cloud API plus the instance's name. Which fields an agent takes is
    its FenceProfile's."""

    address: str | None
    port: int | None
    username: str | None
    plug: str | None = None

    @property
    def target(self):
        """The node's fence target as messages name it."""
        return self.address or self.plug


@dataclass(frozen=True)
class FenceProfile:
    """What a fence agent needs of each node's `bmc` block and of fencing.options."""

    reaches: str  # what the agent talks to, for messages
    address: bool  # bmc.address (and bmc.port): a host the agent logs in to
    login: bool  # bmc.username, with the password in FENCE_PASSWORD[_<NODE>]
    plug: str | None  # what bmc.plug names, when the agent takes one
    plug_required: bool = False
    default_port: int | None = None
    required_options: tuple[str, ...] = ()


# The agents halb knows; any other fence_* agent is taken as an address, a login and an optional
# plug (GENERIC_FENCE), and checked against its own meta-data at the fence step.
FENCE_PROFILES = {
    "fence_ipmilan": FenceProfile("the node's BMC over IPMI", True, True,
                                  "an IPMI bridge target (rarely needed)", default_port=IPMI_PORT),
    "fence_virsh": FenceProfile("the libvirt host over SSH", True, True, "the libvirt domain",
                                plug_required=True, default_port=22),
    "fence_vbox": FenceProfile("the VirtualBox host over SSH", True, True, "the VirtualBox VM",
                               plug_required=True, default_port=22),
    # fence_virtd on the host, by multicast; the shared key /etc/cluster/fence_xvm.key is copied
    # from the host by the operator.
    "fence_xvm": FenceProfile("fence_virtd on the host by multicast", False, False,
                              "the libvirt domain", plug_required=True),
    # Credentials come from the instance: its IAM role, its service account.
    "fence_aws": FenceProfile("the EC2 API with the instance's IAM role", False, False,
                              "the instance id", plug_required=True, required_options=("region",)),
    "fence_gce": FenceProfile("the Compute Engine API with the VM's service account", False, False,
                              "the instance name", plug_required=True,
                              required_options=("project", "zone")),
    # A service principal: bmc.username is its application id, the password its secret.
    "fence_azure_arm": FenceProfile("the Azure Resource Manager API", False, True, "the VM name",
                                    plug_required=True,
                                    required_options=("resourceGroup", "subscriptionId",
                                                      "tenantId")),
}
GENERIC_FENCE = FenceProfile("the agent's target", True, True, "what the agent powers off",
                             default_port=IPMI_PORT)


def fence_profile(agent):
    return FENCE_PROFILES.get(agent, GENERIC_FENCE)


@dataclass(frozen=True)
class Node:
    """A host the runbook reaches over SSH: a cluster node, or the quorum arbiter (no BMC)."""

    name: str
    address: str
    ssh_user: str
    ssh_port: int
    bmc: Bmc | None
    fence_password: Secret | None
    # fencing.second_level's target for this node (its `second_level` block) and password.
    second_fence: Bmc | None = None
    second_fence_password: Secret | None = None
    ssh_address: str | None = None  # where SSH reaches it, when not at `address`

    @property
    def ssh_host(self):
        """The address halb's SSH connects to: ssh_address (a NAT or management address, as
        with Vagrant's VMs), else the node's cluster address."""
        return self.ssh_address or self.address

    def fence_target(self, level):
        """The node's fence target and password at a fencing level: its bmc block at level 1,
        its second_level block at level 2."""
        return (self.bmc, self.fence_password) if level == 1 else \
            (self.second_fence, self.second_fence_password)

    @property
    def fence_passwords(self):
        """(level, secret) for each fencing level that logs in with a password."""
        return tuple((level, secret) for level in (1, 2)
                     if (secret := self.fence_target(level)[1]) is not None)


@dataclass(frozen=True)
class QuorumDevice:
    """corosync-qnetd on a third host gives the cluster a third vote (corosync-qdevice)."""

    arbiter: Node
    algorithm: str  # ffsplit or lms


QUORUM_ALGORITHMS = ("ffsplit", "lms")


@dataclass(frozen=True)
class Ssh:
    identity_file: str | None
    known_hosts: str | None
    accept_unknown_host_keys: bool
    sudo: bool
    connect_timeout: int


@dataclass(frozen=True)
class CloudVip:
    """Where a gratuitous ARP moves nothing: the cloud's own API moves the address."""

    provider: str  # a key of VIP_PROVIDERS
    settings: tuple[tuple[str, str], ...]  # the provider's fields, as read

    def get(self, key, default=None):
        return dict(self.settings).get(key, default)


@dataclass(frozen=True)
class Vip:
    ip: str
    cidr_netmask: int
    nic: str | None
    resource_id: str
    monitor_interval: str
    cloud: CloudVip | None = None

    def extra_id(self, role):
        """The id of a cloud provider's resource next to the VIP's own (vip-eip, vip-lb...)."""
        return f"{self.resource_id}-{role}"

    @property
    def resource_ids(self):
        roles = VIP_EXTRA_ROLES.get(self.cloud.provider, ()) if self.cloud else ()
        return (self.resource_id, *(self.extra_id(role) for role in roles))


@dataclass(frozen=True)
class SecondLevel:
    """A fencing topology's level 2: another agent (a switched PDU, the hypervisor) that
    Pacemaker tries when the first level fails."""

    agent: str
    options: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Fencing:
    agent: str
    options: tuple[tuple[str, str], ...]
    preferred_node: str
    race_delay: str
    monitor_interval: str
    status_timeout: int
    second_level: SecondLevel | None = None

    @property
    def levels(self):
        """The fencing levels: 1 alone, or 1 then 2 (second_level)."""
        return (1, 2) if self.second_level else (1,)

    def agent_of(self, level):
        return self.agent if level == 1 else self.second_level.agent

    def options_of(self, level):
        return self.options if level == 1 else self.second_level.options

    @staticmethod
    def field_of(level):
        """Where a level's agent and options are in the config file."""
        return "fencing" if level == 1 else "fencing.second_level"


@dataclass(frozen=True)
class Failover:
    """How fast corosync declares a silent node dead: `token` ms without the token, then
    `consensus` ms to agree on the new membership. Detection takes about token + consensus."""

    profile: str
    token_ms: int
    consensus_ms: int
    # How long qnetd waits for a silent node before it decides a split: with an arbiter, the
    # survivor of a crash has quorum only once qnetd gave up on the dead node.
    qdevice_timeout_ms: int


# profile -> (token ms, consensus ms, race delay when fencing.race_delay is not set and there is
# no arbiter, qdevice timeout ms)
FAILOVER_PROFILES = {
    # About 1.1 s to detect a dead node. Survives stalls of up to half a second (a busy
    # 2-core VM, a short link blip) but not longer ones: those become a fence and a failover.
    # 1250 ms is the least qdevice timeout: its heartbeat (0.8 x timeout) must be >= 1 s.
    "fast": (500, 600, "2s", 1250),
    # corosync 3's own default token: ~6.6 s to detect, tolerant of busy or lossy networks;
    # corosync-qdevice's own default timeout.
    "conservative": (3000, 3600, "10s", 10000),
}
# Below this a node drops out of the membership on scheduling hiccups and config reloads alone.
MIN_TOKEN_MS = 300


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    port: int


@dataclass(frozen=True)
class Frontend:
    name: str
    port: int
    backend: str


@dataclass(frozen=True)
class Backend:
    name: str
    health_check: str | None
    servers: tuple[Server, ...]


@dataclass(frozen=True)
class HAProxy:
    config_path: str
    stats_socket: str
    frontends: tuple[Frontend, ...]
    backends: tuple[Backend, ...]
    health_port: int | None  # a loopback frontend answering /healthz, checked by the agent

    @property
    def status_url(self):
        return f"http://127.0.0.1:{self.health_port}/healthz" if self.health_port else None


@dataclass(frozen=True)
class Service:
    """The resource grouped with the VIP: our HAProxy agent or any other agent."""

    resource_id: str
    agent: str  # "haproxy" means ocf:halb:haproxy, installed and configured by the haproxy step
    options: tuple[tuple[str, str], ...]
    monitor_interval: str
    packages: tuple[str, ...]

    @property
    def is_haproxy(self):
        return self.agent == HAPROXY_AGENT

    @property
    def resource_agent(self):
        return f"ocf:{OCF_PROVIDER}:haproxy" if self.is_haproxy else self.agent

    @property
    def systemd_unit(self):
        """The unit a systemd:NAME service runs (Pacemaker alone must start it), else None."""
        return self.agent.split(":", 1)[1] if self.agent.startswith("systemd:") else None


@dataclass(frozen=True)
class Cluster:
    path: str
    name: str
    platform: str | None
    nodes: tuple[Node, ...]
    ssh: Ssh
    vip: Vip
    fencing: Fencing
    group: str
    failover: Failover
    service: Service
    haproxy: HAProxy | None
    no_quorum_policy_ignore: bool
    quorum_device: QuorumDevice | None
    extra_packages: tuple[str, ...]
    package_repo: str | None
    hacluster_password: Secret
    missing_secrets: tuple[str, ...]
    pcs_request_timeout: int | None = None  # seconds; None: pcs's own (60 s)

    def node(self, name):
        return next(n for n in self.hosts if n.name == name)

    @property
    def hosts(self):
        """Every host the runbook touches: the nodes, then the quorum arbiter if any."""
        return self.nodes + ((self.quorum_device.arbiter,) if self.quorum_device else ())

    @property
    def primary(self):
        """The node that runs cluster-wide pcs commands."""
        return self.nodes[0]

    @property
    def service_port(self):
        """Where the service answers on the VIP: the first HAProxy frontend, else 80."""
        return self.haproxy.frontends[0].port if self.haproxy else 80

    def peer_of(self, name):
        return next(n for n in self.nodes if n.name != name)

    @property
    def secrets(self):
        found = [self.hacluster_password] + [s for n in self.nodes for _, s in n.fence_passwords]
        return tuple(s for s in found if s is not None and s.value)


def fence_password_variable(node_name, prefix="FENCE_PASSWORD"):
    return f"{prefix}_" + re.sub(r"[^A-Za-z0-9]", "_", node_name).upper()


def fence_password_source(env, node_name, prefix="FENCE_PASSWORD"):
    """The variable holding a node's BMC password: its own if set, else FENCE_PASSWORD (for the
    second fencing level, SECOND_FENCE_PASSWORD[_<NODE>])."""
    own = fence_password_variable(node_name, prefix)
    return own if env.get(own) else prefix


SECOND_FENCE_PASSWORD = "SECOND_FENCE_PASSWORD"


def shown(value, limit=40):
    """A value as an error message quotes it: repr, cut short."""
    text = repr(value) if not isinstance(value, (YamlInt, YamlFloat, YamlWord)) else value.text
    return text if len(text) <= limit else text[:limit] + "...'"


def text_problem(text, limit=255):
    """Why `text` cannot go to a node as one word or one line, or None."""
    if not text:
        return "must not be empty"
    control = CONTROL_RE.search(text)
    if control:
        what = {"\n": "a newline", "\r": "a carriage return", "\x00": "a NUL", "\t": "a tab"}.get(
            control.group(), f"the control character U+{ord(control.group()):04X}")
        return (f"must be single-line printable text: {shown(text)} contains {what} "
                f"at position {control.start() + 1}")
    if other := NOT_ASCII_RE.search(text):
        return (f"{shown(text)} holds U+{ord(other.group()):04X} at position {other.start() + 1}: "
                "only printable ASCII reaches a node (invisible, look-alike and non-ASCII "
                "characters read differently in different tools)")
    if text != text.strip():
        return f"{shown(text)} has leading or trailing blanks"
    if len(text) > limit:
        return f"is {len(text)} characters long, more than {limit}"
    return None


def as_text(value):
    """(the text a YAML scalar stands for, None) or (None, why it cannot stand for text).
    Numbers are taken as written only when YAML read them as written: `010` became 8."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, YamlWord):
        return None, (f"YAML reads {value.text} as {str(value.value).lower()}: write it in "
                      f"quotes ('{value.text}') if you mean the word")
    if isinstance(value, YamlInt):
        if re.fullmatch(r"0|[1-9][0-9]*", value.text):
            return value.text, None
        return None, (f"YAML reads {value.text} as the number {int(value)}: write it in quotes "
                      f"('{value.text}')")
    if isinstance(value, YamlFloat):
        if re.fullmatch(r"[0-9]+\.[0-9]+", value.text):
            return value.text, None
        return None, f"YAML reads {value.text} as the number {float(value)}: write it in quotes"
    if isinstance(value, bool):
        return None, f"YAML reads {str(value).lower()} as a boolean: write it in quotes"
    kind = {"date": "a date", "datetime": "a date and time", "list": "a list", "dict": "a mapping",
            "bytes": "binary data"}.get(type(value).__name__, type(value).__name__)
    return None, f"must be text, but YAML reads it as {kind}: write it in quotes"


class _Abandon(Exception):
    """The section being read cannot be read further; its problem is already recorded."""


class _Reader:
    """Walks the YAML tree, recording every problem with its dotted field path."""

    def __init__(self, path):
        self.path = path
        self.problems: list[tuple[str, str]] = []

    def note(self, where, problem):
        self.problems.append((where or "(top level)", problem))

    def fail(self, where, problem):
        self.note(where, problem)
        raise _Abandon

    def section(self, read, *args):
        """Run one section's reader; a problem in it leaves None and the next section runs."""
        try:
            return read(self, *args)
        except _Abandon:
            return None

    def mapping(self, data, where, allowed):
        if not isinstance(data, dict):
            self.fail(where, f"must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            self.fail(f"{where}.{unknown[0]}" if where else unknown[0],
                      f"unknown field (allowed: {', '.join(sorted(allowed))})")
        return data

    def get(self, data, key, where, kind, default=..., check=None, limit=255):
        dotted = f"{where}.{key}" if where else key
        if key not in data or data[key] is None:
            if default is ...:
                self.fail(dotted, "is required")
            return default
        value = data[key]
        if kind is int:
            if isinstance(value, YamlInt) and not re.fullmatch(r"0|[1-9][0-9]*", value.text):
                self.fail(dotted, f"YAML reads {value.text} as {int(value)}: write the number "
                          "in plain decimal")
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(dotted, f"must be an integer, got {shown(value)}")
            value = int(value)
        elif kind is bool:
            if isinstance(value, YamlWord):
                value = value.value  # yes/no in a true-or-false field mean what they say
            if not isinstance(value, bool):
                self.fail(dotted, f"must be true or false, got {shown(value)}")
        elif kind is str:
            value, problem = as_text(value)
            if problem is None:
                problem = text_problem(value, limit)
            if problem:
                self.fail(dotted, problem)
        elif kind is list:
            if not isinstance(value, list):
                self.fail(dotted, f"must be a list, got {type(value).__name__}")
        elif kind is dict:
            if not isinstance(value, dict):
                self.fail(dotted, f"must be a mapping, got {type(value).__name__}")
        if check:
            problem = check(value)
            if problem:
                self.fail(dotted, problem)
        return value

    def texts(self, data, key, where, check):
        """A list of texts, each checked."""
        out = []
        for i, item in enumerate(self.get(data, key, where, list, default=[])):
            dotted = f"{where}.{key}[{i}]"
            value, problem = as_text(item)
            problem = problem or text_problem(value) or check(value)
            if problem:
                self.fail(dotted, problem)
            out.append(value)
        return tuple(out)


# --- field checks: each returns why a value is wrong, or None ------------------------------

def check_name(value):
    if not NAME_RE.fullmatch(value):
        return (f"{shown(value)} is not a safe name: use letters, digits, '.', '-' or '_', "
                "starting with a letter or digit")
    return None


# pcs 0.10.6 and later refuse a cluster name with a dot or over 32 characters (corosync's knet
# and DLM read it); halb accepts only what every generation takes.
CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


def check_cluster_name(value):
    if not CLUSTER_NAME_RE.fullmatch(value):
        return (f"{shown(value)} is not a cluster name every pcs accepts: up to 32 letters, "
                "digits, '-' or '_' (pcs 0.10.6 and later refuse a dot or a longer name)")
    return None


# Ids Pacemaker or pcs give elements of their own: a resource of that id would be refused by pcs
# half way through a run, or collide with what pcs generates beside it.
RESERVED_IDS = ("cib-bootstrap-options", "rsc_defaults", "op_defaults", "rsc-options",
                "op-options", "build-resource-defaults", "configuration", "crm_config", "nodes",
                "resources", "constraints", "status", "fencing-topology", "alerts", "tags")
RESERVED_ID_PREFIXES = ("cib-", "pcmk", "location-", "colocation-", "order-", "fl-", "ticket-")
RESERVED_ID_SUFFIXES = ("-instance_attributes", "-meta_attributes", "-utilization",
                        "-operations", "-interval-")


def check_resource_id(value):
    if not RESOURCE_ID_RE.fullmatch(value):
        return (f"{shown(value)} is not a resource id pcs accepts: a letter or '_' first, then "
                "letters, digits, '.', '-' or '_'")
    lowered = value.lower()
    if lowered in RESERVED_IDS or lowered.startswith(RESERVED_ID_PREFIXES) or \
            any(suffix in lowered for suffix in RESERVED_ID_SUFFIXES):
        return (f"{shown(value)} is an id Pacemaker or pcs use for their own elements (or "
                "generate beside a resource): pcs would refuse it half way; choose another")
    return None


def check_node_name(value):
    problem = check_name(value)
    if problem is None and not value[0].isalpha():
        return (f"{shown(value)} must start with a letter: its fence device {value}-fence is a "
                "resource id")
    if problem is None and check_resource_id(f"{value}-fence"):
        return (f"{shown(value)} would name its fence device {value}-fence, an id Pacemaker or "
                "pcs use for their own elements; choose another")
    return problem


def check_interface(value):
    """A network interface name as the kernel takes it: at most 15 characters, no '/'."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}", value):
        return (f"{shown(value)} is not an interface name (up to 15 letters, digits, '.', '-', "
                "'_', as the kernel takes it)")
    return None


def check_port(value):
    return None if 1 <= value <= 65535 else f"{value} is not a TCP/UDP port (1-65535)"


def check_ssh_port(value):
    """sshd cannot listen where the cluster stack does."""
    if value in STACK_PORTS:
        return f"{value} is {STACK_PORTS[value]}'s port on the nodes, not sshd's"
    return check_port(value)


def check_address(value):
    """An IP address a host can be reached at, or a host name. Forms that tools read
    differently are refused: inet_aton's 0x0a.0.0.2, 10.1 or 167772162 (a "host name" that
    ping and ssh take for 10.0.0.2), IPv4-mapped IPv6 (::ffff:10.0.0.2 is the IPv4 host)."""
    if "%" in value:
        return (f"{shown(value)} has an IPv6 scope id (%...): not supported here; use an address "
                "without one")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        if not HOSTNAME_RE.fullmatch(value):
            return f"{shown(value)} is neither an IP address nor a valid host name"
        if not value.rstrip(".").rsplit(".", 1)[-1][0].isalpha():
            return (f"{shown(value)} is neither an IP address nor a host name whose last label "
                    "starts with a letter: resolvers read such names as numeric addresses "
                    "(0x0a.0.0.2, 10.1, 167772162 all mean an IPv4 address)")
        return None
    if address.version == 6 and (address.ipv4_mapped or
                                 (address.packed[:12] == bytes(12) and int(address) > 1)):
        embedded = address.ipv4_mapped or ipaddress.IPv4Address(address.packed[12:])
        return (f"{value} is the IPv4 host {embedded} written as IPv6: write {embedded}, so that "
                "it compares equal to its other spellings")
    if address.is_unspecified:
        return f"{value} is the unspecified address: no host answers at it"
    if address.is_multicast:
        return f"{value} is a multicast address: no single host answers at it"
    if address == ipaddress.ip_address("255.255.255.255"):
        return f"{value} is the broadcast address"
    return None


def canonical_address(value):
    """One spelling per address, so that comparisons mean what they say: an IP address as
    ipaddress writes it (2001:db8::1 for 2001:0DB8:0:0::1), a host name without
    its root dot (compared without regard to case). Only for values check_address accepted."""
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value.rstrip(".")


def duration_ms(value, bare="ms"):
    """'1500ms', '1.5s', '2s', '1m', '1h' or a bare number in `bare` units -> milliseconds, or
    None. corosync counts bare numbers in ms, Pacemaker (intervals, delays) in seconds."""
    if isinstance(value, bool) or value is None:
        return None
    match = re.fullmatch(r"([0-9]{1,9}(?:\.[0-9]{1,9})?)(ms|s|m|min|h)?",
                         value.text if isinstance(value, (YamlInt, YamlFloat)) else str(value))
    if not match:
        return None
    return round(float(match.group(1)) * DURATION_SCALE_MS[match.group(2) or bare])


DURATION_SCALE_MS = {"ms": 1, "s": 1000, "m": 60000, "min": 60000, "h": 3600000}


# How a Pacemaker duration (an interval, a delay, a timeout) is written here: whole units.
# Pacemaker counts pcmk_delay_base in whole seconds (500ms becomes 0), pcs 0.11.7 and later refuse
# sub-second monitor intervals, and Pacemaker before 2.1 reads a fraction such as 0.5m as 0 (which
# turns a monitor off): a form every generation reads the same way is the only one accepted.
PACEMAKER_DURATION_RE = re.compile(r"(0|[1-9][0-9]{0,6})(s|m|min|h)?")
PACEMAKER_UNIT_S = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def pacemaker_seconds(value):
    """A Pacemaker duration as accepted here ('30s', '2m', '1h', a bare number of seconds) ->
    seconds, or None."""
    text = value.text if isinstance(value, (YamlInt, YamlFloat)) else str(value)
    match = PACEMAKER_DURATION_RE.fullmatch(text)
    return int(match.group(1)) * PACEMAKER_UNIT_S[match.group(2)] if match else None


def check_duration(least_s, most_s, why_least):
    """A Pacemaker duration in whole seconds, minutes or hours, between the two bounds."""
    def check(value):
        seconds = pacemaker_seconds(value)
        if seconds is None:
            return (f"{shown(value)} is not a duration in whole units such as 10s, 2m or 1h: "
                    "Pacemaker and pcs count whole seconds (pcs 0.11.7+ refuses sub-second "
                    "intervals, pcmk_delay_base drops fractions, Pacemaker < 2.1 reads 0.5m as 0)")
        if seconds < least_s:
            return f"{value} is below {least_s}s: {why_least}"
        if seconds > most_s:
            return f"{value} is above {most_s}s"
        return None
    return check


check_monitor_interval = check_duration(1, 86400, "0 would turn the recurring monitor off")
check_race_delay = check_duration(0, 60, "")
check_request_timeout = check_duration(1, 3600, "pcs needs at least a second")


def check_path(value):
    if not PATH_RE.fullmatch(value) or "/../" in f"{value}/" or "//" in value:
        return f"{shown(value)} is not a plain absolute path (letters, digits, '.', '-', '_', '/')"
    return None


def within(low, high, unit=""):
    return lambda v: None if low <= v <= high else f"{v}{unit} is not between {low} and {high}{unit}"


def one_of(choices, what):
    return lambda v: None if v in choices else f"{shown(v)} is not {what} ({', '.join(choices)})"


# --- options: name=value pairs for pcs ----------------------------------------------------

def option_key(name):
    """How pcs and the agents see an option name: case and '-' versus '_' do not matter."""
    return name.lower().replace("-", "_")


# A name that says it carries a secret: such a value would sit in the CIB in plain text.
# The agent's meta-data decides at the fence step (plan/fence.py); this catches the usual names
# before any host is asked.
SECRET_OPTION_RE = re.compile(r"pass|secret|token|credential|(^|_)key$|private|communit|apikey|"
                              r"api_key|access_key|_kg$|(^|_)psk")


def read_options(reader, data, where, reserved=(), reserved_why=""):
    if data is None:
        return ()
    if not isinstance(data, dict):
        reader.fail(where, "must be a mapping of option names to values")
    out, seen = [], {}
    for name, value in data.items():
        dotted = f"{where}.{name}"
        if not OPTION_NAME_RE.fullmatch(name):
            reader.fail(dotted, "is not a valid option name (letters, digits, '_' and '-', "
                        "a letter or '_' first)")
        key = option_key(name)
        if key in seen:
            reader.fail(dotted, f"is the same option as {where}.{seen[key]}")
        seen[key] = name
        if key in reserved:
            reader.fail(dotted, reserved_why)
        if SECRET_OPTION_RE.search(key):
            reader.fail(dotted, "names a secret, which would be stored in the CIB in plain text; "
                        "halb passes BMC passwords from the environment through a file instead")
        if isinstance(value, bool):
            value = "1" if value else "0"
        text, problem = as_text(value)
        problem = problem or text_problem(text, limit=1024)
        if problem:
            reader.fail(dotted, problem)
        out.append((name, text))
    return tuple(out)


# --- secrets -------------------------------------------------------------------------------

def read_secrets(env_file=".env", environ=None):
    """Environment variables win over the .env file, which never overrides what is set."""
    values = {}
    if env_file and Path(env_file).is_file():
        try:
            raw = Path(env_file).read_bytes()
        except OSError as exc:
            raise UserError(f"{env_file}: cannot be read: {exc.strerror or exc}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise UserError(f"{env_file}: line {line}: is not UTF-8 text") from None
        values.update(parse_env_file(text, env_file))
    values.update(os.environ if environ is None else environ)
    return values


ENV_LINE_RE = re.compile(r"(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def parse_env_file(text, where=".env"):
    """The .env file's one rule: `NAME=value` per line (`export ` before it allowed), blank lines
    and lines starting with # ignored. The value is everything after `=`, taken literally: no
    escapes, no ${VAR}. Quoted in '...' or "..." it may hold blanks and #, and the quotes go. An
    unquoted value holding ' #' is refused: other readers cut a comment there, this one would
    not, so what is meant is unclear."""
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = ENV_LINE_RE.fullmatch(line)
        if not match:
            raise UserError(f"{where}: line {number}: is not NAME=value")
        name, value = match.groups()
        if value[:1] in ("'", '"'):
            quote = value[0]
            if len(value) < 2 or not value.endswith(quote) or quote in value[1:-1]:
                raise UserError(f"{where}: line {number}: {name}'s value opens a {quote} but does "
                                "not end with it (no quote inside, nothing after it)")
            value = value[1:-1]
        elif value != value.strip():
            raise UserError(f"{where}: line {number}: {name}'s value has blanks around it: "
                            "quote it if they belong to it")
        elif " #" in value or "\t#" in value:
            raise UserError(f"{where}: line {number}: {name}'s value holds ' #', which other .env "
                            "readers take for a comment: quote the value ('...') to keep it")
        values[name] = value
    return values


# The most a node's tools take: ipmitool (fence_ipmilan) refuses an IPMI 2.0 password over 20
# bytes; pcs, chpasswd and the other agents read far longer lines.
MAX_SECRET_LENGTH = {"fence_ipmilan": 20}
DEFAULT_MAX_SECRET_LENGTH = 255


@functools.lru_cache(maxsize=1)
def own_words():
    """Everything halb itself can print or write: its code, its templates, its OCF agent. A
    secret found in there would be masked wherever halb prints that word."""
    from .render import AGENT, TEMPLATES
    root = Path(__file__).resolve().parent
    files = [*root.rglob("*.py"), AGENT, *TEMPLATES.glob("*.j2")]
    return "\n".join(f.read_text(encoding="utf-8", errors="replace").lower()
                     for f in files if f.is_file())


def config_values(data):
    """Every scalar of a parsed config, as its text (after YAML's escapes: "\\x41" is "A")."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from config_values(value)
    elif isinstance(data, list):
        for item in data:
            yield from config_values(item)
    elif data is not None:
        yield getattr(data, "text", str(data))


def secret_problem(value, config_text, agent=None):
    """Why a secret cannot be used, or None. Output is masked by value, so a secret that also
    stands for something else would either give itself away or hide that word: such secrets
    are refused, not masked around."""
    if not value.strip():
        return "is blank"
    if CONTROL_RE.search(value) or NOT_ASCII_RE.search(value):
        return "must be one line of printable ASCII characters"
    if len(value) < MIN_SECRET_LENGTH:
        return (f"is shorter than {MIN_SECRET_LENGTH} characters: too easy to guess, and masking "
                "it in output would give it away")
    longest = MAX_SECRET_LENGTH.get(agent, DEFAULT_MAX_SECRET_LENGTH)
    if len(value) > longest:
        return (f"is {len(value)} characters long: the node's tools take at most {longest}"
                + (f" (for {agent})" if agent in MAX_SECRET_LENGTH else ""))
    if re.fullmatch(r"[A-Za-z._-]+", value):
        return ("is spelled like a name (only letters, '.', '-', '_'): the names that halb, pcs "
                "and Pacemaker print are spelled so; add a digit or another symbol")
    lowered = value.lower()
    if lowered in config_text.lower() or lowered in own_words():
        return ("also appears in the config or in what halb prints: masking it in output would "
                "give it away or hide that text; choose another")
    return None


class _Secrets:
    """Reads the secrets a config needs, noting the missing and the unusable."""

    def __init__(self, reader, env, config_text):
        self.reader, self.env, self.config_text = reader, env, config_text
        self.missing: list[str] = []

    def __call__(self, name, agent=None):
        value = self.env.get(name, "")
        if not value:
            self.missing.append(name)
        elif problem := secret_problem(value, self.config_text, agent):
            if (name, problem) not in self.reader.problems:  # one variable, several nodes
                self.reader.note(name, problem)
        return Secret(name, value or "")


# --- sections --------------------------------------------------------------------------------

TOP_FIELDS = ("cluster", "platform", "ssh", "nodes", "vip", "fencing", "group", "service",
              "haproxy", "quorum", "install", "failover")


def _cluster(r, data):
    """cluster.name, and cluster.pcs_request_timeout: how long pcs waits for another node's pcsd
    (pcs --request-timeout; pcs's own default is 60 s, too short for a loaded or slow node)."""
    cluster = r.mapping(r.get(data, "cluster", "", dict), "cluster", ["name", "pcs_request_timeout"])
    name = r.get(cluster, "name", "cluster", str, check=check_cluster_name)
    timeout = r.get(cluster, "pcs_request_timeout", "cluster", str, default=None,
                    check=check_request_timeout)
    return name, (None if timeout is None else pacemaker_seconds(timeout))


def _platform(r, data):
    return r.get(data, "platform", "", str, default=None, check=one_of(PLATFORMS, "a known platform"))


def _ssh(r, data):
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


def _declared_agent(data):
    """fencing.agent as written (the fencing section checks it): the nodes' bmc blocks are read
    for that agent."""
    fencing = data.get("fencing")
    agent = fencing.get("agent") if isinstance(fencing, dict) else None
    return agent if isinstance(agent, str) and FENCE_AGENT_RE.fullmatch(agent) else "fence_ipmilan"


def _declared_second_agent(data):
    """fencing.second_level.agent as written: None without a second level, "" when the fencing
    section will refuse the agent (the nodes' second_level blocks are then not read)."""
    fencing = data.get("fencing")
    second = fencing.get("second_level") if isinstance(fencing, dict) else None
    if second is None:
        return None
    agent = second.get("agent") if isinstance(second, dict) else None
    return agent if isinstance(agent, str) and FENCE_AGENT_RE.fullmatch(agent) else ""


def _bmc(r, raw, where, agent, block="bmc"):
    profile = fence_profile(agent)
    bmc = r.mapping(r.get(raw, block, where, dict), f"{where}.{block}",
                    ["address", "port", "username", "plug"])
    where = f"{where}.{block}"
    taken = {"address": profile.address, "port": profile.address, "username": profile.login,
             "plug": profile.plug is not None}
    for key, ok in taken.items():
        if not ok and bmc.get(key) is not None:
            r.fail(f"{where}.{key}", f"{agent} takes no {key}: it reaches {profile.reaches}; "
                   "remove it")
    plug_check = check_name
    if agent == "fence_aws":
        plug_check = lambda v: None if re.fullmatch(r"i-[0-9a-f]{8}([0-9a-f]{9})?", v) else \
            f"{shown(v)} is not an EC2 instance id (i-...)"  # noqa: E731
    return Bmc(
        address=canonical_address(r.get(bmc, "address", where, str, check=check_address))
        if profile.address else None,
        port=r.get(bmc, "port", where, int, default=profile.default_port, check=check_port)
        if profile.address else None,
        username=r.get(bmc, "username", where, str, check=check_name) if profile.login else None,
        plug=r.get(bmc, "plug", where, str, default=... if profile.plug_required else None,
                   check=plug_check) if profile.plug else None,
    )


def _nodes(r, data, ssh_defaults, secret):
    _, default_user, default_port = ssh_defaults
    node_list = r.get(data, "nodes", "", list)
    if len(node_list) != 2:
        r.fail("nodes", f"a two-node cluster needs exactly 2 nodes, got {len(node_list)}")
    agent, second_agent = _declared_agent(data), _declared_second_agent(data)
    login = fence_profile(agent).login
    second_login = bool(second_agent) and fence_profile(second_agent).login
    nodes = []
    for i, raw in enumerate(node_list):
        where = f"nodes[{i}]"
        r.mapping(raw, where, ["name", "address", "ssh_address", "ssh_user", "ssh_port", "bmc",
                               "second_level"])
        name = r.get(raw, "name", where, str, check=check_node_name)
        if second_agent is None and isinstance(raw, dict) and raw.get("second_level") is not None:
            r.fail(f"{where}.second_level", "is only used with fencing.second_level; remove it "
                   "or add that")
        nodes.append(Node(
            name=name,
            address=canonical_address(r.get(raw, "address", where, str, check=check_address)),
            ssh_address=canonical_address(r.get(raw, "ssh_address", where, str, default=None,
                                                check=check_address)),
            ssh_user=r.get(raw, "ssh_user", where, str, default=default_user, check=check_name),
            ssh_port=r.get(raw, "ssh_port", where, int, default=default_port, check=check_ssh_port),
            bmc=_bmc(r, raw, where, agent),
            fence_password=secret(fence_password_source(secret.env, name), agent)
            if login else None,
            second_fence=_bmc(r, raw, where, second_agent, "second_level")
            if second_agent else None,
            second_fence_password=secret(fence_password_source(
                secret.env, name, SECOND_FENCE_PASSWORD), second_agent) if second_login else None,
        ))
    first, second = nodes
    for attr in ("name", "address"):
        if getattr(first, attr).lower() == getattr(second, attr).lower():
            r.fail(f"nodes[1].{attr}", f"{shown(getattr(second, attr))} is used by both nodes")
    if (first.ssh_host.lower(), first.ssh_port) == (second.ssh_host.lower(), second.ssh_port):
        r.fail("nodes[1].ssh_address" if second.ssh_address else "nodes[1].ssh_port",
               f"both nodes are reached over SSH at {second.ssh_host} port {second.ssh_port}: "
               "every step would run twice on one host")
    for i, node in enumerate(nodes):
        other = nodes[1 - i]
        if node.ssh_address and node.ssh_address.lower() == other.address.lower():
            r.fail(f"nodes[{i}].ssh_address", f"{node.ssh_address} is node {other.name}'s address")
        for block, target in (("bmc", node.bmc), ("second_level", node.second_fence)):
            if target and target.address and target.address.lower() in \
                    {a.lower() for n in nodes for a in (n.address, n.ssh_address) if a}:
                r.fail(f"nodes[{i}].{block}.address", f"{target.address} is a cluster node's own "
                       "address: a fence target is the power of a node, reached elsewhere")
    if (login or second_login) and \
            fence_password_variable(first.name) == fence_password_variable(second.name):
        r.fail("nodes[1].name", f"{first.name!r} and {second.name!r} would both read their BMC "
               f"password from {fence_password_variable(first.name)}: rename one")
    for block, a, b in (("bmc", first.bmc, second.bmc),
                        ("second_level", first.second_fence, second.second_fence)):
        if a is not None and (a.address, a.port, a.plug) == (b.address, b.port, b.plug):
            field = "plug" if a.plug else "address"
            what = "BMC (fence target)" if block == "bmc" else "second-level fence target"
            r.fail(f"nodes[1].{block}.{field}", f"both nodes name the same {what}: each node "
                   "needs its own")
    return tuple(nodes)


def _quorum(r, data, nodes, ssh_defaults):
    _, ssh_user, ssh_port = ssh_defaults
    raw = r.mapping(r.get(data, "quorum", "", dict, default={}), "quorum",
                    ["no_quorum_policy_ignore", "device"])
    ignore = r.get(raw, "no_quorum_policy_ignore", "quorum", bool, default=False)
    device = raw.get("device")
    if device is None:
        return ignore, None
    where = "quorum.device"
    r.mapping(device, where, ["host", "address", "algorithm", "ssh_user", "ssh_port"])
    host = r.get(device, "host", where, str, check=check_name)
    address = canonical_address(r.get(device, "address", where, str, check=check_address))
    for node in nodes:
        if host.lower() == node.name.lower():
            r.fail(f"{where}.host", f"{host!r} is a cluster node: the arbiter must be a third host")
        if address.lower() in (node.address.lower(), (node.ssh_address or "").lower()):
            r.fail(f"{where}.address", f"{address} is the address of node {node.name}")
    arbiter = Node(name=host, address=address,
                   ssh_user=r.get(device, "ssh_user", where, str, default=ssh_user, check=check_name),
                   ssh_port=r.get(device, "ssh_port", where, int, default=ssh_port, check=check_port),
                   bmc=None, fence_password=None)
    algorithm = r.get(device, "algorithm", where, str, default="ffsplit",
                      check=one_of(QUORUM_ALGORITHMS, "a qnetd algorithm"))
    return ignore, QuorumDevice(arbiter, algorithm)


def vip_address_problem(vip, prefix):
    """Why a floating address cannot work in its subnet, or None."""
    if vip.is_unspecified or vip.is_multicast or vip.is_loopback:
        kind = "unspecified" if vip.is_unspecified else "multicast" if vip.is_multicast else "loopback"
        return f"{vip} is a {kind} address: other hosts could not reach the VIP"
    if vip.is_link_local:
        return f"{vip} is link-local: not routed beyond the segment, and not for a service address"
    if vip.version == 4 and vip.is_reserved:
        return f"{vip} is in the reserved range 240.0.0.0/4"
    subnet = ipaddress.ip_network(f"{vip}/{prefix}", strict=False)
    if subnet.num_addresses > 2:  # /31 and /32 (/127, /128) have no network or broadcast address
        if vip == subnet.network_address:
            return (f"{vip} is the network address of {subnet}"
                    + (" (the subnet-router anycast address)" if vip.version == 6 else ""))
        if vip.version == 4 and vip == subnet.broadcast_address:
            return f"{vip} is the broadcast address of {subnet}"
    return None


AWS_ID = r"[0-9a-f]{8}([0-9a-f]{9})?"


def is_ipv4(value):
    try:
        return ipaddress.ip_address(value).version == 4
    except ValueError:
        return False
# vip.cloud.provider -> {field: (required, check)}; what each field becomes is the vip step's.
VIP_PROVIDERS = {
    # aws-vpc-move-ip: the VPC route tables send the address (outside the VPC's CIDR) to the
    # node that holds it.
    "aws-route": {
        "routing_table": (True, lambda v: None if re.fullmatch(
            rf"rtb-{AWS_ID}(,rtb-{AWS_ID})*", v) else
            f"{shown(v)} is not a route table id (rtb-..., several comma-separated)"),
        "region": (False, lambda v: None if re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", v) else
                   f"{shown(v)} is not an AWS region (e.g. eu-west-1)"),
        "profile": (False, check_name),
    },
    # awsvip moves a secondary private address between the instances' interfaces, awseip the
    # Elastic IP that points at it.
    "aws-eip": {
        "elastic_ip": (True, lambda v: None if is_ipv4(v) else
                       f"{shown(v)} is not an IPv4 address in dotted decimal"),
        "allocation_id": (True, lambda v: None if re.fullmatch(rf"eipalloc-{AWS_ID}", v) else
                          f"{shown(v)} is not an allocation id (eipalloc-...)"),
        # awsvip and awseip take no region: it comes from the AWS CLI profile.
        "profile": (False, check_name),
    },
    # gcp-vpc-move-vip moves an alias IP range (the VIP/32) to the node's interface.
    "gcp-alias": {
        "alias_range_name": (False, check_name),
    },
    # azure-lb answers the Azure load balancer's health probe on the node that holds the VIP.
    "azure-lb": {
        "probe_port": (False, None),
    },
}
AZURE_PROBE_PORT = 61000
# The resources a provider adds next to the VIP's own, by role (see plan/vip.py).
VIP_EXTRA_ROLES = {"aws-eip": ("private", "eip"), "gcp-alias": ("alias",), "azure-lb": ("lb",)}
ROUTED_VIPS = ("aws-route", "gcp-alias")


def _cloud_vip(r, raw):
    data = r.get(raw, "cloud", "vip", dict, default=None)
    if data is None:
        return None
    provider = r.get(data, "provider", "vip.cloud", str,
                     check=one_of(tuple(VIP_PROVIDERS), "a cloud VIP provider"))
    fields = VIP_PROVIDERS[provider]
    r.mapping(data, "vip.cloud", ["provider", *fields])
    settings = []
    for key, (required, check) in fields.items():
        if key == "probe_port":
            value = r.get(data, key, "vip.cloud", int, default=AZURE_PROBE_PORT, check=check_port)
        else:
            value = r.get(data, key, "vip.cloud", str, default=... if required else None,
                          check=check)
        if value is not None:
            settings.append((key, str(value)))
    return CloudVip(provider, tuple(settings))


def _vip(r, data, nodes, arbiter):
    raw = r.mapping(r.get(data, "vip", "", dict), "vip",
                    ["ip", "cidr_netmask", "nic", "resource_id", "monitor_interval", "cloud"])
    cloud = _cloud_vip(r, raw)
    ip = r.get(raw, "ip", "vip", str)
    try:
        if "%" in ip:
            raise ValueError
        address = ipaddress.ip_address(ip)
    except ValueError:
        r.fail("vip.ip", f"{shown(ip)} is not an IP address (without scope id)")
    if problem := check_address(ip):
        r.fail("vip.ip", problem)
    ip = str(address)
    longest = 32 if address.version == 4 else 128
    prefix = r.get(raw, "cidr_netmask", "vip", int,
                   check=lambda v: None if 1 <= v <= longest else
                   f"{v} is not a prefix length for IPv{address.version} (1-{longest})")
    if problem := vip_address_problem(address, prefix):
        r.fail("vip.ip", problem)
    subnet = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    others = [(f"node {n.name}", n.address) for n in nodes]
    others += [(f"the SSH address of {n.name}", n.ssh_address) for n in nodes if n.ssh_address]
    others += [(f"the BMC of {n.name}", n.bmc.address) for n in nodes if n.bmc.address]
    others += [(f"the arbiter {arbiter.name}", arbiter.address)] if arbiter else []
    for what, other in others:
        try:
            if ipaddress.ip_address(other) == address:
                r.fail("vip.ip", f"{ip} is also the address of {what}")
        except ValueError:
            continue  # a host name
    for node in nodes:
        try:
            node_address = ipaddress.ip_address(node.address)
        except ValueError:
            continue  # a host name: its subnet is only known once resolved
        # A route table sends an overlay address from outside the VPC's CIDR, and a GCP alias is
        # routed to the instance as a /32: neither shares a subnet with the node.
        if node_address not in subnet and not (cloud and cloud.provider in ROUTED_VIPS):
            r.fail("vip.ip", f"{ip}/{prefix} is not in the subnet of node {node.name} "
                   f"({node.address}): the VIP could not be raised on its interface")
    return Vip(
        ip=ip, cidr_netmask=prefix,
        nic=r.get(raw, "nic", "vip", str, default=None, check=check_interface),
        resource_id=r.get(raw, "resource_id", "vip", str, default="vip", check=check_resource_id),
        monitor_interval=r.get(raw, "monitor_interval", "vip", str, default="10s",
                               check=check_monitor_interval),
        cloud=cloud,
    )


def _failover(r, data):
    raw = r.mapping(r.get(data, "failover", "", dict, default={}), "failover",
                    ["profile", "token", "consensus"])
    profile = r.get(raw, "profile", "failover", str, default="conservative",
                    check=one_of(tuple(FAILOVER_PROFILES), "a profile"))
    token_default, consensus_default, _, qdevice_timeout = FAILOVER_PROFILES[profile]

    def milliseconds(key, default):
        value = raw.get(key)
        if value is None:
            return default
        ms = duration_ms(value)
        if ms is None:
            r.fail(f"failover.{key}", f"{shown(value)} is not a duration such as 1000ms or 1.5s "
                   "(a bare number means milliseconds)")
        if ms > 60000:
            r.fail(f"failover.{key}", f"{ms} ms is above 60 s")
        return ms

    token = milliseconds("token", token_default)
    if token < MIN_TOKEN_MS:
        r.fail("failover.token", f"{token} ms is below {MIN_TOKEN_MS} ms: nodes would drop out of "
               "the membership (and be fenced) on scheduling stalls and reloads")
    consensus = milliseconds("consensus", round(token * 1.2) if "token" in raw else consensus_default)
    if consensus < round(token * 1.2):
        r.fail("failover.consensus", f"{consensus} ms is below 1.2 x token "
               f"({round(token * 1.2)} ms), the least corosync accepts")
    return Failover(profile, token, consensus, qdevice_timeout)


# Set by halb from the nodes' bmc and the secrets; a second spelling would fight them.
FENCE_RESERVED = {option_key(k) for k in (
    "ip", "ipaddr", "ipport", "username", "login", "password", "passwd", "password_script",
    "passwd_script", "pcmk_host_list", "pcmk_delay_base", "plug", "port")}
# Agent parameters that would change what halb itself asks of the agent. halb runs the agent for a
# status check before STONITH is enabled, in preflight and for the drill's power-on: with these
# set, a status check could power a node off, or every action "succeed" without acting.
FENCE_REFUSED = {
    "action": "halb gives the action itself (status, on, off, reboot); the agent keeps the last "
              "action= it reads, so a status check could become a power-off",
    "version": "makes the agent print its version and exit 0 without acting: Pacemaker would "
               "take every fence for done",
    "help": "makes the agent print its usage and exit without acting",
    "debug": "makes the agent write a file of its choosing as root",
    "debug_file": "makes the agent write a file of its choosing as root",
}
def _pcmk_timeout(value):
    return check_duration(1, 3600, "")(value)


# Pacemaker's own device options that halb accepts, as pacemaker-fenced documents them for every
# device, with what each may be. Every other pcmk_* (pcmk_host_check, pcmk_host_map,
# pcmk_off_action, ...) decides which node a device fences or what "off" means: halb sets or
# depends on those.
PCMK_DEVICE_OPTIONS = {
    "pcmk_reboot_action": one_of(("reboot", "off"), "an action a fence may take"),
    "pcmk_delay_max": check_duration(0, 60, ""),
    "pcmk_action_limit": lambda v: None if re.fullmatch(r"-1|[1-9]|1[0-6]", v) else
    f"{shown(v)} is not -1 (no limit) or 1-16",
    **{f"pcmk_{action}_timeout": _pcmk_timeout
       for action in ("reboot", "off", "on", "monitor", "status", "list")},
    **{f"pcmk_{action}_retries": lambda v: None if re.fullmatch(r"[0-9]|10", v) else
       f"{shown(v)} is not a number of retries (0-10)"
       for action in ("reboot", "off", "on", "monitor", "status", "list")},
}


def _fencing(r, data, nodes, arbiter, failover):
    raw = r.mapping(r.get(data, "fencing", "", dict), "fencing",
                    ["agent", "options", "preferred_node", "race_delay", "monitor_interval",
                     "status_timeout", "second_level"])
    names = tuple(n.name for n in nodes)
    # With an arbiter the split is settled by quorum, not by a race.
    race_default = "0s" if arbiter else (FAILOVER_PROFILES[failover.profile][2] if failover else "2s")
    agent, options = _agent_and_options(r, raw, Fencing.field_of(1), "bmc",
                                        default="fence_ipmilan")
    second = None
    if raw.get("second_level") is not None:
        where = Fencing.field_of(2)
        r.mapping(raw["second_level"], where, ["agent", "options"])
        second = SecondLevel(*_agent_and_options(r, raw["second_level"], where, "second_level"))
    return Fencing(
        second_level=second,
        agent=agent,
        options=options,
        preferred_node=r.get(raw, "preferred_node", "fencing", str, default=names[0],
                             check=one_of(names, "one of the nodes")),
        race_delay=r.get(raw, "race_delay", "fencing", str, default=race_default,
                         check=check_race_delay),
        monitor_interval=r.get(raw, "monitor_interval", "fencing", str, default="60s",
                               check=check_monitor_interval),
        status_timeout=r.get(raw, "status_timeout", "fencing", int, default=30,
                             check=within(1, 600, "s")),
    )


def _agent_and_options(r, raw, where, block, default=...):
    """A fencing level's agent and its options (`block` is the nodes' block they go with)."""
    agent = r.get(raw, "agent", where, str, default=default,
                  check=lambda v: None if FENCE_AGENT_RE.fullmatch(v) else
                  f"{shown(v)} is not a fence agent name (fence_...)")
    options = read_options(r, raw.get("options"), f"{where}.options", FENCE_RESERVED,
                           f"is set from the node's {block} block and secrets; remove it here")
    for name, value in options:
        dotted, key = f"{where}.options.{name}", option_key(name)
        if key in FENCE_REFUSED:
            r.fail(dotted, f"is not accepted: {FENCE_REFUSED[key]}")
        if key.startswith("pcmk_"):
            check = PCMK_DEVICE_OPTIONS.get(key)
            if check is None:
                r.fail(dotted, "is not a Pacemaker device option halb accepts: it decides which "
                       "node the device fences or what its actions do, which halb sets (accepted: "
                       f"{', '.join(sorted(PCMK_DEVICE_OPTIONS))})")
            if problem := check(value):
                r.fail(dotted, problem)
    given = {k for k, _ in options}
    for key in fence_profile(agent).required_options:
        if key not in given:
            r.note(f"{where}.options.{key}", f"is required by {agent}")
    return agent, options


# Set by halb on the HAProxy resource from the haproxy section.
HAPROXY_RESERVED = {"conffile", "stats_socket", "status_url", "config_checksum"}
# haproxy's command-line flags a config may add (service.options.extra_opts), with what each
# takes. Others are refused: -f, -C or -W change which config runs or which process the agent
# manages, -p, -D, -x, -sf are the agent's own.
HAPROXY_FLAGS = {"-L": check_name, "-N": lambda v: None if re.fullmatch(r"[1-9][0-9]{0,6}", v)
                 else f"{shown(v)} is not a connection limit", "-q": None, "-dr": None,
                 "-dV": None, "-dW": None}


def check_haproxy_flags(value):
    words = value.split()
    while words:
        flag = words.pop(0)
        if flag not in HAPROXY_FLAGS:
            return (f"{shown(flag)} is not a haproxy flag halb passes on (accepted: "
                    f"{', '.join(HAPROXY_FLAGS)}): the agent runs haproxy with its own -f, -p, -D")
        if HAPROXY_FLAGS[flag]:
            if not words:
                return f"{flag} needs a value"
            if problem := HAPROXY_FLAGS[flag](words.pop(0)):
                return f"{flag}: {problem}"
    return None


# What else of ocf:halb:haproxy a config may set, and what each may be.
HAPROXY_SERVICE_OPTIONS = {
    "extra_opts": check_haproxy_flags,
    "binary": lambda v: check_path(v) or (None if v.rsplit("/", 1)[1].startswith("haproxy") else
                                          f"{shown(v)} is not a haproxy binary"),
    "pidfile": lambda v: check_file_in(HAPROXY_PIDFILE_DIRS, ".pid")(v),
}


def _service(r, data):
    raw = r.mapping(r.get(data, "service", "", dict, default={}), "service",
                    ["agent", "resource_id", "options", "monitor_interval", "packages"])
    agent = r.get(raw, "agent", "service", str, default=HAPROXY_AGENT,
                  check=lambda v: None if v == HAPROXY_AGENT or AGENT_RE.fullmatch(v) else
                  f"{shown(v)} is not a resource agent ('haproxy', ocf:PROVIDER:TYPE, "
                  "systemd:UNIT, lsb:NAME or service:NAME)")
    reserved = HAPROXY_RESERVED if agent == HAPROXY_AGENT else ()
    options = read_options(r, raw.get("options"), "service.options", reserved,
                           "is set by halb from the haproxy section; remove it here")
    if options and agent.startswith(("systemd:", "service:", "lsb:")):
        r.fail(f"service.options.{options[0][0]}", f"{agent} takes no options: a "
               f"{agent.split(':')[0]} resource runs the unit or script as it is")
    if agent == HAPROXY_AGENT:
        for name, value in options:
            check = HAPROXY_SERVICE_OPTIONS.get(option_key(name))
            if check is None:
                r.fail(f"service.options.{name}", "is not an option of halb's HAProxy agent that "
                       f"a config may set (accepted: {', '.join(HAPROXY_SERVICE_OPTIONS)})")
            if problem := check(value):
                r.fail(f"service.options.{name}", problem)
    return Service(
        agent=agent,
        resource_id=r.get(raw, "resource_id", "service", str, default="haproxy",
                          check=check_resource_id),
        options=options,
        monitor_interval=r.get(raw, "monitor_interval", "service", str, default="10s",
                               check=check_monitor_interval),
        packages=r.texts(raw, "packages", "service", check_package),
    )


def check_package(value):
    return None if PACKAGE_RE.fullmatch(value) else f"{shown(value)} is not a package name"


def _install(r, data):
    raw = r.mapping(r.get(data, "install", "", dict, default={}), "install",
                    ["extra_packages", "package_repo"])
    return (r.texts(raw, "extra_packages", "install", check_package),
            r.get(raw, "package_repo", "install", str, default=None, check=check_name))


# The template's own frontend: a config's proxy may not take its name.
HEALTH_FRONTEND = "halb_health"


# Ports the cluster stack itself listens on, on every node: a frontend there passes `haproxy -c`
# but cannot bind (or takes the port from the stack when it restarts first).
STACK_PORTS = {2224: "pcsd", 3121: "pacemaker-remoted", 5403: "corosync-qnetd",
               5404: "corosync", 5405: "corosync", 5406: "corosync", 21064: "DLM"}
# Where halb writes HAProxy's config and lets it put its socket: the folders the haproxy package
# creates on every platform, one file each. A folder, another package's file or a path outside
# them is refused.
HAPROXY_CONFIG_DIR = "/etc/haproxy"
HAPROXY_SOCKET_DIRS = ("/run/haproxy", "/var/lib/haproxy")
HAPROXY_PIDFILE_DIRS = ("/run/haproxy", "/run/resource-agents")
FILE_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")


def check_file_in(folders, suffix=""):
    """A file directly inside one of `folders`, its name plain and ending in `suffix`."""
    def check(value):
        folder, _, name = value.rpartition("/")
        if folder not in folders or not FILE_NAME_RE.fullmatch(name) or not name.endswith(suffix) \
                or name == suffix:
            where = " or ".join(f"{f}/" for f in folders)
            return (f"{shown(value)} is not a file name directly in {where}"
                    + (f" ending in {suffix}" if suffix else "") + ": halb writes or removes only "
                    "its own files in the folders the package owns")
        return None
    return check


def port_owner(port, nodes):
    """What already listens on `port` on a node, or None."""
    ssh = {n.ssh_port for n in nodes} | {22}
    return "sshd" if port in ssh else STACK_PORTS.get(port)


def _haproxy(r, data, vip, nodes=()):
    raw = r.mapping(r.get(data, "haproxy", "", dict), "haproxy",
                    ["config_path", "stats_socket", "frontends", "backends", "health_port"])
    backends = []
    for i, b in enumerate(r.get(raw, "backends", "haproxy", list)):
        where = f"haproxy.backends[{i}]"
        r.mapping(b, where, ["name", "health_check", "servers"])
        servers = []
        for j, s in enumerate(r.get(b, "servers", where, list)):
            swhere = f"{where}.servers[{j}]"
            r.mapping(s, swhere, ["name", "address", "port"])
            server = Server(name=r.get(s, "name", swhere, str, check=check_name),
                            address=canonical_address(r.get(s, "address", swhere, str,
                                                            check=check_address)),
                            port=r.get(s, "port", swhere, int, check=check_port))
            if server.name in (x.name for x in servers):
                r.fail(f"{swhere}.name", f"{server.name!r} names two servers of this backend")
            if vip and server.address == vip.ip and server.port in (
                    f.get("port") for f in raw.get("frontends") or [] if isinstance(f, dict)):
                r.fail(f"{swhere}.address", f"{server.address}:{server.port} is a frontend of "
                       "this HAProxy: requests would loop")
            servers.append(server)
        if not servers:
            r.fail(f"{where}.servers", "needs at least one server")
        backends.append(Backend(
            name=r.get(b, "name", where, str, check=check_proxy_name),
            health_check=r.get(b, "health_check", where, str, default=None,
                               check=lambda v: None if URL_PATH_RE.fullmatch(v)
                               else f"{shown(v)} is not a URL path"),
            servers=tuple(servers),
        ))
    names = [b.name for b in backends]
    if not backends:
        r.fail("haproxy.backends", "needs at least one backend")
    if len(set(names)) != len(names):
        r.fail("haproxy.backends", "two backends have the same name")
    frontends = []
    for i, f in enumerate(r.get(raw, "frontends", "haproxy", list)):
        where = f"haproxy.frontends[{i}]"
        r.mapping(f, where, ["name", "port", "backend"])
        frontends.append(Frontend(
            name=r.get(f, "name", where, str, check=check_proxy_name),
            port=r.get(f, "port", where, int, check=check_port),
            backend=r.get(f, "backend", where, str, check=one_of(tuple(names), "one of the backends")),
        ))
    if not frontends:
        r.fail("haproxy.frontends", "needs at least one frontend")
    if len({f.name for f in frontends}) != len(frontends):
        r.fail("haproxy.frontends", "two frontends have the same name")
    ports = [f.port for f in frontends]
    if len(set(ports)) != len(ports):
        r.fail("haproxy.frontends", "two frontends bind the same port on the VIP")
    health_port = r.get(raw, "health_port", "haproxy", int, default=None, check=check_port)
    for where, port in [(f"haproxy.frontends[{i}].port", p) for i, p in enumerate(ports)] + \
            ([("haproxy.health_port", health_port)] if health_port else []):
        if owner := port_owner(port, nodes):
            r.fail(where, f"{port} is {owner}'s port on the nodes: HAProxy could not bind it")
    if health_port in ports:
        r.fail("haproxy.health_port", f"{health_port} is also a frontend's port")
    config_path = r.get(raw, "config_path", "haproxy", str, default="/etc/haproxy/haproxy.cfg",
                        check=check_file_in((HAPROXY_CONFIG_DIR,), ".cfg"))
    stats_socket = r.get(raw, "stats_socket", "haproxy", str, default="/run/haproxy/admin.sock",
                         check=check_file_in(HAPROXY_SOCKET_DIRS))
    return HAProxy(
        config_path=config_path, stats_socket=stats_socket,
        frontends=tuple(frontends), backends=tuple(backends), health_port=health_port,
    )


def check_proxy_name(value):
    if value == HEALTH_FRONTEND:
        return f"{value!r} is the name of halb's own health frontend"
    return check_name(value)


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
    r = _Reader(path)
    if r.section(lambda r: r.mapping(data, "", TOP_FIELDS)) is None:
        raise ConfigError.of(path, r.problems)
    secret = _Secrets(r, env, "\n".join([path.read_text(encoding="utf-8"),
                                          *config_values(data)]))

    platform = r.section(_platform, data)
    name, pcs_request_timeout = r.section(_cluster, data) or (None, None)
    ssh = r.section(_ssh, data) or (None, "root", 22)
    nodes = r.section(_nodes, data, ssh, secret)
    failover = r.section(_failover, data)
    quorum = r.section(_quorum, data, nodes or (), ssh) or (False, None)
    arbiter = quorum[1].arbiter if quorum[1] else None
    vip = r.section(_vip, data, nodes, arbiter) if nodes else None
    fencing = r.section(_fencing, data, nodes, arbiter, failover) if nodes else None
    group = r.section(lambda r: r.get(data, "group", "", str, default="halb",
                                      check=check_resource_id))
    service = r.section(_service, data)
    haproxy = None
    if service and service.is_haproxy:
        haproxy = r.section(_haproxy, data, vip, nodes or ())
    elif service and data.get("haproxy") is not None:
        r.note("haproxy", f"is only used when service.agent is 'haproxy' (it is {service.agent!r})")
    extra_packages, package_repo = r.section(_install, data) or ((), None)
    if vip and service and group and nodes:
        ids = [*vip.resource_ids, service.resource_id, group] + [
            f"{n.name}-fence{suffix}" for n in nodes for suffix in ("", "2")]
        if len(set(ids)) != len(ids):
            r.note("service.resource_id", "resource ids of the VIP, the service, the group and "
                   "the fence devices must all differ")
    hacluster = secret("HACLUSTER_PASSWORD")
    missing = tuple(dict.fromkeys(secret.missing))
    if missing and require_secrets:
        r.note(missing[0], "secret is not set: export it or put it in .env (see .env.example)")
    if r.problems:
        raise ConfigError.of(path, r.problems)
    return Cluster(
        path=str(path), name=name, platform=platform, nodes=nodes, ssh=ssh[0], vip=vip,
        fencing=fencing, group=group, failover=failover, service=service, haproxy=haproxy,
        no_quorum_policy_ignore=quorum[0], quorum_device=quorum[1],
        extra_packages=extra_packages, package_repo=package_repo,
        hacluster_password=hacluster, missing_secrets=missing,
        pcs_request_timeout=pcs_request_timeout,
    )
