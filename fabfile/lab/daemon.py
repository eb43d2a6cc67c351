"""labd: the lab's host-side services, one process.

- one virtual BMC per node (IPMI over LAN, pyghmi), at the node's BMC address and port (each
  its own port, see configs/lab.yaml): power off is a
  hard kill of the node's init, power on boots it again, status says whether it runs;
- the lab's package mirror over HTTP on the bridge address;
- two HTTP backends, each answering with its own name;
- the receiver of the webhook alert agent: every POST kept with when it came and whether its
  bearer token was the lab's (ALERT_TOKEN_HOOK);
- a hypervisor host for fence_virsh and fence_vbox (hypervisor.py): SSH whose shell answers
  virsh and VBoxManage for the nodes.
The nodes are children of this process so that their BMC can boot them again.

Run by `inv lab.up` as `python -m fabfile.lab.daemon`; BMC passwords arrive in the environment.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime

from pyghmi.ipmi.bmc import Bmc

from ..config import fence_password_source
from . import hypervisor, monitoring
from . import settings as s

# systemd-nspawn's exit status when the machine inside asked for a reboot.
NSPAWN_REBOOT = 133


def log(text):
    print(f"{datetime.now().isoformat(timespec='seconds')} {text}", flush=True)


class NodePower:
    """The power state of one node: its systemd-nspawn process, running or not."""

    def __init__(self, node):
        self.node = node
        self.process = None
        self.reported = False
        self.lock = threading.Lock()

    def argv(self):
        return ["systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit",
                f"--machine={self.node.name}", f"--hostname={self.node.name}",
                f"--directory={self.node.root}", f"--network-bridge={s.BRIDGE}",
                "--console=passive", "--link-journal=no"]

    def is_on(self):
        return self.process is not None and self.process.poll() is None

    def on(self):
        with self.lock:
            if self.is_on():
                return
            out = open(s.RUN / f"{self.node.name}.console.log", "ab")
            cgroup = s.node_cgroup(self.node.name)
            if cgroup:
                cgroup.mkdir(parents=True, exist_ok=True)
                s.set_frozen(self.node.name, False)  # a frozen node powers on thawed

            def join_cgroup():
                if cgroup:
                    (cgroup / "cgroup.procs").write_text(f"{os.getpid()}\n")

            self.process = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=join_cgroup)
            self.reported = False
            (s.RUN / f"{self.node.name}.nspawn.pid").write_text(f"{self.process.pid}\n")
            event(self.node.name, "on")

    def ended_by_itself(self):
        """The exit status of a machine that stopped without a power-off (a reboot or poweroff
        from inside, or systemd-nspawn failing), once; None while it runs or after off()."""
        with self.lock:
            if self.process is None or self.process.poll() is None or self.reported:
                return None
            self.reported = True
            return self.process.returncode

    def init_pid(self):
        """The node's PID 1 as the host sees it: the nspawn process's child."""
        if not self.is_on():
            return None
        children = s.child_pids(self.process.pid)
        return children[0] if children else None

    def off(self, why="off"):
        """Power loss: SIGKILL of the node's init tears its whole PID namespace down."""
        with self.lock:
            if not self.is_on():
                return
            init = self.init_pid()
            if init:
                os.kill(init, signal.SIGKILL)
            else:
                self.process.kill()
            # A frozen node's processes die of SIGKILL, but its frozen systemd-nspawn would
            # never reap them: thaw the cgroup so the power is really off at once.
            s.set_frozen(self.node.name, False)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.reported = True
            event(self.node.name, why)


# A real machine's firmware watchdog resets it when a reboot hangs (systemd arms it for 10 min
# on hardware); containers have none. labd plays it, sooner than the rolling update gives up.
WATCHDOG_SECONDS = 120


