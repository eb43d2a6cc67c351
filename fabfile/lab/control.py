"""Bring the lab up and down, whatever an earlier lab left behind."""

from __future__ import annotations

import hashlib
import os
import secrets as secrets_module
import shutil
import signal
import socket
import subprocess
import sys
import time

from ..config import fence_password_source, read_secrets
from ..dialects import Dialect
from ..errors import UserError
from . import hypervisor, image, monitoring, vagrantlab
from . import settings as s


def preflight():
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (it creates a bridge, mounts and containers): "
                        "run as root")
    if s.lane_problem():
        problems.append(s.lane_problem())
    for tool, package in (("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap"),
                          ("apt-ftparchive", "apt-utils"), ("ip", "iproute2")):
        if not shutil.which(tool):
            problems.append(f"{tool} is missing: apt-get install {package} (or run 'make host-deps')")
    if not os.path.exists("/sys/fs/cgroup"):
        problems.append("no cgroup filesystem at /sys/fs/cgroup: systemd-nspawn cannot boot nodes")
    if problems:
        raise UserError("this host cannot run the lab:\n  " + "\n  ".join(problems))
    if vagrantlab.is_up():
        raise UserError(f"the Vagrant lab is up on {s.network()} (libvirt network "
                        f"{vagrantlab.LAB_NETWORK}): inv lab.vagrant-down first; both labs use "
                        "the same addresses")


def _ip(*argv, check=True):
    return subprocess.run(["ip", *argv], check=check, capture_output=True, text=True)


def labd_pid():
    pid = s.read_pid(s.RUN / "labd.pid")
    return pid if pid and s.pid_alive(pid) and _is_labd(pid) else None


def _is_labd(pid):
    try:
        return b"fabfile.lab.daemon" in open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return False


def _stray_nspawn_pids():
    """systemd-nspawn processes booting one of our node directories."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"systemd-nspawn") and any(
                a.startswith(f"--directory={s.NODES}".encode()) for a in argv) and \
                s.same_network_namespace(entry):
            found.append(int(entry))
    return found


def node_init_pid(node):
    """The node's PID 1 as seen from the host, or None when it is powered off."""
    pid = s.read_pid(s.RUN / f"{node.name}.nspawn.pid")
    if not pid or not s.pid_alive(pid):
        return None
    children = s.child_pids(pid)
    return children[0] if children else None


def node_exec(node, argv, check=False, timeout=60, input=None):
    """Run a command inside a node (its namespaces, via nsenter): the host's own view."""
    init = node_init_pid(node)
    if init is None:
        raise UserError(f"lab node {node.name} is powered off")
    return subprocess.run(["nsenter", f"--target={init}", "--mount", "--uts", "--ipc", "--net",
                           "--pid", "--", *argv], capture_output=True, text=True, check=check,
                          timeout=timeout, input=input)


def _mounted(path):
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == str(path) for line in mounts)


