"""Cluster config: YAML plus secrets from the environment or .env, validated into frozen objects.

Every check happens here, before any host is touched; a problem raises ConfigError naming the
file, the field and what is wrong.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from dotenv import dotenv_values

from .errors import ConfigError

PLATFORMS = ("centos7", "el8", "el9", "debian12", "ubuntu")
# Names end up in pcs arguments, resource ids, file names and environment variable names:
# letters, digits, dot, dash and underscore only, starting with a letter or digit.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
INTERVAL_RE = re.compile(r"^[0-9]+(ms|s|m|min|h)?$")
# Options and agent names pass through pcs as name=value words; keep them to safe spellings.
OPTION_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
AGENT_RE = re.compile(r"^(ocf:[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+|systemd:[A-Za-z0-9@_.-]+|service:[A-Za-z0-9_.-]+|lsb:[A-Za-z0-9_.-]+)$")
HAPROXY_AGENT = "haproxy"
OCF_PROVIDER = "halb"


@dataclass(frozen=True)
class Secret:
    """A secret value that prints as its name, never as its value."""

    name: str
    value: str = field(repr=False)

    def __str__(self):
        return f"<secret {self.name}>"


@dataclass(frozen=True)
class Bmc:
    """How the fence agent reaches the node's power: an IPMI BMC, or a hypervisor plus `plug`."""

    address: str
    port: int
    username: str
    plug: str | None = None  # the VM's name for hypervisor fence agents (fence_virsh, ...)


@dataclass(frozen=True)
class Node:
    """A host the runbook reaches over SSH: a cluster node, or the quorum arbiter (no BMC)."""

    name: str
    address: str
    ssh_user: str
    ssh_port: int
    bmc: Bmc | None
    fence_password: Secret | None


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
class Vip:
    ip: str
    cidr_netmask: int
    nic: str | None
    resource_id: str
    monitor_interval: str


@dataclass(frozen=True)
class Fencing:
    agent: str
    options: tuple[tuple[str, str], ...]
    preferred_node: str
    race_delay: str
    monitor_interval: str
    status_timeout: int


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

    def peer_of(self, name):
        return next(n for n in self.nodes if n.name != name)

    @property
    def secrets(self):
        found = [self.hacluster_password] + [n.fence_password for n in self.nodes]
        return tuple(s for s in found if s.value)


def fence_password_variable(node_name):
    return "FENCE_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", node_name).upper()


def fence_password_source(env, node_name):
    """The variable holding a node's BMC password: its own if set, else FENCE_PASSWORD."""
    own = fence_password_variable(node_name)
    return own if env.get(own) else "FENCE_PASSWORD"


class _Reader:
    """Walks the YAML tree, turning every problem into a ConfigError with a dotted field path."""

    def __init__(self, path):
        self.path = path

    def fail(self, where, problem):
        raise ConfigError(self.path, where, problem)

    def mapping(self, data, where, allowed):
        if not isinstance(data, dict):
            self.fail(where, f"must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(map(str, data)) - set(allowed))
        if unknown:
            self.fail(f"{where}.{unknown[0]}" if where else unknown[0],
                      f"unknown field (allowed: {', '.join(sorted(allowed))})")
        return data

    def get(self, data, key, where, kind, default=..., check=None):
        dotted = f"{where}.{key}" if where else key
        if key not in data or data[key] is None:
            if default is ...:
                self.fail(dotted, "is required")
            return default
        value = data[key]
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(dotted, f"must be an integer, got {value!r}")
        elif kind is bool:
            if not isinstance(value, bool):
                self.fail(dotted, f"must be true or false, got {value!r}")
        elif kind is str:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                self.fail(dotted, f"must be a non-empty string, got {value!r}")
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


def _check_name(value):
    if not NAME_RE.match(value):
        return (f"{value!r} is not a safe name: use letters, digits, '.', '-' or '_' "
                "(a shell or pcs would misread anything else)")
    return None


def _check_address(value):
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    if HOSTNAME_RE.match(value) and not re.match(r"^[0-9.]+$", value):
        return None
    return f"{value!r} is neither an IP address nor a valid host name"


def _check_port(value):
    return None if 1 <= value <= 65535 else f"{value} is not a TCP/UDP port (1-65535)"


def _check_interval(value):
    return None if INTERVAL_RE.match(value) else f"{value!r} is not a duration such as 10s or 500ms"


DURATION_SCALE_MS = {"ms": 1, "s": 1000, "m": 60000, "min": 60000, "h": 3600000}


def duration_ms(value, bare="ms"):
    """'1500ms', '1.5s', '2s', '1m', '1h' or a bare number in `bare` units -> milliseconds, or
    None. corosync counts bare numbers in ms, Pacemaker (intervals, delays) in seconds."""
    if isinstance(value, bool) or value is None:
        return None
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|min|h)?", str(value).strip())
    if not match:
        return None
    return round(float(match.group(1)) * DURATION_SCALE_MS[match.group(2) or bare])


