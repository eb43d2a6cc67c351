"""The one place that talks SSH: connections, retries, secret masking and the run log."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import paramiko
from fabric import Config, Connection
from fabric.runners import Remote
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .commands import Masker
from .errors import StepFailed, UserError

# pcs and the CIB tools fail like this while pcsd or pacemaker are still starting.
TRANSIENT_MARKERS = (
    "Unable to connect to pcsd",
    "Unable to communicate with",
    "Connection refused",
    "unable to get cib",
    "Could not connect to the CIB",
    "Transport endpoint is not connected",
    "Signon to CIB failed",
    "cib is not available",
    "Error: cluster is not currently running on this node",
    "Timed out",
)
CONNECT_ATTEMPTS = 5
# paramiko logs a failed handshake with a traceback through Python's last-resort handler; the
# failure reaches the user once, as this module's error message.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
TRANSIENT_ATTEMPTS = 6
# A session that could not be opened never ran anything: tried again on new connections.
CHANNEL_ATTEMPTS = 4


@dataclass
class Result:
    stdout: str
    stderr: str
    exited: int
    seconds: float


class BulkStdinRemote(Remote):
    """Fabric's runner feeds stdin a byte at a time with a pause between bytes, which makes a
    10 kB file take minutes. Our stdin is always an in-memory text: send it in large chunks.
    The pause stays: it is also how often the runner polls for the command's end, and without
    it every running command spins a CPU core on the controller (a whole core of the two that
    the Vagrant lab's VMs share with it)."""

    input_sleep = 0.005

    def read_our_stdin(self, input_):
        return input_.read(65536)

    def _write_proc_stdin(self, data):
        # A command may exit without reading its stdin (a probe whose tool is missing): its
        # exit code tells what happened, not the closed channel.
        try:
            super()._write_proc_stdin(data)
        except OSError:
            pass


class SessionNotOpened(Exception):
    """No session could be opened on the connection: the command never started."""


class SessionConnection(Connection):
    """Fabric's connection, telling a session that never opened (sshd refused it, or the
    connection died just before) from a command that failed while it ran."""

    def create_session(self):
        try:
            return super().create_session()
        except paramiko.SSHException as exc:  # ChannelException included
            raise SessionNotOpened(str(exc) or type(exc).__name__) from exc


class TransientFailure(Exception):
    def __init__(self, result):
        self.result = result


class RunLog:
    """A transcript of every command with its output, masked, one file per run."""

    def __init__(self, directory, masker: Masker, name="run"):
        self.masker = masker
        self.lock = threading.Lock()
        directory = Path(directory)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        self.path = directory / f"{name}-{stamp}.log"
        try:
            if directory.exists() and not directory.is_dir():
                raise NotADirectoryError(0, "exists and is not a directory")
            directory.mkdir(parents=True, exist_ok=True)
            # Private from its first byte: the log holds masked output, but still node details.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except OSError as exc:
            raise UserError(f"log directory {directory}: {exc.strerror or exc}") from None
        self.file = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, text):
        with self.lock:
            self.file.write(f"{datetime.now().isoformat(timespec='seconds')} {self.masker(text)}\n")
            self.file.flush()

    def close(self):
        self.file.close()


def accepted_keys_file(known_hosts):
    """Where halb saves host keys it accepts (ssh.accept_unknown_host_keys): its own file
    beside the operator's known_hosts, which halb only reads."""
    return os.path.join(os.path.dirname(known_hosts) or ".", "halb_known_hosts")


def read_known_hosts(path, into):
    """Add an OpenSSH known_hosts file's plain entries to the paramiko HostKeys `into`, and
    return its @revoked keys as (type, key bytes). @cert-authority lines name CAs, which
    paramiko cannot check host certificates against: skipped. A line paramiko cannot read is
    a clear error, never a traceback."""
    revoked = set()
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return revoked
    except OSError as exc:
        raise UserError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("@cert-authority"):
            continue
        marker = line.startswith("@revoked")
        if marker:
            line = line.split(None, 1)[1] if " " in line else ""
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
        except (paramiko.hostkeys.InvalidHostKey, ValueError, IndexError) as exc:
            raise UserError(f"{path}: line {number}: not a known_hosts entry paramiko can read "
                            f"({type(exc).__name__})") from None
        if entry is None:
            continue
        if marker:
            revoked.add((entry.key.get_name(), entry.key.asbytes()))
            continue
        for hostname in entry.hostnames:
            into.add(hostname, entry.key.get_name(), entry.key)
    return revoked


