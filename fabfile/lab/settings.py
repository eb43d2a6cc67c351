"""Where the lab lives and how it is wired; node addresses come from the lab's config
(configs/lab.yaml, or configs/lab-<N>nodes.yaml for `lab.up --nodes N`), read through halb's
own config reader."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import config as cfg
from ..config import IPMI_PORT
from ..errors import UserError

ROOT = Path(__file__).resolve().parents[2]
LAB_CONFIG = ROOT / "configs" / "lab.yaml"
NODE_COUNTS = range(2, 6)  # lab.up --nodes: every node has a BMC, and the host has 2 cores
STATE = Path("/var/lib/halb-lab")
# A second lab on the same host (`make test` runs two lanes at once, .ci/lane): it lives in a
# network namespace of its own (same bridge name and addresses, no route out) and a mount
# namespace where its own state folder is bind-mounted over STATE (the images shared). What the
# two still share is named after the lane: the nodes' cgroups.
LANE_VARIABLE = "HALB_LAB_LANE"
LANE = os.environ.get(LANE_VARIABLE, "")
IMAGES = STATE / "images"  # per release, cached: rootfs/ and repo/ (the lab's package mirror)
NODES = STATE / "nodes"  # per node: upper/, work/, root/ (an overlay on the image)
RUN = STATE / "run"  # pid files, logs, BMC power events
SSH_KEY = STATE / "id_ed25519"
KNOWN_HOSTS = STATE / "known_hosts"
# Where halb saves the nodes' host keys it accepts (executor.accepted_keys_file).
ACCEPTED_KEYS = STATE / "halb_known_hosts"
BRIDGE = "halb0"
# A bridge without its own MAC takes the lowest MAC of its ports and changes it when that port
# goes (a node crashes): the survivor's ARP entries for the BMCs then point nowhere for ~30 s
# and its first fence attempt fails. A fixed, locally administered MAC keeps them valid.
BRIDGE_MAC = "02:68:61:6c:62:00"
HOST_ADDRESS = "192.168.56.1"
PREFIX = 24
REPO_PORT = 8000
# The lab's libvirt host for fence_virsh (fabfile/lab/hypervisor.py): SSH on the bridge address.
HYPERVISOR_PORT = 2222
HYPERVISOR_USER = "fencer"
HYPERVISOR_HOST_KEY = STATE / "hypervisor_host_key"
# The Debian releases the lab boots, each with the platform halb knows it as: three pcs
# generations (0.10, 0.11, 0.12) and Pacemaker 2.0, 2.1 and 3.0.
RELEASES = {"bullseye": "debian11", "bookworm": "debian12", "trixie": "debian13"}
DEFAULT_RELEASE = "bookworm"
RELEASE_VARIABLE = "HALB_LAB_RELEASE"
MIRROR = "http://deb.debian.org/debian"
BACKENDS = (("backend1", "192.168.56.21", 8080), ("backend2", "192.168.56.22", 8080))
# The webhook alert's receiver (configs/lab.yaml alerts): labd on the bridge address, keeping
# every event it is sent in ALERTS_RECEIVED, one JSON object per line.
ALERT_RECEIVER_PORT = 9095
ALERT_TOKEN_VARIABLE = "ALERT_TOKEN_HOOK"
ALERTS_RECEIVED = RUN / "alerts-received.jsonl"
# The base system only; the cluster packages come from the lab's mirror at the install step.
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "procps",
                 "iptables", "ca-certificates")
# The service other than HAProxy that the lab runs next to the VIP (configs/lab-nginx.yaml).
OTHER_SERVICE_PACKAGES = ("nginx",)


@dataclass(frozen=True)
class Image:
    """A release's cached node image and package mirror."""

    release: str

    @property
    def dir(self):
        return IMAGES / self.release

    @property
    def rootfs(self):
        return self.dir / "rootfs"

    @property
    def repo(self):
        return self.dir / "repo"

    @property
    def platform(self):
        return RELEASES[self.release]


def wanted_release(option=None):
    """The release to boot: --release, else $HALB_LAB_RELEASE, else bookworm."""
    release = option or os.environ.get(RELEASE_VARIABLE) or DEFAULT_RELEASE
    if release not in RELEASES:
        source = "--release" if option else RELEASE_VARIABLE
        raise UserError(f"{source} {release!r}: not a lab release ({', '.join(RELEASES)})")
    return release


def running_release():
    """The release the lab was brought up with, or None when it is down."""
    path = RUN / "release"
    return path.read_text().strip() if path.exists() else None


def config_for(nodes):
    """The lab config of a cluster of `nodes` nodes."""
    if nodes not in NODE_COUNTS:
        raise UserError(f"--nodes {nodes}: the lab runs {NODE_COUNTS[0]} to {NODE_COUNTS[-1]} "
                        "nodes")
    return LAB_CONFIG if nodes == 2 else ROOT / "configs" / f"lab-{nodes}nodes.yaml"


def lab_config():
    """The config of the running lab (the one lab.up booted), else configs/lab.yaml. It is
    recorded relative to the checkout: a lab started from another clone (CI's) that is gone
    resolves to the same file here."""
    path = RUN / "config"
    if not path.exists():
        return LAB_CONFIG
    recorded = Path(path.read_text().strip())
    if recorded.is_absolute() and not recorded.exists():
        recorded = Path("configs") / recorded.name
    return recorded if recorded.is_absolute() else ROOT / recorded