def _check_package(value):
    return None if re.match(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*$", value) else f"{value!r} is not a package name"


def _options(reader, data, where):
    if data is None:
        return ()
    if not isinstance(data, dict):
        reader.fail(where, "must be a mapping of option names to values")
    out = []
    for key, value in data.items():
        if not OPTION_NAME_RE.match(str(key)):
            reader.fail(f"{where}.{key}", "is not a valid option name")
        if isinstance(value, bool):
            value = "1" if value else "0"
        if not isinstance(value, (str, int, float)) or "\n" in str(value):
            reader.fail(f"{where}.{key}", f"must be a single-line value, got {value!r}")
        out.append((str(key), str(value)))
    return tuple(out)


def read_secrets(env_file=".env", environ=None):
    """Environment variables win over the .env file, which never overrides what is set."""
    values = {}
    if env_file and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def load(path, env=None, require_secrets=True):
    """Read and validate a cluster config. `env` maps variable names to values (secrets)."""
    path = Path(path)
    reader = _Reader(path)
    if not path.is_file():
        raise ConfigError(path, "(file)", "does not exist or is not a file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise ConfigError(path, where, f"is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    env = read_secrets() if env is None else env
    reader.mapping(data, "", ["cluster", "platform", "ssh", "nodes", "vip", "fencing", "group",
                              "service", "haproxy", "quorum", "install", "failover"])
    missing = []

    def secret(name):
        value = env.get(name, "")
        if not value:
            missing.append(name)
        elif "\n" in value:
            reader.fail(name, "secret must be a single line")
        return Secret(name, value or "")

    cluster = reader.mapping(reader.get(data, "cluster", "", dict), "cluster", ["name"])
    name = reader.get(cluster, "name", "cluster", str, check=_check_name)

    platform = reader.get(data, "platform", "", str, default=None,
                          check=lambda v: None if v in PLATFORMS else
                          f"{v!r} is not a known platform ({', '.join(PLATFORMS)})")

    ssh_data = reader.mapping(reader.get(data, "ssh", "", dict, default={}), "ssh",
                              ["user", "port", "identity_file", "known_hosts",
                               "accept_unknown_host_keys", "sudo", "connect_timeout"])
    default_user = reader.get(ssh_data, "user", "ssh", str, default="root", check=_check_name)
    default_port = reader.get(ssh_data, "port", "ssh", int, default=22, check=_check_port)
    ssh = Ssh(
        identity_file=reader.get(ssh_data, "identity_file", "ssh", str, default=None),
        known_hosts=reader.get(ssh_data, "known_hosts", "ssh", str, default=None),
        accept_unknown_host_keys=reader.get(ssh_data, "accept_unknown_host_keys", "ssh", bool,
                                            default=False),
        sudo=reader.get(ssh_data, "sudo", "ssh", bool, default=default_user != "root"),
        connect_timeout=reader.get(ssh_data, "connect_timeout", "ssh", int, default=10),
    )

    node_list = reader.get(data, "nodes", "", list)
    if len(node_list) != 2:
        reader.fail("nodes", f"a two-node cluster needs exactly 2 nodes, got {len(node_list)}")
    nodes = []
    for i, raw in enumerate(node_list):
        where = f"nodes[{i}]"
        reader.mapping(raw, where, ["name", "address", "ssh_user", "ssh_port", "bmc"])
        node_name = reader.get(raw, "name", where, str, check=_check_name)
        bmc_raw = reader.mapping(reader.get(raw, "bmc", where, dict), f"{where}.bmc",
                                 ["address", "port", "username", "plug"])
        nodes.append(Node(
            name=node_name,
            address=reader.get(raw, "address", where, str, check=_check_address),
            ssh_user=reader.get(raw, "ssh_user", where, str, default=default_user, check=_check_name),
            ssh_port=reader.get(raw, "ssh_port", where, int, default=default_port, check=_check_port),
            bmc=Bmc(
                address=reader.get(bmc_raw, "address", f"{where}.bmc", str, check=_check_address),
                port=reader.get(bmc_raw, "port", f"{where}.bmc", int, default=623, check=_check_port),
                username=reader.get(bmc_raw, "username", f"{where}.bmc", str, check=_check_name),
                plug=reader.get(bmc_raw, "plug", f"{where}.bmc", str, default=None, check=_check_name),
            ),
            fence_password=secret(fence_password_source(env, node_name)),
        ))
    for attr in ("name", "address"):
        values = [getattr(n, attr) for n in nodes]
        if len(set(v.lower() for v in values)) != len(values):
            reader.fail(f"nodes[1].{attr}", f"{values[1]!r} is used by both nodes")
    if (nodes[0].bmc.address, nodes[0].bmc.port, nodes[0].bmc.plug) == (
            nodes[1].bmc.address, nodes[1].bmc.port, nodes[1].bmc.plug):
        reader.fail("nodes[1].bmc.address", "both nodes name the same BMC: each node needs its own")
    node_names = [n.name for n in nodes]

    vip_raw = reader.mapping(reader.get(data, "vip", "", dict), "vip",
                             ["ip", "cidr_netmask", "nic", "resource_id", "monitor_interval"])
    vip_ip = reader.get(vip_raw, "ip", "vip", str)
    try:
        vip_addr = ipaddress.ip_address(vip_ip)
    except ValueError:
        reader.fail("vip.ip", f"{vip_ip!r} is not an IP address")
    max_prefix = 32 if vip_addr.version == 4 else 128
    netmask = reader.get(vip_raw, "cidr_netmask", "vip", int,
                         check=lambda v: None if 1 <= v <= max_prefix else
                         f"{v} is not a prefix length for IPv{vip_addr.version} (1-{max_prefix})")
    subnet = ipaddress.ip_network(f"{vip_ip}/{netmask}", strict=False)
    for node in nodes:
        try:
            node_addr = ipaddress.ip_address(node.address)
        except ValueError:
            continue  # a host name: its subnet is only known once resolved
        if node_addr == vip_addr:
            reader.fail("vip.ip", f"{vip_ip} is also the address of node {node.name}")
        if node_addr not in subnet:
            reader.fail("vip.ip", f"{vip_ip}/{netmask} is not in the subnet of node {node.name} "
                        f"({node.address}): the VIP could not be raised on its interface")
    vip = Vip(
        ip=vip_ip, cidr_netmask=netmask,
        nic=reader.get(vip_raw, "nic", "vip", str, default=None, check=_check_name),
        resource_id=reader.get(vip_raw, "resource_id", "vip", str, default="vip", check=_check_name),
        monitor_interval=reader.get(vip_raw, "monitor_interval", "vip", str, default="10s",
                                    check=_check_interval),
    )

    failover = _failover(reader, reader.get(data, "failover", "", dict, default={}))
    quorum_raw = reader.mapping(reader.get(data, "quorum", "", dict, default={}), "quorum",
                                ["no_quorum_policy_ignore", "device"])
    quorum_device = _quorum_device(reader, quorum_raw.get("device"), nodes, default_user,
                                   default_port)

    fence_raw = reader.mapping(reader.get(data, "fencing", "", dict), "fencing",
                               ["agent", "options", "preferred_node", "race_delay",
                                "monitor_interval", "status_timeout"])
    fencing = Fencing(
        agent=reader.get(fence_raw, "agent", "fencing", str, default="fence_ipmilan",
                         check=lambda v: None if re.match(r"^fence_[a-z0-9_]+$", v) else
                         f"{v!r} is not a fence agent name (fence_...)"),
        options=_options(reader, fence_raw.get("options"), "fencing.options"),
        preferred_node=reader.get(fence_raw, "preferred_node", "fencing", str, default=node_names[0],
                                  check=lambda v: None if v in node_names else
                                  f"{v!r} is not one of the nodes ({', '.join(node_names)})"),
        race_delay=reader.get(fence_raw, "race_delay", "fencing", str,
                              # With an arbiter the split is settled by quorum, not by a race.
                              default="0s" if quorum_device else FAILOVER_PROFILES[failover.profile][2],
                              check=_check_interval),
        monitor_interval=reader.get(fence_raw, "monitor_interval", "fencing", str, default="60s",
                                    check=_check_interval),
        status_timeout=reader.get(fence_raw, "status_timeout", "fencing", int, default=30),
    )
    reserved = {"ip", "ipaddr", "ipport", "username", "login", "password", "passwd",
                "password_script", "passwd_script", "pcmk_host_list", "pcmk_delay_base",
                "plug", "port"}
    for key, _ in fencing.options:
        if key in reserved:
            reader.fail(f"fencing.options.{key}", "is set from the node's bmc and secrets; "
                        "remove it here")

    group = reader.get(data, "group", "", str, default="halb", check=_check_name)

    service_raw = reader.mapping(reader.get(data, "service", "", dict, default={}), "service",
                                 ["agent", "resource_id", "options", "monitor_interval", "packages"])
    service = Service(
        agent=reader.get(service_raw, "agent", "service", str, default=HAPROXY_AGENT,
                         check=lambda v: None if v == HAPROXY_AGENT or AGENT_RE.match(v) else
                         f"{v!r} is not a resource agent ('haproxy', ocf:PROVIDER:TYPE, "
                         "systemd:UNIT, lsb:NAME or service:NAME)"),
        resource_id=reader.get(service_raw, "resource_id", "service", str, default="haproxy",
                               check=_check_name),
        options=_options(reader, service_raw.get("options"), "service.options"),
        monitor_interval=reader.get(service_raw, "monitor_interval", "service", str, default="10s",
                                    check=_check_interval),
        packages=tuple(reader.get(service_raw, "packages", "service", list, default=[])),
    )
    for pkg in service.packages:
        if problem := _check_package(str(pkg)):
            reader.fail("service.packages", problem)
    if len({vip.resource_id, service.resource_id, group} | {f"{n}-fence" for n in node_names}) != 5:
        reader.fail("service.resource_id", "resource ids of the VIP, the service, the group and the "
                    "fence devices must all differ")

    haproxy = None
    if service.is_haproxy:
        haproxy = _haproxy(reader, reader.get(data, "haproxy", "", dict), vip)
    elif data.get("haproxy") is not None:
        reader.fail("haproxy", f"is only used when service.agent is 'haproxy' (it is {service.agent!r})")

    install_raw = reader.mapping(reader.get(data, "install", "", dict, default={}), "install",
                                 ["extra_packages", "package_repo"])
    extra = tuple(str(p) for p in reader.get(install_raw, "extra_packages", "install", list, default=[]))
    for pkg in extra:
        if problem := _check_package(pkg):
            reader.fail("install.extra_packages", problem)

    hacluster = secret("HACLUSTER_PASSWORD")
    missing = tuple(dict.fromkeys(missing))
    if missing and require_secrets:
        raise ConfigError(path, missing[0], "secret is not set: export it or put it in .env "
                          "(see .env.example)")
    return Cluster(
        path=str(path), name=name, platform=platform, nodes=tuple(nodes), ssh=ssh, vip=vip,
        fencing=fencing, group=group, failover=failover, service=service, haproxy=haproxy,
        no_quorum_policy_ignore=reader.get(quorum_raw, "no_quorum_policy_ignore", "quorum", bool,
                                           default=False),
        quorum_device=quorum_device,
        extra_packages=extra,
        package_repo=reader.get(install_raw, "package_repo", "install", str, default=None,
                                check=_check_name),
        hacluster_password=hacluster, missing_secrets=missing,
    )


def _quorum_device(reader, raw, nodes, ssh_user, ssh_port):
    if raw is None:
        return None
    where = "quorum.device"
    reader.mapping(raw, where, ["host", "address", "algorithm", "ssh_user", "ssh_port"])
    host = reader.get(raw, "host", where, str, check=_check_name)
    address = reader.get(raw, "address", where, str, check=_check_address)
    for node in nodes:
        if host.lower() == node.name.lower():
            reader.fail(f"{where}.host", f"{host!r} is a cluster node: the arbiter must be a "
                        "third host")
        if address.lower() == node.address.lower():
            reader.fail(f"{where}.address", f"{address} is the address of node {node.name}")
    arbiter = Node(name=host, address=address,
                   ssh_user=reader.get(raw, "ssh_user", where, str, default=ssh_user,
                                       check=_check_name),
                   ssh_port=reader.get(raw, "ssh_port", where, int, default=ssh_port,
                                       check=_check_port),
                   bmc=None, fence_password=None)
    algorithm = reader.get(raw, "algorithm", where, str, default="ffsplit",
                           check=lambda v: None if v in QUORUM_ALGORITHMS else
                           f"{v!r} is not a qnetd algorithm ({', '.join(QUORUM_ALGORITHMS)})")
    return QuorumDevice(arbiter, algorithm)


def _failover(reader, raw):
    reader.mapping(raw, "failover", ["profile", "token", "consensus"])
    profile = reader.get(raw, "profile", "failover", str, default="conservative",
                         check=lambda v: None if v in FAILOVER_PROFILES else
                         f"{v!r} is not a profile ({', '.join(FAILOVER_PROFILES)})")
    token_default, _, _, qdevice_timeout = FAILOVER_PROFILES[profile]

    def milliseconds(key, default):
        value = raw.get(key)
        if value is None:
            return default
        ms = duration_ms(value)
        if ms is None:
            reader.fail(f"failover.{key}", f"{value!r} is not a duration such as 1000ms or 1.5s "
                        "(a bare number means milliseconds)")
        return ms

    token = milliseconds("token", token_default)
    if token < MIN_TOKEN_MS:
        reader.fail("failover.token", f"{token} ms is below {MIN_TOKEN_MS} ms: nodes would drop "
                    "out of the membership (and be fenced) on scheduling stalls and reloads")
    consensus = milliseconds("consensus", round(token * 1.2)
                             if "token" in raw else FAILOVER_PROFILES[profile][1])
    if consensus < round(token * 1.2):
        reader.fail("failover.consensus", f"{consensus} ms is below 1.2 x token "
                    f"({round(token * 1.2)} ms), the least corosync accepts")
    return Failover(profile, token, consensus, qdevice_timeout)


def _haproxy(reader, raw, vip):
    reader.mapping(raw, "haproxy", ["config_path", "stats_socket", "frontends", "backends",
                                    "health_port"])
    backends = []
    for i, b in enumerate(reader.get(raw, "backends", "haproxy", list)):
        where = f"haproxy.backends[{i}]"
        reader.mapping(b, where, ["name", "health_check", "servers"])
        servers = []
        for j, s in enumerate(reader.get(b, "servers", where, list)):
            swhere = f"{where}.servers[{j}]"
            reader.mapping(s, swhere, ["name", "address", "port"])
            servers.append(Server(
                name=reader.get(s, "name", swhere, str, check=_check_name),
                address=reader.get(s, "address", swhere, str, check=_check_address),
                port=reader.get(s, "port", swhere, int, check=_check_port),
            ))
        if not servers:
            reader.fail(f"{where}.servers", "needs at least one server")
        backends.append(Backend(
            name=reader.get(b, "name", where, str, check=_check_name),
            health_check=reader.get(b, "health_check", where, str, default=None,
                                    check=lambda v: None if re.match(r"^/[A-Za-z0-9._~/?=&%-]*$", v)
                                    else f"{v!r} is not a URL path"),
            servers=tuple(servers),
        ))
    names = [b.name for b in backends]
    if not backends:
        reader.fail("haproxy.backends", "needs at least one backend")
    frontends = []
    for i, f in enumerate(reader.get(raw, "frontends", "haproxy", list)):
        where = f"haproxy.frontends[{i}]"
        reader.mapping(f, where, ["name", "port", "backend"])
        frontends.append(Frontend(
            name=reader.get(f, "name", where, str, check=_check_name),
            port=reader.get(f, "port", where, int, check=_check_port),
            backend=reader.get(f, "backend", where, str,
                               check=lambda v: None if v in names else
                               f"{v!r} is not one of the backends ({', '.join(names)})"),
        ))
    if not frontends:
        reader.fail("haproxy.frontends", "needs at least one frontend")
    ports = [f.port for f in frontends]
    if len(set(ports)) != len(ports):
        reader.fail("haproxy.frontends", "two frontends bind the same port on the VIP")
    return HAProxy(
        config_path=reader.get(raw, "config_path", "haproxy", str, default="/etc/haproxy/haproxy.cfg",
                               check=lambda v: None if re.match(r"^/[A-Za-z0-9._/-]+$", v) else
                               f"{v!r} is not an absolute path"),
        stats_socket=reader.get(raw, "stats_socket", "haproxy", str,
                                default="/run/haproxy/admin.sock",
                                check=lambda v: None if re.match(r"^/[A-Za-z0-9._/-]+$", v) else
                                f"{v!r} is not an absolute path"),
        frontends=tuple(frontends), backends=tuple(backends),
        health_port=reader.get(raw, "health_port", "haproxy", int, default=None, check=_check_port),
    )
