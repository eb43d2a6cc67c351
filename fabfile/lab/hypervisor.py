"""The lab's hypervisor host as fence_virsh and fence_vbox meet one: an SSH server on the bridge
whose shell answers the virsh and VBoxManage commands those agents send, for the lab's nodes as
VMs named `halb_<node>`.

The agents run unchanged on the nodes: OpenSSH with password login, a shell with the prompt
they ask for, then `virsh list --all`, `virsh domstate D`, `virsh start D`, `virsh destroy D`,
or `VBoxManage list vms`, `VBoxManage list runningvms`, `VBoxManage startvm "D" --type headless`,
`VBoxManage controlvm "D" poweroff`, answered as virsh and VBoxManage print them. Stopping and
starting act on the node's power like its virtual BMC does. Nothing runs a real shell: a line
is split into words and only those commands (after an optional sudo) do anything.
"""

from __future__ import annotations

import hmac
import shlex
import socket
import threading
import uuid

import paramiko

from . import settings as s

DOMAIN_PREFIX = "halb_"
# fence_virsh's default prompt: it starts bash with PS1='\[EXPECT\]# ' and waits for this.
PROMPT = "[EXPECT]# "
RUNNING, SHUT_OFF = "running", "shut off"


def domain_name(node_name):
    return f"{DOMAIN_PREFIX}{node_name}"


def host_key():
    """The hypervisor's host key, kept across lab runs so that the nodes' known_hosts stay true."""
    path = s.HYPERVISOR_HOST_KEY
    if not path.exists():
        s.STATE.mkdir(parents=True, exist_ok=True)
        key = paramiko.ECDSAKey.generate(bits=256)
        key.write_private_key_file(str(path))
        path.chmod(0o600)
    return paramiko.ECDSAKey.from_private_key_file(str(path))


def known_hosts_line():
    """The line a node's /root/.ssh/known_hosts needs: fence_virsh does not accept new keys."""
    key = host_key()
    return f"[{s.HOST_ADDRESS}]:{s.HYPERVISOR_PORT} {key.get_name()} {key.get_base64()}\n"


class Host:
    """One shell line -> what the host prints; `powers` maps a node name to its NodePower."""

    def __init__(self, powers):
        self.tools = {"virsh": Virsh(powers), "VBoxManage": VBoxManage(powers)}

    def run(self, line):
        try:
            words = shlex.split(line)
        except ValueError:
            return "bash: syntax error\n"
        if words[:1] == ["sudo"]:
            words = words[1:]
        if not words:
            return ""
        tool = self.tools.get(words[0])
        if tool is None:
            return f"bash: {words[0]}: command not found\n"
        return tool.run(words[1:])


class Virsh:
    """virsh's answers for the lab's domains."""

    def __init__(self, powers):
        self.domains = {domain_name(name): power for name, power in powers.items()}

    def state(self, domain):
        return RUNNING if self.domains[domain].is_on() else SHUT_OFF

    def run(self, args):
        if args[:1] in (["--connect"], ["-c"]):
            args = args[2:]
        command, names = (args[0], args[1:]) if args else ("", [])
        if command == "list" and names in ([], ["--all"]):
            return self.listing(all_domains=names == ["--all"])
        if command in ("domstate", "start", "destroy") and len(names) == 1:
            domain = names[0]
            if domain not in self.domains:
                return f"error: failed to get domain '{domain}'\n"
            return getattr(self, command)(domain)
        return f"error: unknown command: '{' '.join(args)}'\n"

    def listing(self, all_domains):
        rows = [(str(i) if self.state(d) == RUNNING else "-", d, self.state(d))
                for i, d in enumerate(sorted(self.domains), start=1)
                if all_domains or self.state(d) == RUNNING]
        lines = [" Id   Name         State", "-" * 33]
        lines += [f" {i:<4} {d:<12} {state}" for i, d, state in rows]
        return "\n".join(lines) + "\n\n"

    def domstate(self, domain):
        return f"{self.state(domain)}\n\n"

    def start(self, domain):
        if self.state(domain) == RUNNING:
            return (f"error: Failed to start domain '{domain}'\n"
                    "error: Requested operation is not valid: domain is already running\n")
        self.domains[domain].on()
        return f"Domain '{domain}' started\n\n"

    def destroy(self, domain):
        if self.state(domain) != RUNNING:
            return (f"error: Failed to destroy domain '{domain}'\n"
                    "error: Requested operation is not valid: domain is not running\n")
        self.domains[domain].off()
        return f"Domain '{domain}' destroyed\n\n"