class Executor:
    def __init__(self, cluster, log: RunLog, say=print):
        self.cluster = cluster
        self.log = log
        self.say = say
        self.masker = log.masker
        self.connections = {}
        self.lock = threading.Lock()
        self.transient_wait = wait_exponential(multiplier=1, min=2, max=15)
        self.channel_wait = 0.5
        self.connect_attempts = CONNECT_ATTEMPTS

    # --- connections ----------------------------------------------------------------------
    @contextlib.contextmanager
    def single_attempt(self):
        """Connect once, no retries, within the block: where a host that does not answer is
        itself the answer (a lock skips it, a reboot is not over, preflight reports it)."""
        attempts, self.connect_attempts = self.connect_attempts, 1
        try:
            yield
        finally:
            self.connect_attempts = attempts

    def _connection_to(self, node):
        """A Fabric connection to a node, not yet open, with halb's host-key policy: the
        operator's known_hosts, and new keys only when the config accepts them (saved to halb's
        own file). Returns it with the known_hosts path and the keys marked @revoked."""
        ssh = self.cluster.ssh
        kwargs = {"allow_agent": True, "look_for_keys": ssh.identity_file is None}
        if ssh.identity_file:
            kwargs["key_filename"] = os.path.expanduser(ssh.identity_file)
        config = Config(overrides={"runners": {"remote": BulkStdinRemote},
                                   "load_ssh_configs": False})
        conn = SessionConnection(node.ssh_host, user=node.ssh_user, port=node.ssh_port, config=config,
                          connect_timeout=ssh.connect_timeout, connect_kwargs=kwargs)
        client = conn.client
        known_hosts = os.path.expanduser(ssh.known_hosts or "~/.ssh/known_hosts")
        revoked = read_known_hosts(known_hosts, client._system_host_keys)
        if ssh.accept_unknown_host_keys:
            # New keys are saved to halb's own file beside it: paramiko rewrites the whole file
            # it saves to, and the operator's comments and markers are not its to drop.
            accepted = accepted_keys_file(known_hosts)
            Path(accepted).parent.mkdir(parents=True, exist_ok=True)
            Path(accepted).touch(mode=0o600)
            revoked |= read_known_hosts(accepted, client.get_host_keys())
            client._host_keys_filename = accepted
        # Fabric trusts unknown host keys by default; here that takes an explicit setting.
        client.set_missing_host_key_policy(
            paramiko.AutoAddPolicy() if ssh.accept_unknown_host_keys else paramiko.RejectPolicy())
        return conn, known_hosts, revoked

    def _open(self, node):
        conn, known_hosts, revoked = self._connection_to(node)

        def attempt():
            try:
                conn.open()
                key = conn.client.get_transport().get_remote_server_key()
                if (key.get_name(), key.asbytes()) in revoked:
                    conn.close()
                    raise UserError(f"{node.name} ({node.ssh_host}): its host key is marked "
                                    f"@revoked in {known_hosts}: refused")
            except paramiko.BadHostKeyException:
                files = [known_hosts] + ([accepted_keys_file(known_hosts)]
                                         if self.cluster.ssh.accept_unknown_host_keys else [])
                raise UserError(
                    f"{node.name} ({node.ssh_host}): its host key is not the one recorded in "
                    f"{' or '.join(files)}: refused. If the machine was replaced, check its new "
                    f"key and remove the old one (ssh-keygen -R {node.ssh_host} -f FILE)") from None
            except paramiko.AuthenticationException as exc:
                raise UserError(f"{node.name} ({node.ssh_host}): SSH login as {node.ssh_user} "
                                f"refused: {exc}") from None
            except paramiko.SSHException as exc:
                if "not found in known_hosts" in str(exc):
                    raise UserError(
                        f"{node.name} ({node.ssh_host}): host key unknown to {known_hosts}; "
                        "verify it and add it (ssh-keyscan), or set "
                        "ssh.accept_unknown_host_keys: true") from None
                raise
            return conn

        retrying = Retrying(
            stop=stop_after_attempt(self.connect_attempts),
            wait=wait_exponential(multiplier=1, max=8),
            retry=retry_if_exception_type((OSError, EOFError, paramiko.SSHException,
                                           socket.timeout)),
            before_sleep=lambda rs: self._note(
                f"{node.name}: SSH connection failed ({rs.outcome.exception()}); "
                f"retry {rs.attempt_number}/{self.connect_attempts - 1}"),
            reraise=True)
        try:
            return retrying(attempt)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise UserError(f"{node.name}: cannot connect to {node.ssh_user}@{node.ssh_host}:"
                            f"{node.ssh_port} after {self.connect_attempts} attempt(s): {exc}") from None

    def connection(self, node):
        # Each node is driven by one thread at a time, so a plain cache is enough.
        with self.lock:
            conn = self.connections.get(node.name)
        if conn is None:
            conn = self._open(node)
            with self.lock:
                self.connections[node.name] = conn
        return conn

    def forget(self, name):
        """Drop the cached connection to a node that died or rebooted."""
        with self.lock:
            conn = self.connections.pop(name, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # the peer is gone: nothing to close politely
                pass

    def close(self):
        for conn in self.connections.values():
            conn.close()

    # --- commands ---------------------------------------------------------------------------
    def _note(self, text):
        self.log.write(text)
        self.say(self.masker(text))

    def remote_line(self, command):
        """The command line as the node's shell receives it (through sudo -n with ssh.sudo)."""
        line = command.shell_line()
        return f"sudo -n -- {line}" if self.cluster.ssh.sudo else line

    def _run_once(self, node, command, sensitive):
        conn = self.connection(node)
        if not conn.is_connected:
            # Dropped since (a reboot, sshd restarted): open it again through _open, which checks
            # the host key and says what failed, instead of letting Fabric reconnect on its own.
            self.forget(node.name)
            conn = self.connection(node)
        stdin = command.stdin_text()
        started = time.monotonic()
        for attempt in range(1, CHANNEL_ATTEMPTS + 1):
            try:
                result = conn.run(self.remote_line(command), hide=True, warn=True, pty=False,
                                  in_stream=io.StringIO(stdin or ""))
                break
            except SessionNotOpened as exc:
                # The command never started, so running it on a new connection is safe
                # whatever it does.
                self.forget(node.name)
                if attempt == CHANNEL_ATTEMPTS:
                    raise UserError(f"{node.name}: no SSH session could be opened to run "
                                    f"{command.argv[0]} ({attempt} connections): {exc}") from None
                self._note(f"{node.name}: no SSH session could be opened ({exc}); "
                           f"retry {attempt}/{CHANNEL_ATTEMPTS - 1} on a new connection")
                time.sleep(self.channel_wait * attempt)
                conn = self.connection(node)
            except (OSError, EOFError, paramiko.SSHException) as exc:
                self.forget(node.name)
                raise UserError(f"{node.name}: the SSH connection failed while running "
                                f"{command.argv[0]}: {exc or type(exc).__name__}") from None
        res = Result(result.stdout, result.stderr, result.exited, time.monotonic() - started)
        self.log.write(f"[{node.name}] $ {command.shell_line()}  -> exit {res.exited} "
                       f"({res.seconds:.1f}s)")
        if not sensitive:
            for stream, text in (("stdout", res.stdout), ("stderr", res.stderr)):
                if text.strip():
                    self.log.write(f"[{node.name}] {stream}:\n{text.rstrip()}")
        else:
            self.log.write(f"[{node.name}] (output not logged: it holds credentials)")
        if res.exited not in command.accept_codes and command.retry_transient and any(
                m.lower() in (res.stdout + res.stderr).lower() for m in TRANSIENT_MARKERS):
            raise TransientFailure(res)
        return res

    def run(self, node, command, step, sensitive=False):
        """Run one command; any exit code it does not accept stops the run with StepFailed."""
        retrying = Retrying(
            stop=stop_after_attempt(TRANSIENT_ATTEMPTS),
            wait=self.transient_wait,
            retry=retry_if_exception_type(TransientFailure),
            before_sleep=lambda rs: self._note(
                f"{node.name}: {step}: transient failure of {command.argv[0]} "
                f"{command.argv[1] if len(command.argv) > 1 else ''}: "
                f"{'(output withheld)' if sensitive else _last_line(rs.outcome.exception().result)}; "
                f"retry {rs.attempt_number}/{TRANSIENT_ATTEMPTS - 1}"))
        try:
            res = retrying(self._run_once, node, command, sensitive)
        except RetryError as exc:
            res = exc.last_attempt.exception().result
        if res.exited not in command.accept_codes:
            detail = ("(output withheld: it may hold credentials)" if sensitive else
                      res.stderr.strip() or res.stdout.strip() or "(no output)")
            raise StepFailed(step, node.name, self.masker(command.display()),
                             f"exit {res.exited}: " + self.masker(detail).replace("\n", "\n  "))
        return res


def last_line(text, empty):
    """The last line of a command's output, for a one-line message; `empty` if there is none."""
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else empty


def _last_line(result):
    return last_line(result.stderr or result.stdout, f"exit {result.exited}")
