"""The Vagrant lab: two VMs with their own kernels under this host's libvirt, booted by the
project's Vagrantfile from halb's own box (box.py), fenced by fence_virsh through the real
libvirtd.

`up` starts what is missing and records what it started, so that `down` stops exactly that:
libvirtd and virtlogd (when none ran), two isolated libvirt networks (no forward, no DNS), the
host services (vmhost.py: mirror and backends), an sshd on the lab address only for the
`fencer` account, and the VMs. Both labs use 192.168.56.0/24: each refuses to start while the
other is up.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..config import read_secrets
from ..errors import UserError
from . import box as boxlib
from . import network
from . import settings as s
from . import vagrant as vagrant_config

URI = "qemu:///system"
RUN = boxlib.VAGRANT_STATE / "run"
CONSOLE = RUN / "console"
DOMAINS = ("halb_node1", "halb_node2")  # the Vagrantfile's default_prefix + machine names
MGMT_NETWORK, LAB_NETWORK = "halb-mgmt", "halb-lab"
LAB_BRIDGE = "halbvm1"
FENCER = s.HYPERVISOR_USER
FENCER_HOME = boxlib.VAGRANT_STATE / "fencer"
SSHD_KEY = boxlib.VAGRANT_STATE / "ssh_host_ed25519_key"
BOOT_TIMEOUT = 900  # seconds for a VM to answer SSH: under TCG with two VMs on two cores
# Isolated: no <forward> (libvirt then also rejects forwarding from the bridge), DNS off, so that
# nothing from a VM leaves the machine. DHCP on the management network only: Vagrant finds a
# VM by its lease.
NETWORK_XML = {
    MGMT_NETWORK: """<network>
  <name>halb-mgmt</name>
  <bridge name='halbvm0' stp='off'/>
  <mac address='02:68:61:6c:62:10'/>
  <dns enable='no'/>
  <ip address='192.168.121.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.121.100' end='192.168.121.200'/></dhcp>
  </ip>
</network>
""",
    # A fixed MAC, as on the container lab's bridge: it must not change when a VM's tap goes.
    LAB_NETWORK: f"""<network>
  <name>{LAB_NETWORK}</name>
  <bridge name='{LAB_BRIDGE}' stp='off'/>
  <mac address='02:68:61:6c:62:11'/>
  <dns enable='no'/>
  <ip address='{s.HOST_ADDRESS}' netmask='255.255.255.0'/>
</network>
""",
}
LIBVIRTD_CONF = """# libvirtd as the Vagrant lab starts it: the libvirt group (the fencer account) may manage
# domains through the local socket; nothing listens on the network.
unix_sock_group = "libvirt"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
"""


def say_nothing(text):
    pass


# --- small helpers -----------------------------------------------------------------------------
def _run(argv, check=False, timeout=120, input=None, env=None):
    try:
        return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                              timeout=timeout, input=input, env=env, check=check)
    except subprocess.TimeoutExpired:
        raise UserError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} did not return within "
                        f"{timeout}s") from None


def virsh(*argv, check=False, timeout=60):
    return _run(["virsh", "-q", "-c", URI, *argv], check=check, timeout=timeout)


def _last_line(done):
    lines = ((done.stderr or "") + (done.stdout or "")).strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}"


def _stop_pid(path, seconds=15):
    pid = s.read_pid(path)
    if pid and s.pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        while s.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if s.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    Path(path).unlink(missing_ok=True)


def _started(what):
    return (RUN / f"{what}.started").exists()


def _mark_started(what):
    RUN.mkdir(parents=True, exist_ok=True)
    (RUN / f"{what}.started").write_text(f"{time.time():.0f}\n")


def _forget_started(what):
    (RUN / f"{what}.started").unlink(missing_ok=True)


# --- state -----------------------------------------------------------------------------------
def libvirt_answers():
    if not shutil.which("virsh"):
        return False
    try:
        return subprocess.run(["virsh", "-c", URI, "uri"], capture_output=True,
                              timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def domains():
    """The lab's libvirt domains that exist: name -> state (running, paused, shut off...)."""
    if not libvirt_answers():
        return {}
    found = {}
    for name in DOMAINS:
        state = virsh("domstate", name)
        if state.returncode == 0:
            found[name] = state.stdout.strip()
    return found


