"""The cluster as halb understands it: frozen objects, built only by the reader."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..secret import Secret

AZURE_PROBE_PORT = 61000


ROUTED_VIPS = ("aws-route", "gcp-alias")


# The resources a provider adds next to the VIP's own, by role (see plan/vip.py).
VIP_EXTRA_ROLES = {"aws-eip": ("private", "eip"), "gcp-alias": ("alias",), "azure-lb": ("lb",)}


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
    heuristics: str = "none"  # service: an even split goes to the side that runs the service


QUORUM_ALGORITHMS = ("ffsplit", "lms")
QUORUM_HEURISTICS = ("service", "none")


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

    @property
    def detection_s(self):
        """About how long corosync takes to declare a silent node dead."""
        return (self.token_ms + self.consensus_ms) / 1000


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
    # HAProxy's Prometheus endpoint on each node's own address (metrics.haproxy_port; None: off)
    metrics_port: int | None = None

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
class ServiceGroup:
    """A Pacemaker group: its VIP, then its service (halb's HAProxy or another agent)."""

    name: str
    vip: Vip
    service: Service
    haproxy: HAProxy | None


# Pacemaker's alert event kinds, as the config names them -> the CIB's <select> element.
ALERT_EVENTS = {"fencing": "select_fencing", "nodes": "select_nodes",
                "resources": "select_resources", "attributes": "select_attributes"}
ALERT_KINDS = ("file", "webhook", "alertmanager")
ALERT_ID_PREFIX = "halb-alert-"


@dataclass(frozen=True)
class Alert:
    """A Pacemaker alert: an agent Pacemaker runs (as hacluster) at each selected event, once
    per recipient. kind file: Pacemaker's sample agent appends to `recipient`, a log file;
    kind webhook: halb's agent POSTs the event as JSON to `recipient`, a URL, with the token;
    kind alertmanager: the same agent POSTs it as an alert to Alertmanager's API (no token)."""

    name: str
    kind: str
    recipient: str
    events: tuple[str, ...]
    timeout: str = "10s"
    token: Secret | None = None

    @property
    def alert_id(self):
        return ALERT_ID_PREFIX + self.name


@dataclass(frozen=True)
class Metrics:
    """Prometheus endpoints on every node, each on the node's cluster address: ClusterLabs'
    hacluster exporter, and HAProxy's own exporter wherever a group's HAProxy runs (the first
    HAProxy group on haproxy_port, the next on the port after it, ...). None: off."""

    exporter_port: int | None = None
    haproxy_port: int | None = None


def alert_token_variable(name):
    """The variable holding a webhook alert's token: ALERT_TOKEN_<NAME>."""
    return "ALERT_TOKEN_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


# Each further group is kept off the nodes of the groups before it by this much: groups spread
# over the nodes while there are enough, and share one when there are not. It is below the
# groups' stickiness, so a group that had to share does not move back by itself (a move is an
# outage of its own).
SPREAD_SCORE = -50


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
    # Every service group, the first one's also in vip/service/haproxy/group above. Empty
    # only for a Cluster built by hand with one group.
    groups: tuple[ServiceGroup, ...] = ()
    alerts: tuple[Alert, ...] = ()
    metrics: Metrics = Metrics()

    def views(self):
        """The cluster as each service group sees it: a Cluster whose vip, service, haproxy
        and group are that group's. One group: the cluster itself."""
        if len(self.groups) <= 1:
            return (self,)
        return tuple(dataclasses.replace(self, vip=g.vip, service=g.service, haproxy=g.haproxy,
                                         group=g.name) for g in self.groups)

    def node(self, name):
        return next(n for n in self.hosts if n.name == name)

    def busiest_last(self, running):
        """The nodes in the order to take them out one at a time: those serving no group
        first, those serving the most groups last. `running` maps a resource id to the nodes
        it is active on (the CIB's status, or crm_mon's)."""
        serving = [n for view in self.views() for n in running.get(view.vip.resource_id, ())]
        return sorted(self.nodes, key=lambda n: serving.count(n.name))

    @property
    def vip_addresses(self):
        """Every service group's VIP, the first group's first."""
        return [view.vip.ip for view in self.views()]

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
        """A node other than `name`: with two nodes, the only one."""
        return next(n for n in self.nodes if n.name != name)

    def elsewhere(self, name):
        """Where what leaves node `name` goes, for a message: its peer, or another node."""
        return self.peer_of(name).name if len(self.nodes) == 2 else "another node"

    @property
    def secrets(self):
        found = [self.hacluster_password] + [s for n in self.nodes for _, s in n.fence_passwords]
        found += [a.token for a in self.alerts]
        return tuple(s for s in found if s is not None and s.value)


def fence_password_variable(node_name, prefix="FENCE_PASSWORD"):
    return f"{prefix}_" + re.sub(r"[^A-Za-z0-9]", "_", node_name).upper()


def fence_password_source(env, node_name, prefix="FENCE_PASSWORD"):
    """The variable holding a node's BMC password: its own if set, else FENCE_PASSWORD (for the
    second fencing level, SECOND_FENCE_PASSWORD[_<NODE>])."""
    own = fence_password_variable(node_name, prefix)
    return own if env.get(own) else prefix


SECOND_FENCE_PASSWORD = "SECOND_FENCE_PASSWORD"