NODE_LAYER = RUN / "node-layer"  # lab.up --provisioned: the nodes' package layer


def node_layer():
    """The package layer under the cluster nodes' disks (lab.up --provisioned), or None."""
    return Path(NODE_LAYER.read_text().strip()) if NODE_LAYER.exists() else None


def record_lab_config(config):
    config = Path(config)
    recorded = config.relative_to(ROOT) if config.is_relative_to(ROOT) else config
    (RUN / "config").write_text(f"{recorded}\n")


@dataclass(frozen=True)
class LabNode:
    name: str
    address: str
    bmc_address: str | None  # None: the quorum arbiter, which nothing fences
    bmc_user: str | None
    bmc_port: int = IPMI_PORT

    @property
    def dir(self):
        return NODES / self.name

    @property
    def root(self):
        return self.dir / "root"


def lab_cluster(path=None):
    """The lab's config as halb reads every config (fabfile.config.load): one reader, the same
    checks. Read again only when the file changed."""
    path = Path(path or lab_config())
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _load(str(path), stamp)


@functools.lru_cache(maxsize=16)
def _load(path, _stamp):
    return cfg.load(path, env={}, require_secrets=False)


def config_variant(change, path, base=LAB_CONFIG):
    """The lab config with `change(data)` applied to its YAML, written to `path` and read back
    through the one reader, so that a variant is a config halb accepts. Returns the path."""
    data = yaml.safe_load(Path(base).read_text())
    change(data)
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
    lab_cluster(path)
    return Path(path)


def lab_nodes(path=None):
    """The cluster nodes, each with its BMC."""
    path = path or lab_config()
    nodes = tuple(LabNode(n.name, n.address, n.bmc.address, n.bmc.username, n.bmc.port)
                  for n in lab_cluster(path).nodes)
    for node in nodes:
        for addr in (node.address, node.bmc_address):
            _in_lab(path, node.name, addr)
    return nodes


def lab_arbiter(path=None):
    """The quorum arbiter's machine when the lab config asks for one (quorum.device)."""
    path = path or lab_config()
    device = lab_cluster(path).quorum_device
    if device is None:
        return None
    _in_lab(path, device.arbiter.name, device.arbiter.address)
    return LabNode(device.arbiter.name, device.arbiter.address, None, None)


def lab_machines(path=None):
    """Every machine the lab boots: the nodes, then the arbiter if there is one."""
    arbiter = lab_arbiter(path)
    return lab_nodes(path) + ((arbiter,) if arbiter else ())


def _in_lab(path, name, addr):
    if ipaddress.ip_address(addr) not in network():
        raise ValueError(f"{path}: {name}: {addr} is outside the lab network {network()}")


def network():
    return ipaddress.ip_network(f"{HOST_ADDRESS}/{PREFIX}", strict=False)


def cgroup_root():
    """The cgroup v2 hierarchy: /sys/fs/cgroup, or its 'unified' part on a hybrid host."""
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (root / "cgroup.controllers").exists():
            return root
    return None


CGROUP = f"halb-lab-{LANE}" if LANE else "halb-lab"


def node_cgroup(name):
    """Each node runs in a cgroup of its own, so that it can be frozen as a whole."""
    root = cgroup_root()
    return root / CGROUP / name if root else None


def lane_problem():
    """Why this process cannot run the lane $HALB_LAB_LANE names, or None (no lane, or inside
    it). Inside means in the lane's network namespace (/run/netns/halb-lane-NAME, made by
    .ci/lane): elsewhere the lab would take over the host's lab of the same paths."""
    if not LANE:
        return None
    if not re.fullmatch(r"[a-z0-9]+", LANE):
        return f"{LANE_VARIABLE}={LANE!r}: a lane's name is lower-case letters and digits"
    try:
        ours, lanes = os.stat("/proc/self/ns/net"), os.stat(f"/run/netns/halb-lane-{LANE}")
        inside = (ours.st_dev, ours.st_ino) == (lanes.st_dev, lanes.st_ino)
    except OSError:
        inside = False
    if not inside:
        return (f"{LANE_VARIABLE}={LANE} is set but this does not run in the lane's network "
                f"namespace (halb-lane-{LANE}): start a lane with .ci/lane")
    return None


def same_network_namespace(pid):
    """The process runs in this process's network namespace: it belongs to this lab, not to a
    lane's lab beside it (whose nodes' processes carry the same paths on their command lines)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
    except OSError:
        return False


def record_power_event(node, what):
    """power-events.log: one line per power change (on, off, crash, freeze, thaw)."""
    with open(RUN / "power-events.log", "a") as handle:
        handle.write(f"{time.time():.3f} {node} {what}\n")


def set_frozen(name, frozen):
    """Freeze or thaw a lab machine's cgroup; False when it has none to switch."""
    cgroup = node_cgroup(name)
    if cgroup is None or not (cgroup / "cgroup.freeze").exists():
        return False
    (cgroup / "cgroup.freeze").write_text("1\n" if frozen else "0\n")
    return True


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True


def read_pid(path):
    """The pid a pid file names, or None when it is missing or not a number."""
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def child_pids(pid):
    """Children of a process; a node's init is the only child of its systemd-nspawn."""
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def vip(path=None):
    return lab_cluster(path).vip.ip