def network_active(name):
    if not libvirt_answers():
        return False
    info = virsh("net-info", name)
    return info.returncode == 0 and any(line.split() == ["Active:", "yes"]
                                        for line in info.stdout.splitlines())


def is_up():
    """The VM lab holds 192.168.56.0/24: its network is active or a VM of it exists."""
    return network_active(LAB_NETWORK) or bool(domains())


def container_lab_up():
    return network.bridge_is_up() or shutil.which("ip") and subprocess.run(
        ["ip", "link", "show", s.BRIDGE], capture_output=True).returncode == 0


# --- preflight ---------------------------------------------------------------------------------
TOOLS = (("vagrant", "vagrant"), ("virsh", "libvirt-clients"), ("libvirtd", "libvirt-daemon-system"),
         ("virtlogd", "libvirt-daemon-system"), ("qemu-system-x86_64", "qemu-system-x86"),
         ("qemu-img", "qemu-utils"), ("mkfs.ext4", "e2fsprogs"), ("dnsmasq", "dnsmasq-base"),
         ("/usr/sbin/sshd", "openssh-server"), ("debootstrap", "debootstrap"),
         ("iptables", "iptables"),
         ("apt-ftparchive", "apt-utils"))


def preflight():
    problems = []
    if os.geteuid() != 0:
        problems.append("the Vagrant lab needs root (libvirt's system instance, networks, an sshd)")
    for tool, package in TOOLS:
        if not shutil.which(tool):
            problems.append(f"{tool} is missing: apt-get install {package} (or run "
                            "'make vagrant-deps')")
    if shutil.which("vagrant"):
        plugins = _run(["vagrant", "plugin", "list"], timeout=120).stdout
        if "vagrant-libvirt" not in plugins:
            problems.append("the vagrant-libvirt plugin is missing: apt-get install vagrant-libvirt")
    if problems:
        raise UserError("this host cannot run the Vagrant lab:\n  " + "\n  ".join(problems))
    if container_lab_up():
        raise UserError(f"the container lab is up on {s.network()} (bridge {s.BRIDGE}): "
                        "inv lab.down first; both labs use the same addresses")


# --- libvirt -----------------------------------------------------------------------------------
def start_libvirt(say=print):
    if libvirt_answers():
        return False
    RUN.mkdir(parents=True, exist_ok=True)
    conf = RUN / "libvirtd.conf"
    conf.write_text(LIBVIRTD_CONF)
    say("vagrant lab: starting libvirt (virtlogd, libvirtd): nothing else runs it here")
    for argv, name in ((["virtlogd", "-d", "-p", RUN / "virtlogd.pid"], "virtlogd"),
                       (["libvirtd", "-d", "-f", conf, "-p", RUN / "libvirtd.pid"], "libvirtd")):
        done = _run(argv, timeout=30)
        if done.returncode != 0:
            stop_libvirt()
            raise UserError(f"{name} did not start: {_last_line(done)}")
        _mark_started(name)
    deadline = time.monotonic() + 30
    while not libvirt_answers():
        if time.monotonic() > deadline:
            stop_libvirt()
            raise UserError(f"libvirtd started but {URI} does not answer within 30s")
        time.sleep(0.5)
    return True


def stop_libvirt(say=say_nothing):
    for name in ("libvirtd", "virtlogd"):
        if _started(name):
            say(f"vagrant lab: stopping {name} (the lab started it)")
            _stop_pid(RUN / f"{name}.pid")
            _forget_started(name)


