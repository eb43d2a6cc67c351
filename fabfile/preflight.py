"""`inv preflight`: can the runbook work on these hosts? Read-only checks, before any change.

Each check names the host and what to fix. Checks run on the nodes with tools every supported
system has before the install step (sh, bash, getent, ip, df, date); the ones that need a
cluster tool (the fence agent, haproxy) use it once it is installed and say so otherwise.
`setup-cluster` runs the cheap ones (CHEAP) itself and stops before the first change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from .commands import run
from .config import ROUTED_VIPS
from .dialects import parse_pcs_version
from .errors import StepFailed, UserError
from .fencing import agent_stdin, device_options
from .health import Check
from .plan.haproxy import check_rendered_config, node_configs, refusal_reason
from .render import render_haproxy_config

# Skew above this breaks log correlation and qnetd's TLS certificates before it breaks anything
# else; corosync itself does not need synchronised clocks.
MAX_SKEW_SECONDS = 2.0
# Room for the packages (and apt's cache) before install; for logs and the CIB after.
FREE_MB_BEFORE_INSTALL = 500
FREE_MB_INSTALLED = 100
PCSD_PORT = 2224
QNETD_PORT = 5403
PORT_TIMEOUT_SECONDS = 3
VERDICTS = ("ready", "not ready")

# Every value below reaches its script as a positional parameter.
# exit 0: something listens; 1: refused (reachable, nothing listening yet); 124: no answer.
_TCP_PROBE = 'timeout "$3" bash -c \'exec 3<>"/dev/tcp/$1/$2"\' bash "$1" "$2" 2>/dev/null'
# "local" when this node holds the address, else the kernel's neighbour entry after one
# connection attempt made it ask for the address by ARP.
_VIP_PROBE = ('ip -o -4 addr show | grep -qF " $1/" && { echo local; exit 0; }; '
              'timeout 1 bash -c \'exec 3<>"/dev/tcp/$1/9"\' bash "$1" 2>/dev/null; ip -4 neigh show "$1"')
_DISK = "df -Pk /var /usr"


def _sh(script, *args, **kw):
    return run("sh", "-c", script, "sh", *map(str, args), **kw)


class Preflight:
    def __init__(self, cluster, session):
        self.cluster, self.session = cluster, session
        self.checks: list[Check] = []
        self.reached = {}  # host name -> its dialect, for the hosts SSH reached as root
        self.base = {}

    def ask(self, host, command, sensitive=False):
        return self.session.executor.run(host, command, "preflight", sensitive=sensitive)

    def add(self, name, ok, detail):
        self.checks.append(Check(name, ok, detail))

    # --- checks -----------------------------------------------------------------------------
    def run(self, only_cheap=False):
        self.session.resolve_nodes()
        self.session.executor.connect_attempts = 1  # a host that does not answer is the answer
        with ThreadPoolExecutor(len(self.cluster.hosts)) as pool:
            logins = list(pool.map(self.login, self.cluster.hosts))
        self.checks += logins  # in the config's order of hosts
        if not self.reached:
            return self.checks
        self.same_generation()
        self.clocks()
        self.disk()
        if only_cheap:
            return self.checks
        self.names()
        self.ports()
        self.bmcs()
        self.vip()
        self.haproxy_config()
        return self.checks

    def login(self, host):
        try:
            uid = self.ask(host, run("id", "-u")).stdout.strip()
            base, dialect = self.session.base(host), self.session.dialect(host)
        except (UserError, StepFailed) as exc:
            how = "sudo -n" if self.cluster.ssh.sudo else "root login"
            return Check(f"ssh {host.name}", False, f"{_one_line(exc)}; fix SSH to "
                     f"{host.ssh_user}@{host.ssh_host}:{host.ssh_port} ({how}, key, host key)")
        if uid != "0":
            return Check(f"ssh {host.name}", False, f"commands run as uid {uid}, not root: log in "
                     "as root or set ssh.sudo: true with passwordless sudo")
        self.reached[host.name], self.base[host.name] = dialect, base
        return Check(f"ssh {host.name}", True, f"root on {host.ssh_user}@{host.ssh_host} "
                 f"({dialect.platform}, "
                 + (f"pcs {'.'.join(map(str, dialect.pcs_version))})"
                    if parse_pcs_version(base.get("pcs_version")) else "pcs not installed)"))

    def _nodes_reached(self):
        return [n for n in self.cluster.nodes if n.name in self.reached]

    def same_generation(self):
        nodes = self._nodes_reached()
        if len(nodes) < len(self.cluster.nodes):
            return
        platforms = {n.name: self.reached[n.name].platform for n in nodes}
        installed = {n.name: parse_pcs_version(self.base[n.name].get("pcs_version"))
                     for n in nodes}
        pcs = {n: v[:2] for n, v in installed.items() if v}
        if len(set(platforms.values())) > 1:
            self.add("same platform", False, "the nodes run different systems ("
                     + ", ".join(f"{n}: {p}" for n, p in platforms.items())
                     + "): install the same release on both")
        elif len(set(pcs.values())) > 1:
            self.add("same platform", False, "the nodes run different pcs versions ("
                     + ", ".join(f"{n}: {'.'.join(map(str, v))}" for n, v in pcs.items())
                     + "): upgrade the older node")
        else:
            self.add("same platform", True, f"{next(iter(platforms.values()))} on every node"
                     + (f", pcs {'.'.join(map(str, next(iter(pcs.values()))))}" if pcs else ""))

    def clocks(self):
        names, offsets = [], []
        for host in (h for h in self.cluster.hosts if h.name in self.reached):
            before = time.time()
            said = self.ask(host, run("date", "+%s.%N")).stdout.strip()
            after = time.time()
            try:
                offsets.append(clock_offset(float(said), before, after))
            except ValueError:
                continue
            names.append(host.name)
        if len(offsets) < 2:
            return
        skew, (early, late) = worst_skew(dict(zip(names, offsets, strict=True)))
        detail = f"{skew:.2f}s between {early} and {late} (at most {MAX_SKEW_SECONDS:.0f}s)"
        if skew > MAX_SKEW_SECONDS:
            self.add("clocks", False, f"{late} is {skew:.1f}s ahead of {early}: synchronise "
                     "the clocks (chrony or systemd-timesyncd on every host)")
        else:
            self.add("clocks", True, detail)

    def disk(self):
        for host in (h for h in self.cluster.hosts if h.name in self.reached):
            installed = parse_pcs_version(self.base[host.name].get("pcs_version"))
            need = FREE_MB_INSTALLED if installed else FREE_MB_BEFORE_INSTALL
            out = self.ask(host, _sh(_DISK)).stdout
            free = free_megabytes(out)
            if not free:
                continue
            mount, megabytes = min(free.items(), key=lambda item: item[1])
            ok = megabytes >= need
            self.add(f"disk {host.name}", ok, f"{megabytes} MB free on {mount} (needs {need} MB"
                     + (")" if ok else "): free space there before the install step"))

    def names(self):
        wanted = {n.name: n.address for n in self.cluster.nodes}
        legacy = any(d.legacy for d in self.reached.values())
        for host in self._nodes_reached():
            seen = {name: addresses(self.ask(host, run("getent", "ahostsv4", name,
                                                       accept_codes=(0, 2))).stdout)
                    for name in wanted}
            wrong = {n: a for n, a in seen.items() if a and wanted[n] not in a}
            missing = [n for n, a in seen.items() if not a]
            if wrong:
                self.add(f"names on {host.name}", False, "; ".join(
                    f"{n} resolves to {', '.join(a)}, the config says {wanted[n]}"
                    for n, a in wrong.items()) + f": fix /etc/hosts or DNS on {host.name}")
            elif missing and legacy:
                self.add(f"names on {host.name}", False, f"{', '.join(missing)} do not resolve, "
                         f"and pcs 0.9 reaches nodes by name: add them to /etc/hosts on {host.name}")
            else:
                self.add(f"names on {host.name}", True, "every node name resolves to its address"
                         if not missing else f"{', '.join(missing)} not resolved; pcs reaches "
                         "the nodes by address (addr=)")

    def ports(self):
        targets = [(peer, PCSD_PORT, "pcsd") for peer in self.cluster.nodes]
        if self.cluster.quorum_device:
            arbiter = self.cluster.quorum_device.arbiter
            targets += [(arbiter, PCSD_PORT, "pcsd"), (arbiter, QNETD_PORT, "qnetd")]
        for host in self._nodes_reached():
            for target, port, what in targets:
                if target.name == host.name:
                    continue
                code = self.ask(host, _sh(_TCP_PROBE, target.address, port, PORT_TIMEOUT_SECONDS,
                                          accept_codes=tuple(range(256)))).exited
                name = f"{host.name} -> {target.name}:{port}"
                if code == 0:
                    self.add(name, True, f"{what} answers")
                elif code == 1:
                    self.add(name, True, f"reachable; {what} not listening yet (install step)")
                else:
                    self.add(name, False, f"no answer within {PORT_TIMEOUT_SECONDS}s: open TCP "
                             f"{port} ({what}) from {host.name} to {target.address} (firewall)")

    def bmcs(self):
        for node in self.cluster.nodes:
            for level in self.cluster.fencing.levels:
                self.fence_target(node, level)

    def fence_target(self, node, level):
        peer = self.cluster.peer_of(node.name)
        name = f"bmc of {node.name}" if level == 1 else f"level-{level} fence of {node.name}"
        target, password = node.fence_target(level)
        if password is not None and not password.value:
            self.add(name, False, f"{password.name} is not set: export it or put it in .env")
            return
        if peer.name not in self.reached:
            return
        dialect = self.reached[peer.name]
        agent = self.cluster.fencing.agent_of(level)
        has_agent = self.ask(peer, _sh('command -v "$1"', agent, accept_codes=(0, 1, 127))).exited == 0
        if has_agent:
            ok, said = self.target_from_peer(node, peer, dialect, level)
            where = f"from {peer.name} ({agent})"
        elif agent == "fence_ipmilan" and shutil.which("ipmitool"):
            ok, said = self.bmc_from_here(target, password)
            where = f"from this machine (ipmitool; {peer.name} has no {agent} yet)"
        else:
            self.add(name, True, f"not asked: {agent} is not installed on {peer.name} yet; "
                     "run preflight again after the install step")
            return
        if ok:
            self.add(name, True, f"{target.target} answers {where}: {said}")
        else:
            credentials = f", user and {password.name}" if password is not None else ""
            self.add(name, False, f"{target.target} did not answer a status query {where}"
                     f" ({said}): check the fence target's settings{credentials}, and "
                     f"that {peer.name} reaches it")

    def target_from_peer(self, node, peer, dialect, level):
        password = node.fence_target(level)[1]
        options = [(k, v) for k, v in device_options(self.cluster, dialect, node, level)
                   if not k.startswith("pcmk_") and not k.endswith("_script")]
        if password is not None:
            options += [(dialect.fence_option("password"), password.value)]
        command = run(self.cluster.fencing.agent_of(level), stdin=agent_stdin(options, "status"),
                      stdin_label=f"options of {node.name}'s fence target",
                      accept_codes=tuple(range(256)))
        result = self.ask(peer, command, sensitive=True)
        text = self.session.masker((result.stdout + result.stderr).strip())
        status = next((line for line in text.splitlines() if line.startswith("Status:")), None)
        if result.exited in (0, 2) and status:  # 2: the node is off, which is an answer too
            return True, status
        return False, f"exit {result.exited}"

    def bmc_from_here(self, bmc, password):
        env = {**os.environ, "IPMI_PASSWORD": password.value}
        try:
            done = subprocess.run(["ipmitool", "-I", "lanplus", "-H", bmc.address, "-p",
                                   str(bmc.port), "-U", bmc.username, "-E", "chassis",
                                   "power", "status"], capture_output=True, text=True, env=env,
                                  timeout=20)
        except subprocess.TimeoutExpired:
            return False, "no answer in 20s"
        if done.returncode == 0:
            return True, done.stdout.strip()
        return False, self.session.masker(done.stderr.strip().splitlines()[-1:][0]
                                         if done.stderr.strip() else f"exit {done.returncode}")

    def vip(self):
        views = self.cluster.views()
        for view in views:
            self.vip_free(view, "vip" if len(views) == 1 else f"vip of {view.group}")

    def vip_free(self, view, name):
        vip, cloud = view.vip.ip, view.vip.cloud
        if cloud and cloud.provider in ROUTED_VIPS:
            self.add(name, True, f"{vip} is routed by the cloud ({cloud.provider}): "
                     "no ARP to probe")
            return
        answers = {}
        for host in self._nodes_reached():
            answers[host.name] = self.ask(host, _sh(_VIP_PROBE, vip, accept_codes=tuple(range(256)))).stdout
        holder, mac = vip_holder(answers)
        if holder:
            self.add(name, True, f"{vip} is held by {holder}, a node of this cluster")
        elif mac:
            self.add(name, False, f"{vip} is in use: {mac} answers ARP for it; choose a free "
                     "address for vip.ip or free this one")
        else:
            self.add(name, True, f"{vip} is free (no ARP answer)")

    def haproxy_config(self):
        if not self.cluster.haproxy:
            return
        try:
            check_rendered_config(self.cluster, self.session.say)
            self.add("haproxy.cfg", True, "haproxy -c accepts the rendered config here"
                     if shutil.which("haproxy") else "no haproxy here to check it")
        except UserError as exc:
            self.add("haproxy.cfg", False, f"{exc}; fix the haproxy section of {self.cluster.path}")
            return
        views = self.cluster.views()
        for host in self._nodes_reached():
            if self.ask(host, _sh("command -v haproxy", accept_codes=(0, 1, 127))).exited:
                continue
            for view in views:
                name = f"haproxy.cfg on {host.name}" + (f" ({view.group})" if len(views) > 1
                                                        else "")
                # The shared file and this node's own part, read one after the other as the
                # agent's two -f do: sections simply continue.
                own = node_configs(view).get(host.name, "")
                result = self.ask(host, run("haproxy", "-c", "-f", "/dev/stdin",
                                            stdin=render_haproxy_config(view) + own,
                                            accept_codes=tuple(range(256))))
                if result.exited == 0:
                    self.add(name, True, "haproxy -c accepts it")
                else:
                    self.add(name, False, "haproxy -c refuses it: "
                             f"{refusal_reason(result.stdout + result.stderr)}")


# --- pure parts --------------------------------------------------------------------------------
def _one_line(exc):
    return str(exc).splitlines()[0]


def clock_offset(remote, before, after):
    """How far a host's clock is ahead of this machine's, from its answer between two reads."""
    return remote - (before + after) / 2


def worst_skew(offsets):
    """(the largest difference between two hosts' offsets, (earliest host, latest host))."""
    early = min(offsets, key=offsets.get)
    late = max(offsets, key=offsets.get)
    return offsets[late] - offsets[early], (early, late)


def free_megabytes(df_output):
    """`df -Pk` -> {mount point: free MB}."""
    free = {}
    for line in df_output.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 6 and parts[3].isdigit():
            free[parts[5]] = int(parts[3]) // 1024
    return free


def addresses(getent_output):
    """`getent ahostsv4 NAME` -> its addresses, in order."""
    found = []
    for line in getent_output.splitlines():
        parts = line.split()
        if parts and parts[0] not in found:
            found.append(parts[0])
    return found


def vip_holder(answers):
    """(the node that holds the VIP, or None; the MAC that answered ARP for it, or None)."""
    for node, text in answers.items():
        if text.strip() == "local":
            return node, None
    for text in answers.values():
        words = text.split()
        if "lladdr" in words and not {"FAILED", "INCOMPLETE"} & set(words):
            return None, words[words.index("lladdr") + 1]
    return None, None