class ShutdownWatchdog:
    """Resets a node whose systemd has been shutting down for WATCHDOG_SECONDS."""

    def __init__(self, powers):
        self.powers, self.stopping_since = powers, {}

    def state(self, init):
        try:
            return subprocess.run(["nsenter", f"--target={init}", "--mount", "--pid", "--",
                                   "systemctl", "is-system-running"], capture_output=True,
                                  text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    def stopping_units(self, init):
        """The units a hung shutdown waits for (what the reset's log line names)."""
        try:
            out = subprocess.run(["nsenter", f"--target={init}", "--mount", "--pid", "--",
                                  "systemctl", "list-units", "--state=deactivating", "--plain",
                                  "--no-legend", "--no-pager"], capture_output=True, text=True,
                                 timeout=5).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return ", ".join(line.split()[0] for line in out.splitlines() if line.split())

    def check(self):
        for name, power in self.powers.items():
            init = power.init_pid()
            since = self.stopping_since.get(name)
            if since is not None and since[0] != init:  # it rebooted, or is off
                self.stopping_since.pop(name, None)
                since = None
            if init is None:
                continue
            state = self.state(init)
            if state == "stopping" and since is None:
                self.stopping_since[name] = (init, time.monotonic())
            elif state not in ("stopping", ""):
                # "" is no answer: a systemd deep in a hung shutdown may not answer at all.
                self.stopping_since.pop(name, None)
            elif since is not None and time.monotonic() - since[1] > WATCHDOG_SECONDS:
                log(f"{name}: shutting down for over {WATCHDOG_SECONDS}s: watchdog reset; "
                    f"units still stopping: {self.stopping_units(init) or 'no answer'}")
                power.off(why="watchdog")
                power.on()
                self.stopping_since.pop(name, None)

    def run_forever(self, every=5):
        while True:
            time.sleep(every)
            self.check()


def event(node, what):
    s.record_power_event(node, what)
    log(f"{node}: power {what}")


class NodeBmc(Bmc):
    def __init__(self, power, authdata, address, port):
        super().__init__(authdata, port=port, address=address)
        self.power = power

    def get_power_state(self):
        return "on" if self.power.is_on() else "off"

    def power_off(self):
        self.power.off()
        return 0

    def power_shutdown(self):
        return self.power_off()

    def power_on(self):
        self.power.on()
        return 0

    def power_cycle(self):
        self.power.off()
        self.power.on()
        return 0

    power_reset = power_cycle


class Backend(http.server.BaseHTTPRequestHandler):
    name = "backend"

    def do_GET(self):
        body = f"{self.name}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class AlertReceiver(http.server.BaseHTTPRequestHandler):
    """/pacemaker: the webhook alert's events (bearer token checked); /alertmanager:
    Alertmanager's notifications; /api/v2/alerts: the nodes' alertmanager alerts, passed on
    to Alertmanager on loopback. Everything is kept in ALERTS_RECEIVED."""

    token = ""
    lock = threading.Lock()

    def do_POST(self):
        length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
        body = self.rfile.read(length)
        authorized = bool(self.token) and \
            self.headers.get("Authorization", "") == f"Bearer {self.token}"
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        if event is None:
            status = 400
        elif self.path == "/pacemaker":
            status = 204 if authorized else 401
        elif self.path == "/api/v2/alerts":
            status = monitoring.forward_to_alertmanager(body)
        else:
            status = 204
        with self.lock, open(s.ALERTS_RECEIVED, "a") as out:
            out.write(json.dumps({"received": time.time(), "from": self.client_address[0],
                                  "path": self.path, "authorized": authorized,
                                  "status": status, "event": event}) + "\n")
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


class LabHttpServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A prober that gave up on a reply (its timeout, a node going down) is not an error of
        # the lab's; anything else still prints its traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


def http_services():
    """The mirror, the backends and the alert receiver, each serving in a thread."""
    servers = [serve(LabHttpServer(
        (s.HOST_ADDRESS, s.REPO_PORT), functools.partial(Quiet, directory=str(s.Image(s.running_release()).repo))))]
    for name, address, port in s.BACKENDS:
        handler = type(f"Backend_{name}", (Backend,), {"name": name})
        servers.append(serve(LabHttpServer((address, port), handler)))
    receiver = type("AlertReceiverLab", (AlertReceiver,),
                    {"token": os.environ.get(s.ALERT_TOKEN_VARIABLE, "")})
    servers.append(serve(LabHttpServer((s.HOST_ADDRESS, s.ALERT_RECEIVER_PORT), receiver)))
    return servers


def main():
    s.RUN.mkdir(parents=True, exist_ok=True)
    nodes = s.lab_machines()
    servers = http_services()
    watchers = monitoring.start(s.lab_cluster(), log)
    powers = {n.name: NodePower(n) for n in nodes}
    passwords = {}
    for node in (n for n in nodes if n.bmc_address):
        password = passwords[node.name] = os.environ.get(fence_password_source(os.environ, node.name))
        if not password:
            sys.exit(f"labd: no BMC password for {node.name} (FENCE_PASSWORD)")
        NodeBmc(powers[node.name], {node.bmc_user: password}, node.bmc_address, node.bmc_port)
    threading.Thread(target=Bmc.listen, daemon=True).start()
    # The hypervisor host of configs/lab-topology.yaml: it takes any node's fence password.
    hypervisor.serve({name: powers[name] for name in passwords}, set(passwords.values()), log)

    stopping, asked = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    # `inv lab.power-on` names machines in a request file, then sends SIGUSR1: the arbiter has
    # no BMC, and this saves the user an ipmitool line for the nodes.
    signal.signal(signal.SIGUSR1, lambda *_: asked.set())
    for power in powers.values():
        power.on()
    threading.Thread(target=ShutdownWatchdog(powers).run_forever, daemon=True).start()
    (s.RUN / "labd.ready").write_text(f"{os.getpid()}\n")
    log("labd ready: BMCs, mirror and backends serving; nodes powered on")
    while not stopping.wait(0.2):
        for power in powers.values():
            # A node that reboots itself (systemctl reboot) makes systemd-nspawn exit with 133:
            # boot it again, as a real machine's firmware would. Any other end is logged with
            # its status, so that a node that stays off says why.
            status = power.ended_by_itself()
            if status == NSPAWN_REBOOT:
                event(power.node.name, "reboot")
                power.on()
            elif status is not None:
                event(power.node.name, f"stopped-{status}")
        if asked.is_set():
            asked.clear()
            request = s.RUN / "power-on.request"
            names = request.read_text().split() if request.exists() else []
            request.unlink(missing_ok=True)
            for name in names:
                if name in powers:
                    powers[name].on()
    log("labd stopping: powering the nodes off")
    for power in powers.values():
        power.off()
    for server in servers:
        server.shutdown()
    for process in watchers:
        process.terminate()
    for process in watchers:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    (s.RUN / "labd.ready").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