def start_networks():
    for name, xml in NETWORK_XML.items():
        if network_active(name):
            continue
        path = RUN / f"{name}.xml"
        path.write_text(xml)
        # Transient: it leaves no definition behind and goes with libvirtd.
        done = virsh("net-create", path)
        if done.returncode != 0:
            raise UserError(f"libvirt network {name} did not start: {_last_line(done)}")
    for _, address, _port in s.BACKENDS:
        _run(["ip", "addr", "replace", f"{address}/{s.PREFIX}", "dev", LAB_BRIDGE], check=True)


def stop_networks():
    for name in NETWORK_XML:
        if network_active(name):
            virsh("net-destroy", name)
        if virsh("net-info", name).returncode == 0:  # a persistent definition from elsewhere
            virsh("net-undefine", name)


# --- no route out ------------------------------------------------------------------------------
EGRESS_CHAIN = "HALB-VM-EGRESS"
EGRESS_HOOK = ["FORWARD", "-i", "halbvm+", "!", "-o", "halbvm+", "-j", EGRESS_CHAIN]


def guard_egress():
    """Whatever a VM sends that this host would forward beyond the lab's networks is counted
    and dropped, before libvirt's own rules see it: a second wall behind the isolated networks,
    and the counter the lab test reads."""
    if _run(["iptables", "-n", "-L", EGRESS_CHAIN]).returncode != 0:
        _run(["iptables", "-N", EGRESS_CHAIN], check=True)
    _run(["iptables", "-F", EGRESS_CHAIN], check=True)
    _run(["iptables", "-A", EGRESS_CHAIN, "-j", "DROP"], check=True)
    if _run(["iptables", "-C", *EGRESS_HOOK]).returncode != 0:
        _run(["iptables", "-I", EGRESS_HOOK[0], "1", *EGRESS_HOOK[1:]], check=True)


def egress_dropped():
    """Packets from the VMs that the guard stopped on their way out, or None without the guard."""
    out = _run(["iptables", "-n", "-v", "-x", "-L", EGRESS_CHAIN])
    if out.returncode != 0:
        return None
    rows = [line.split() for line in out.stdout.splitlines()[2:] if line.split()]
    return sum(int(row[0]) for row in rows)


def unguard_egress():
    while _run(["iptables", "-D", *EGRESS_HOOK]).returncode == 0:
        pass
    if _run(["iptables", "-n", "-L", EGRESS_CHAIN]).returncode == 0:
        _run(["iptables", "-F", EGRESS_CHAIN])
        _run(["iptables", "-X", EGRESS_CHAIN])


# --- the VMs' hypervisor login for fence_virsh ------------------------------------------------
def _fence_password():
    secrets = read_secrets(s.ROOT / ".env")
    password = secrets.get("FENCE_PASSWORD")
    if not password:
        raise UserError("FENCE_PASSWORD is not set: fence_virsh logs in to this host with it "
                        "(export it or put it in .env; 'make vagrant-demo' writes lab secrets there)")
    return password


def ensure_fencer(password):
    """The account fence_virsh logs in as: in the libvirt group, virsh aimed at the system
    instance, its password the nodes' FENCE_PASSWORD (set through chpasswd's stdin)."""
    if _run(["id", "-u", FENCER]).returncode != 0:
        done = _run(["useradd", "--system", "--home-dir", FENCER_HOME, "--create-home",
                     "--shell", "/bin/bash", "--groups", "libvirt", FENCER])
        if done.returncode != 0:
            raise UserError(f"cannot create the account {FENCER}: {_last_line(done)}")
        _mark_started("fencer")
    elif "libvirt" not in _run(["id", "-nG", FENCER]).stdout.split():
        raise UserError(f"this host has an account {FENCER} that is not in the libvirt group: "
                        "the Vagrant lab will not take over an account it did not create")
    done = _run(["chpasswd"], input=f"{FENCER}:{password}\n")
    if done.returncode != 0:
        raise UserError(f"cannot set {FENCER}'s password: {_last_line(done)}")
    home = Path(_run(["getent", "passwd", FENCER]).stdout.split(":")[5])
    config = home / ".config/libvirt"
    config.mkdir(parents=True, exist_ok=True)
    (config / "libvirt.conf").write_text(f'uri_default = "{URI}"\n')
    _run(["chown", "-R", f"{FENCER}:", home / ".config"], check=True)
    check = _run(["runuser", "-u", FENCER, "--", "virsh", "-q", "list", "--all"], timeout=30)
    if check.returncode != 0:
        raise UserError(f"{FENCER} cannot manage domains through {URI}: {_last_line(check)} "
                        "(libvirtd must let the libvirt group use its socket)")