def clean(say=print):
    """Remove every trace of a lab: processes, mounts, the bridge. Safe to run at any time."""
    if s.lane_problem():  # it would clean the host's lab instead
        raise UserError(s.lane_problem())
    pid = labd_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(60):
            if not s.pid_alive(pid):
                break
            time.sleep(0.5)
        else:
            os.kill(pid, signal.SIGKILL)
    for stray in monitoring.leftover_pids():
        say(f"lab: killing leftover monitoring process {stray}")
        try:
            os.kill(stray, signal.SIGKILL)
        except OSError:
            pass
    for stray in _stray_nspawn_pids():
        say(f"lab: killing leftover node process {stray}")
        try:
            for child in s.child_pids(stray):
                os.kill(child, signal.SIGKILL)
            os.kill(stray, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 20
    while _stray_nspawn_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    # Every machine of the running lab, and any other an earlier lab of more nodes left.
    names = {n.name for n in s.lab_machines()} | (
        {p.name for p in s.NODES.iterdir() if p.is_dir()} if s.NODES.is_dir() else set())
    for name in sorted(names):
        root = s.NODES / name / "root"
        if _mounted(root):
            subprocess.run(["umount", "-l", str(root)], check=False)
    for name in sorted(names):
        _remove_cgroup(s.node_cgroup(name))
    if _ip("link", "show", s.BRIDGE, check=False).returncode == 0:
        _ip("link", "del", s.BRIDGE)
    if s.RUN.exists():
        shutil.rmtree(s.RUN)
    if s.NODES.exists():
        shutil.rmtree(s.NODES)


def _remove_cgroup(path):
    """A node's cgroup and the ones systemd-nspawn made inside it, deepest first."""
    if path is None or not path.is_dir():
        return
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            sub.rmdir()
        except OSError:
            pass
    try:
        path.rmdir()
    except OSError:
        pass


def _bridge():
    _ip("link", "add", s.BRIDGE, "address", s.BRIDGE_MAC, "type", "bridge")
    addresses = [s.HOST_ADDRESS] + [n.bmc_address for n in s.lab_nodes()] + [
        b[1] for b in s.BACKENDS]
    for address in addresses:
        _ip("addr", "add", f"{address}/{s.PREFIX}", "dev", s.BRIDGE)
    _ip("link", "set", s.BRIDGE, "up")


def _prepare_node(node, layer=""):
    """The node's disk: an overlay on the release's image, and on `layer` when given (the
    install step's packages, lab.up --provisioned)."""
    for sub in ("upper", "work", "root"):
        (node.dir / sub).mkdir(parents=True, exist_ok=True)
    lower = str(s.Image(s.running_release()).rootfs)
    if layer:
        lower = f"{layer}:{lower}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={node.dir / 'upper'},workdir={node.dir / 'work'}",
                    str(node.root)], check=True)
    root = node.root
    (root / "etc/hostname").write_text(f"{node.name}\n")
    (root / "etc/systemd/network/10-host0.network").write_text(
        f"[Match]\nName=host0\n\n[Network]\nAddress={node.address}/{s.PREFIX}\n"
        f"LinkLocalAddressing=no\nIPv6AcceptRA=no\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n" + "".join(
        f"{m.address} {m.name}\n" for m in s.lab_machines()))
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text((s.SSH_KEY.parent / f"{s.SSH_KEY.name}.pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    # As an operator would before using fence_virsh, which refuses a host key it has not seen.
    (ssh_dir / "known_hosts").write_text(hypervisor.known_hosts_line())


def wait_for_ssh(node, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((node.address, 22), timeout=2) as conn:
                if conn.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise UserError(f"lab node {node.name} did not answer SSH within {seconds}s; "
                    f"see {s.RUN / (node.name + '.console.log')}")


def _secrets_digest(values, salt):
    """A salted digest of the BMC passwords labd serves, to notice when .env changes them."""
    text = salt + "\n" + "\n".join(f"{k}={v}" for k, v in sorted(values.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def _read_salt():
    path = s.RUN / "bmc-secrets.salt"
    return path.read_text() if path.exists() else ""


def _read_digest():
    path = s.RUN / "bmc-secrets.sha256"
    return path.read_text() if path.exists() else None


def is_up():
    return labd_pid() is not None and all(node_init_pid(n) for n in s.lab_machines())


def up(say=print, rebuild=False, release=None, nodes=2, provisioned=None):
    """Bring the lab up on `release` with `nodes` cluster nodes: reuse a healthy running lab of
    that release and size, otherwise start fresh nodes (another lab is torn down first).
    `provisioned` (a config file): the cluster nodes boot with the packages that config's
    install step puts on a node already installed, for tests whose subject is not the install."""
    release = s.wanted_release(release)
    config = s.config_for(nodes)
    preflight()
    secrets = read_secrets(s.ROOT / ".env")
    if not all(secrets.get(fence_password_source(secrets, n.name)) for n in s.lab_nodes(config)):
        raise UserError("FENCE_PASSWORD is not set: the lab's BMCs need it (export it or put it "
                        "in .env; 'make demo' writes lab secrets there)")
    image.ensure_ssh_key()
    image.build(s.Image(release), say)
    layer = _provisioned_layer(release, provisioned, say) if provisioned else ""
    # labd's secrets: the BMC passwords and the webhook receiver's alert token.
    bmc_secrets = {k: v for k, v in secrets.items() if k.startswith(("FENCE_PASSWORD",
                                                                     s.ALERT_TOKEN_VARIABLE))}
    running, running_config = s.running_release(), s.lab_config()
    if is_up() and not rebuild and running == release and running_config == config and \
            str(s.node_layer() or "") == layer:
        if _secrets_digest(bmc_secrets, _read_salt()) == _read_digest():
            say(f"lab: already up ({release}: labd and every machine running); nothing to do")
            return False
        say("lab: the BMC passwords or the alert token in .env changed since the lab started: "
            "starting it again")
    elif running and running != release:
        say(f"lab: switching from {running} to {release}: the {running} lab goes down first")
    elif running and running_config != config:
        say(f"lab: switching to {nodes} nodes ({config.name}): the running lab goes down first")
    say("lab: cleaning up what an earlier lab left behind" if s.STATE.joinpath("run").exists()
        else "lab: starting")
    clean(say)
    s.KNOWN_HOSTS.unlink(missing_ok=True)
    s.ACCEPTED_KEYS.unlink(missing_ok=True)
    s.RUN.mkdir(parents=True, mode=0o700)
    (s.RUN / "release").write_text(release + "\n")
    s.record_lab_config(config)
    if layer:
        s.NODE_LAYER.write_text(layer + "\n")
    _bridge()
    for node in s.lab_machines():
        _prepare_node(node, layer if node.bmc_address else "")  # the arbiter stays bare
    _start_labd(bmc_secrets)
    for node in s.lab_machines():
        wait_for_ssh(node)
    say(f"lab: up ({release}): " + ", ".join(f"{n.name} {n.address}" + (f" (BMC {n.bmc_address}:{n.bmc_port})"
                                                            if n.bmc_address else " (arbiter)")
                                for n in s.lab_machines()))
    return True


def _start_labd(bmc_secrets):
    """labd, with the BMC passwords and the alert token in its environment only."""
    salt = secrets_module.token_hex(16)
    (s.RUN / "bmc-secrets.salt").write_text(salt)
    (s.RUN / "bmc-secrets.sha256").write_text(_secrets_digest(bmc_secrets, salt))
    log = open(s.RUN / "labd.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "fabfile.lab.daemon"], cwd=s.ROOT,
                            env={**os.environ, **bmc_secrets}, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (s.RUN / "labd.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 30
    while not (s.RUN / "labd.ready").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise UserError(f"labd did not start; see {s.RUN / 'labd.log'}:\n"
                            + (s.RUN / "labd.log").read_text()[-2000:])
        time.sleep(0.2)


def _provisioned_layer(release, config, say):
    """The cached layer holding what `config`'s install step puts on a node of `release`."""
    cluster = s.lab_cluster(config)
    packages = Dialect.for_platform(s.Image(release).platform).node_packages(cluster)
    return str(image.node_layer(s.Image(release), packages, say))


def down(say=print):
    clean(say)
    say("lab: down (no processes, mounts or bridge left; image caches kept in "
        f"{s.IMAGES})")


def power_state(node):
    if not node_init_pid(node):
        return "off"
    return "on, frozen" if is_frozen(node) else "on"


def power_on(node, seconds=30):
    """Boot a powered-off machine (labd owns the node processes, so it is asked to)."""
    if node_init_pid(node) is not None:
        return False
    pid = labd_pid()
    if pid is None:
        raise UserError("labd is not running: run inv lab.up")
    with open(s.RUN / "power-on.request", "a") as request:
        request.write(f"{node.name}\n")
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + seconds
    while node_init_pid(node) is None:
        if time.monotonic() > deadline:
            raise UserError(f"lab machine {node.name} did not power on within {seconds}s")
        time.sleep(0.2)
    return True


def replace_machine(node, seconds=60, golden_image=None, say=print):
    """A powered-off node comes back as a new machine of the same name and address: a fresh
    disk (no cluster, a new SSH host key) from the bare image, in a provisioned lab too, or,
    with `golden_image` (a config), from a site's golden image holding that config's packages."""
    if node_init_pid(node) is not None:
        raise UserError(f"lab node {node.name} is running: power it off first")
    layer = _provisioned_layer(s.running_release(), golden_image, say) if golden_image else ""
    if _mounted(node.root):
        subprocess.run(["umount", str(node.root)], check=True)
    for sub in ("upper", "work"):
        shutil.rmtree(node.dir / sub, ignore_errors=True)
    _prepare_node(node, layer)
    power_on(node)
    wait_for_ssh(node, seconds)


def host_link(node):
    """The host's end of the node's network cable (systemd-nspawn --network-bridge)."""
    return f"vb-{node.name}"[:15]


def forget_neighbour(address):
    """Drop the host's ARP entry for an address on the bridge: the next packet asks again."""
    _ip("neigh", "flush", "to", address, "dev", s.BRIDGE, check=False)


def set_link(node, up):
    """Plug the node's cable in or out (the host's end): a link flap when done quickly."""
    done = _ip("link", "set", host_link(node), "up" if up else "down", check=False)
    # A node fenced meanwhile took its cable with it: nothing to plug in.
    if done.returncode != 0 and node_init_pid(node) is not None:
        raise UserError(f"lab: cannot set {host_link(node)} {'up' if up else 'down'}: "
                        f"{done.stderr.strip()}")


def crash(node):
    """Power loss as the cluster sees it: the node's network goes dark and every process on it
    dies at once, so no connection is closed politely. Its BMC then says off."""
    init = node_init_pid(node)
    if init is None:
        raise UserError(f"lab node {node.name} is already powered off")
    _ip("link", "set", host_link(node), "down", check=False)
    os.kill(init, signal.SIGKILL)
    s.record_power_event(node.name, "crash")


def _switch_freeze(node, frozen):
    if not s.set_frozen(node.name, frozen):
        raise UserError(f"lab node {node.name} has no cgroup of its own to freeze "
                        "(it was booted by an older labd: run inv lab.up --fresh)")


def is_frozen(node):
    if node_init_pid(node) is None:
        return False  # powered off; the next power on thaws its cgroup
    cgroup = s.node_cgroup(node.name)
    try:
        return (cgroup / "cgroup.freeze").read_text().strip() == "1"
    except (OSError, TypeError):
        return False


def freeze(node):
    """A hung node: every process stops where it is, the network stays up and the BMC still
    says on. Only fencing (a power off through the BMC) or thaw ends it."""
    if node_init_pid(node) is None:
        raise UserError(f"lab node {node.name} is powered off")
    _switch_freeze(node, True)
    s.record_power_event(node.name, "freeze")


def thaw(node):
    if node_init_pid(node) is None:
        raise UserError(f"lab node {node.name} is powered off")
    _switch_freeze(node, False)
    s.record_power_event(node.name, "thaw")


def power_events():
    path = s.RUN / "power-events.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        stamp, node, what = line.split()
        out.append((float(stamp), node, what))
    return out


class Faults:
    """The lab's faults by node name, for `inv drill`."""

    real_kernels = False  # containers share the host's kernel: a crash is a power loss

    def __init__(self):
        self.nodes = {n.name: n for n in s.lab_machines()}

    def crash(self, name):
        crash(self.nodes[name])

    def freeze(self, name):
        freeze(self.nodes[name])

    def thaw(self, name):
        thaw(self.nodes[name])

    def is_frozen(self, name):
        return is_frozen(self.nodes[name])

    def power_state(self, name):
        return "off" if node_init_pid(self.nodes[name]) is None else "on"

    def power_on(self, name):
        return power_on(self.nodes[name])

    @staticmethod
    def serves(cluster):
        """True when the lab is up and every node the config names is one of its machines
        (a cluster of three on a lab of four, say)."""
        lab = {(n.name, n.address) for n in s.lab_nodes()}
        return labd_pid() is not None and {(n.name, n.address) for n in cluster.nodes} <= lab