class VBoxManage:
    """VBoxManage's answers for the lab's VMs."""

    def __init__(self, powers):
        self.vms = {domain_name(name): power for name, power in powers.items()}

    @staticmethod
    def vm_uuid(vm):
        return uuid.uuid5(uuid.NAMESPACE_URL, f"halb-lab:{vm}")

    def find(self, name):
        return next((vm for vm in self.vms if name in (vm, str(self.vm_uuid(vm)))), None)

    def run(self, args):
        if args in (["list", "vms"], ["list", "runningvms"]):
            running = args[1] == "runningvms"
            return "".join(f'"{vm}" {{{self.vm_uuid(vm)}}}\n' for vm in sorted(self.vms)
                           if not running or self.vms[vm].is_on())
        if len(args) >= 2 and args[0] in ("startvm", "controlvm"):
            vm = self.find(args[1])
            if vm is None:
                return ("VBoxManage: error: Could not find a registered machine named "
                        f"'{args[1]}'\n")
            power = self.vms[vm]
            if args[0] == "startvm" and args[2:] in ([], ["--type", "headless"]):
                if power.is_on():
                    return (f'VBoxManage: error: The machine \'{vm}\' is already locked for a '
                            "session (or being unlocked)\n")
                power.on()
                return (f'Waiting for VM "{vm}" to power on...\n'
                        f'VM "{vm}" has been successfully started.\n')
            if args[0] == "controlvm" and args[2:] == ["poweroff"]:
                if not power.is_on():
                    return f"VBoxManage: error: Machine '{vm}' is not currently running\n"
                power.off()
                return "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%\n"
        return f"VBoxManage: error: Unknown or invalid command: {' '.join(args)}\n"


class Login(paramiko.ServerInterface):
    """One SSH connection: password login as the fence user, then one session channel with a
    pty and a shell (or a command, which fence_virsh uses to start bash with its prompt)."""

    def __init__(self, user, passwords):
        self.user, self.passwords = user, passwords
        self.session = threading.Event()

    def get_allowed_auths(self, username):
        return "password"

    def check_auth_password(self, username, password):
        good = username == self.user and any(
            hmac.compare_digest(password.encode(), p.encode()) for p in self.passwords)
        return paramiko.AUTH_SUCCESSFUL if good else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED_OR_UNKNOWN_CHANNEL_TYPE

    def check_channel_pty_request(self, *args):
        return True

    def check_channel_shell_request(self, channel):
        self.session.set()
        return True

    def check_channel_exec_request(self, channel, command):
        self.session.set()
        return True


def _shell(channel, host):
    """A terminal's worth of shell: echo what is typed, answer each line, prompt again."""
    channel.sendall(PROMPT.encode())
    pending = b""
    while True:
        data = channel.recv(1024)
        if not data:
            return
        channel.sendall(data.replace(b"\r", b"").replace(b"\n", b"\r\n"))  # the pty's echo
        pending += data.replace(b"\r", b"\n")
        while b"\n" in pending:
            raw, pending = pending.split(b"\n", 1)
            line = raw.decode(errors="replace").strip()
            if line in ("quit", "exit", "logout"):
                channel.send_exit_status(0)
                return
            answer = host.run(line) if line else ""
            channel.sendall(answer.replace("\n", "\r\n").encode() + PROMPT.encode())


def _serve_connection(sock, key, host, user, passwords, log):
    peer = sock.getpeername()[0]
    transport = paramiko.Transport(sock)
    transport.add_server_key(key)
    login = Login(user, passwords)
    try:
        transport.start_server(server=login)
        channel = transport.accept(30)
        if channel is None or not login.session.wait(10):
            return
        _shell(channel, host)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        log(f"hypervisor: connection from {peer} ended: {exc}")
    finally:
        transport.close()


def serve(powers, passwords, log):
    """Listen on the bridge address; each connection in its own thread."""
    host, key = Host(powers), host_key()
    listener = socket.create_server((s.HOST_ADDRESS, s.HYPERVISOR_PORT), reuse_port=False)
    listener.listen(16)

    def accept_forever():
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=_serve_connection, daemon=True,
                             args=(sock, key, host, s.HYPERVISOR_USER, passwords, log)).start()

    threading.Thread(target=accept_forever, daemon=True).start()
    return listener