def remove_fencer():
    if _started("fencer"):
        _run(["userdel", "--remove", FENCER])
        _forget_started("fencer")


SSHD_CONFIG = f"""# The Vagrant lab's hypervisor login for fence_virsh: the lab address only, one account.
Port 22
ListenAddress {s.HOST_ADDRESS}
HostKey {SSHD_KEY}
PidFile {RUN / 'sshd.pid'}
AllowUsers {FENCER}
PermitRootLogin no
PasswordAuthentication yes
PubkeyAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
PermitTunnel no
"""


def start_sshd():
    if not SSHD_KEY.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "halb-vagrant-hypervisor",
              "-f", SSHD_KEY], check=True)
    pid = s.read_pid(RUN / "sshd.pid")
    if pid and s.pid_alive(pid):
        return
    config = RUN / "sshd_config"
    config.write_text(SSHD_CONFIG)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    done = _run(["/usr/sbin/sshd", "-f", config, "-E", RUN / "sshd.log"])
    if done.returncode != 0:
        raise UserError(f"the lab's sshd for fence_virsh did not start: {_last_line(done)} "
                        f"(see {RUN / 'sshd.log'})")


def stop_sshd():
    _stop_pid(RUN / "sshd.pid")


# --- host services -----------------------------------------------------------------------------
def start_vmhost(release):
    pid = s.read_pid(RUN / "vmhost.pid")
    if pid and s.pid_alive(pid):
        return
    log = open(RUN / "vmhost.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "fabfile.lab.vmhost", release], cwd=s.ROOT,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    (RUN / "vmhost.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 20
    while b"vmhost ready" not in (RUN / "vmhost.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise UserError(f"the lab's mirror and backends did not start; see {RUN / 'vmhost.log'}")
        time.sleep(0.2)


def stop_vmhost():
    _stop_pid(RUN / "vmhost.pid")


# --- KVM or TCG --------------------------------------------------------------------------------
def kvm_runs_guests(box, say=print):
    """Whether this host's KVM boots the box's kernel: some hosts open /dev/kvm but hang a guest
    in early boot. Asked once per kernel and kept; the answer picks libvirt's domain type."""
    if not os.path.exists("/dev/kvm"):
        return False
    verdict = boxlib.VAGRANT_STATE / "kvm-verdict"
    key = hashlib.sha256(box.kernel.read_bytes()).hexdigest()[:16]
    if verdict.exists():
        cached_key, _, answer = verdict.read_text().strip().rpartition(" ")
        if cached_key == key:
            return answer == "yes"
    say("vagrant lab: trying the box's kernel under KVM (up to 20 s)")
    argv = ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256", "-nographic",
            "-no-reboot", "-nodefaults", "-serial", "stdio", "-kernel", str(box.kernel),
            "-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1 root=/dev/null"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    seen = b""
    deadline = time.monotonic() + 20
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        while time.monotonic() < deadline and proc.poll() is None and b"Linux version" not in seen:
            seen += proc.stdout.read() or b""
            time.sleep(0.2)
        seen += proc.stdout.read() or b""
    finally:  # an interrupted probe leaves no QEMU behind
        proc.kill()
        proc.wait()
    answer = b"Linux version" in seen
    verdict.write_text(f"{key} {'yes' if answer else 'no'}\n")
    return answer


# --- up and down -------------------------------------------------------------------------------
def vagrant_env(release=None, driver=None):
    """The Vagrantfile's settings for the lab's VMs; by default those the running lab was
    brought up with."""
    release = release or _recorded("release") or s.DEFAULT_RELEASE
    driver = driver or _recorded("driver") or "qemu"
    return {**os.environ, "HALB_VAGRANT_BOX": boxlib.Box(release).name,
            "HALB_VAGRANT_DRIVER": driver, "HALB_VAGRANT_ISOLATED": "1",
            "HALB_VAGRANT_HOST_KEY": f"{SSHD_KEY}.pub", "HALB_VAGRANT_CONSOLE": str(CONSOLE),
            "HALB_VAGRANT_BOOT_TIMEOUT": str(BOOT_TIMEOUT),
            # Throwaway VMs: a flush need not reach this host's disk (dpkg flushes every file).
            "HALB_VAGRANT_DISK_CACHE": "unsafe",
            "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_DEFAULT_PROVIDER": "libvirt"}


def _recorded(what):
    path = RUN / what
    return path.read_text().strip() if path.exists() else None


def up(release=None, say=print):
    """Box, libvirt, networks, host services, then `vagrant up`; ends with the VMs answering SSH
    and .vagrant/halb.yaml written. On a failure, everything it started is stopped again."""
    release = s.wanted_release(release)
    if release != s.DEFAULT_RELEASE:
        raise UserError(f"--release {release}: the Vagrant lab's box is built for "
                        f"{s.DEFAULT_RELEASE} only")
    preflight()
    password = _fence_password()
    started = time.monotonic()
    timings = {}
    boxlib.ensure(release, say)
    timings["box"] = time.monotonic() - started
    box = boxlib.Box(release)
    RUN.mkdir(parents=True, exist_ok=True)
    CONSOLE.mkdir(parents=True, exist_ok=True)
    for folder in (boxlib.VAGRANT_STATE, RUN, CONSOLE):
        folder.chmod(0o755)  # QEMU writes the serial console logs here as libvirt-qemu
    try:
        if start_libvirt(say):
            _mark_started("lab")
        start_networks()
        guard_egress()
        start_sshd()
        ensure_fencer(password)
        start_vmhost(release)
        if virsh("pool-info", "default").returncode != 0:
            _mark_started("pool")  # vagrant-libvirt defines the pool: down undefines it again
        driver = "kvm" if kvm_runs_guests(box, say) else "qemu"
        if driver == "qemu":
            say("vagrant lab: KVM does not run a guest on this host: libvirt's domain type qemu "
                "(TCG, software emulation). The VMs, their watchdog and fence_virsh work; a whole "
                "cluster does not come up under emulation (pcs cluster setup waits 60 s for a "
                "node's pcsd, which needs longer there: docs/labs.md)")
        # Recorded before `vagrant up`, so that a down after a failure speaks to the same VMs.
        (RUN / "release").write_text(release + "\n")
        (RUN / "driver").write_text(driver + "\n")
        say(f"vagrant lab: vagrant up --provider libvirt (box {box.name}, {driver}); "
            f"log {RUN / 'vagrant-up.log'}")
        began = time.monotonic()
        with open(RUN / "vagrant-up.log", "w") as log:
            proc = subprocess.run(["vagrant", "up", "--provider", "libvirt"], cwd=s.ROOT,
                                  env=vagrant_env(release, driver), stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=BOOT_TIMEOUT + 600)
        timings["vagrant up"] = time.monotonic() - began
        if proc.returncode != 0:
            raise UserError(f"vagrant up failed: {_log_tail(RUN / 'vagrant-up.log')} (see "
                            f"{RUN / 'vagrant-up.log'} and {CONSOLE})")
        vagrant_config.write("libvirt", vagrant_config.DEFAULT_OUTPUT, say=say,
                             env=vagrant_env(release, driver))
    except (UserError, subprocess.TimeoutExpired, OSError) as exc:
        say(f"vagrant lab: {exc}; stopping what was started")
        down(say=say_nothing)
        raise UserError(str(exc)) from None
    say(f"vagrant lab: up ({release}, {driver}) in {time.monotonic() - started:.0f}s (box "
        f"{timings['box']:.0f}s, vagrant up {timings['vagrant up']:.0f}s): node1 "
        f"{s.HOST_ADDRESS[:-1]}11, node2 {s.HOST_ADDRESS[:-1]}12; "
        f"inv setup-cluster --config {vagrant_config.DEFAULT_OUTPUT}")
    return timings


def _log_tail(path):
    try:
        lines = [line.strip() for line in Path(path).read_text(errors="replace").splitlines()
                 if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if "rror" in line]
    return (errors or lines or ["no output"])[-1][:300]


def down(say=print):
    """Destroy the VMs, their volumes and networks, and stop what `up` started."""
    if libvirt_answers():
        if Path(s.ROOT / ".vagrant/machines").exists() and shutil.which("vagrant"):
            _run(["vagrant", "destroy", "-f"], env=vagrant_env(),
                 timeout=600)
        for name in domains():
            virsh("destroy", name)
            virsh("undefine", name, "--nvram", "--remove-all-storage")
            if name in domains():
                virsh("undefine", name)
        _delete_volumes()
        if _started("pool"):
            virsh("pool-destroy", "default")
            virsh("pool-undefine", "default")
            _forget_started("pool")
        stop_networks()
    unguard_egress()
    stop_vmhost()
    stop_sshd()
    remove_fencer()
    if _started("lab"):
        stop_libvirt(say)
        _forget_started("lab")
    left = domains()
    if left:
        raise UserError(f"vagrant lab: domains {', '.join(left)} would not go: virsh destroy them")
    Path(s.ROOT / vagrant_config.DEFAULT_OUTPUT).unlink(missing_ok=True)
    for name in ("release", "driver"):
        (RUN / name).unlink(missing_ok=True)
    say("vagrant lab: down (no domain, network, volume or daemon of the lab left; the box stays "
        "cached)")


def _delete_volumes():
    """The VMs' disks and the box's base image that vagrant-libvirt uploaded to the pool."""
    pools = virsh("pool-list", "--all", "--name").stdout.split()
    for pool in pools:
        for line in virsh("vol-list", pool).stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith("halb_node") or name.startswith("halb-VAGRANTSLASH-"):
                virsh("vol-delete", "--pool", pool, name)


def status(say=print):
    say(f"vagrant lab: {'up' if is_up() else 'down'}"
        + (f" ({_recorded('release')}, {_recorded('driver')})" if _recorded("driver") else ""))
    for name, state in domains().items():
        say(f"{name}: {state}")


class Faults:
    """The Vagrant lab's faults by node name, for `inv drill`: a crash is the VM's own kernel
    crashing (the drill's sysrq path, as on a real cluster), a freeze pauses the domain."""

    real_kernels = True

    @staticmethod
    def domain(name):
        return f"halb_{name}"

    def freeze(self, name):
        done = virsh("suspend", self.domain(name))
        if done.returncode != 0:
            raise UserError(f"vagrant lab: cannot pause {name}: {_last_line(done)}")

    def thaw(self, name):
        done = virsh("resume", self.domain(name))
        if done.returncode != 0:
            raise UserError(f"vagrant lab: cannot resume {name}: {_last_line(done)}")

    def is_frozen(self, name):
        return virsh("domstate", self.domain(name)).stdout.strip() == "paused"

    def power_state(self, name):
        state = virsh("domstate", self.domain(name)).stdout.strip()
        return "on" if state in ("running", "paused") else "off"

    @staticmethod
    def serves(cluster):
        """True when the VMs are up and the config names them (node1, node2 on the lab's
        addresses, as the Vagrantfile defines them)."""
        lab = {(n.name, n.address) for n in s.lab_nodes()}
        return ({(n.name, n.address) for n in cluster.nodes} == lab
                and set(domains()) == {Faults.domain(n) for n, _ in lab})
