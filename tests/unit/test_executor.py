"""The SSH edge: retries of transient pcs failures, stop on anything else, masking, the log.

A stand-in connection replays recorded results; everything else is the real executor.
"""

from pathlib import Path
from types import SimpleNamespace

import paramiko
import pytest
from tenacity import wait_none

from fabfile.commands import Masker, run
from fabfile.errors import StepFailed, UserError
from fabfile.executor import (
    CHANNEL_ATTEMPTS,
    TRANSIENT_ATTEMPTS,
    Executor,
    RunLog,
    SessionConnection,
    SessionNotOpened,
)

from .conftest import load_example


class ReplayConnection:
    is_connected = True

    def __init__(self, *results):
        self.results = list(results)
        self.lines = []

    def run(self, line, **kwargs):
        self.lines.append(line)
        result = self.results.pop(0)
        if isinstance(result, BaseException):
            raise result
        stdout, stderr, exited = result
        return SimpleNamespace(stdout=stdout, stderr=stderr, exited=exited)

    def close(self):
        pass


@pytest.fixture
def executor(tmp_path):
    cluster = load_example("lab.yaml")
    log = RunLog(tmp_path, Masker(cluster.secrets))
    made = Executor(cluster, log, say=lambda _: None)
    made.transient_wait = wait_none()
    yield made
    log.close()


def test_transient_pcs_failure_is_retried_then_succeeds(executor):
    conn = executor.connections["node1"] = ReplayConnection(
        ("", "Error: unable to get cib\n", 1),
        ("", "Error: Unable to connect to pcsd: Connection refused\n", 1),
        ("ok\n", "", 0))
    result = executor.run(executor.cluster.node("node1"),
                          run("pcs", "property", "set", "x=1", retry_transient=True), "setup")
    assert result.stdout == "ok\n" and len(conn.lines) == 3
    log = executor.log.path.read_text()
    assert log.count("transient failure of pcs property") == 2


def test_transient_retries_are_bounded(executor):
    executor.connections["node1"] = ReplayConnection(
        *[("", "Error: unable to get cib\n", 1)] * TRANSIENT_ATTEMPTS)
    with pytest.raises(StepFailed, match="unable to get cib"):
        executor.run(executor.cluster.node("node1"),
                     run("pcs", "status", retry_transient=True), "setup")


def test_other_failures_stop_at_once_naming_host_step_and_command(executor):
    conn = executor.connections["node2"] = ReplayConnection(("", "Error: bad option\n", 1))
    with pytest.raises(StepFailed) as info:
        executor.run(executor.cluster.node("node2"),
                     run("pcs", "resource", "create", "x", retry_transient=True), "vip")
    assert len(conn.lines) == 1
    message = str(info.value)
    assert "step 'vip' failed on node2" in message
    assert "pcs resource create x" in message and "Error: bad option" in message


def test_secrets_in_remote_output_are_masked_everywhere(executor):
    secret = executor.cluster.hacluster_password.value
    executor.connections["node1"] = ReplayConnection(("", f"Error: password {secret} refused\n", 1))
    with pytest.raises(StepFailed) as info:
        executor.run(executor.cluster.node("node1"),
                     run("chpasswd", stdin=executor.cluster.hacluster_password), "auth")
    assert secret not in str(info.value) and "********" in str(info.value)
    assert secret not in executor.log.path.read_text()


def test_secret_stdin_never_reaches_the_command_line(executor):
    conn = executor.connections["node1"] = ReplayConnection(("", "", 0))
    executor.run(executor.cluster.node("node1"),
                 run("chpasswd", stdin=executor.cluster.hacluster_password), "auth")
    assert conn.lines == ["chpasswd"]


def test_sensitive_probe_output_is_not_logged(executor):
    executor.connections["node1"] = ReplayConnection(("hacluster:$6$salt$hash:1::::::\n", "", 0))
    executor.run(executor.cluster.node("node1"), run("getent", "shadow", "hacluster"), "facts",
                 sensitive=True)
    log = executor.log.path.read_text()
    assert "$6$salt$hash" not in log and "output not logged" in log


def test_a_sensitive_probe_that_fails_keeps_its_output_to_itself(executor):
    token = "3a4f1c2e-pcsd-token-9b8d"
    executor.connections["node1"] = ReplayConnection((f"node2 {token}\n", "cat: odd\n", 2))
    with pytest.raises(StepFailed) as info:
        executor.run(executor.cluster.node("node1"),
                     run("cat", "/var/lib/pcsd/known-hosts"), "facts", sensitive=True)
    assert "withheld" in str(info.value)
    assert token not in str(info.value) and token not in executor.log.path.read_text()


BANNER_CHECK = """
import dataclasses, sys
from pathlib import Path
from types import SimpleNamespace
from fabfile import config
from fabfile.commands import Masker, run
from fabfile.errors import UserError
from fabfile.executor import Executor, RunLog
tmp, port = sys.argv[1], int(sys.argv[2])
cluster = config.load("configs/example-debian12.yaml",
                      env={"HACLUSTER_PASSWORD": "hc-Secret-42", "FENCE_PASSWORD": "bmc-Secret-17"})
ssh = dataclasses.replace(cluster.ssh, known_hosts=tmp + "/known_hosts",
                          accept_unknown_host_keys=True, identity_file=None, sudo=False)
cluster = dataclasses.replace(cluster, ssh=ssh)
node = SimpleNamespace(name="lb1", address="127.0.0.1", ssh_host="127.0.0.1", ssh_port=port,
                       ssh_user="root")
executor = Executor(cluster, RunLog(tmp + "/logs", Masker()), say=lambda text: None)
executor.connect_attempts = 1
try:
    executor.run(node, run("true"), "test")
except UserError as exc:
    print("error:", exc)
"""


def test_a_host_that_closes_before_the_ssh_banner_is_one_clear_error(tmp_path):
    """paramiko prints a traceback of its own for this unless told not to (outside pytest,
    whose logging capture would hide it: hence a process of its own)."""
    import socket
    import subprocess
    import sys
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def close_at_once():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()
    threading.Thread(target=close_at_once, daemon=True).start()
    try:
        done = subprocess.run([sys.executable, "-c", BANNER_CHECK, str(tmp_path),
                               str(server.getsockname()[1])], capture_output=True, text=True,
                              timeout=60, cwd=Path(__file__).resolve().parents[2])
    finally:
        server.close()
    assert "error: lb1: cannot connect to root@127.0.0.1" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Exception (client)" not in done.stderr, done.stderr


def test_a_connection_lost_mid_command_is_one_clear_error_and_is_dropped(executor):
    """A node that goes away under a command (a reboot): no traceback, and the next command
    opens a new, checked connection instead of reusing the dead one."""
    executor.connections["node1"] = ReplayConnection(EOFError())
    with pytest.raises(UserError, match="node1: the SSH connection failed while running cat"):
        executor.run(executor.cluster.node("node1"), run("cat", "/proc/uptime"), "status")
    assert "node1" not in executor.connections


def test_a_session_that_never_opened_is_run_again_on_a_new_connection(executor):
    """A connection may die, or sshd refuse a session, just before a command ("Unable to open
    channel."); the command never started, so halb opens a new connection and runs it there."""
    executor.channel_wait = 0
    refused = executor.connections["node1"] = ReplayConnection(
        SessionNotOpened("Unable to open channel."))
    fresh = ReplayConnection(("ok\n", "", 0))
    opened = []
    executor._open = lambda node: opened.append(node.name) or fresh
    result = executor.run(executor.cluster.node("node1"), run("cibadmin", "--query"), "facts")
    assert result.stdout == "ok\n"
    assert opened == ["node1"] and len(refused.lines) == 1 and len(fresh.lines) == 1
    assert "no SSH session could be opened" in executor.log.path.read_text()


def test_sessions_that_never_open_end_in_one_clear_error(executor):
    executor.channel_wait = 0
    refusals = [ReplayConnection(SessionNotOpened("ChannelException(2, 'Connect failed')"))
                for _ in range(CHANNEL_ATTEMPTS)]
    executor.connections["node1"] = refusals[0]
    executor._open = lambda node: refusals.pop(1)
    with pytest.raises(UserError, match=f"node1: no SSH session could be opened to run cibadmin "
                                        fr"\({CHANNEL_ATTEMPTS} connections\)"):
        executor.run(executor.cluster.node("node1"), run("cibadmin", "--query"), "facts")
    assert "node1" not in executor.connections


def test_only_a_session_that_never_opened_counts_as_not_started():
    def refuse():
        raise paramiko.SSHException("Unable to open channel.")
    conn = SessionConnection("node1.invalid")
    conn.open = lambda: None
    conn.transport = SimpleNamespace(open_session=refuse)
    with pytest.raises(SessionNotOpened, match="Unable to open channel"):
        conn.create_session()


def test_known_hosts_with_markers_and_comments_is_read_not_rewritten(tmp_path):
    """@cert-authority and @revoked lines made paramiko raise; the operator's file is only
    read, and keys halb accepts go to its own file beside it."""
    import paramiko

    from fabfile.executor import accepted_keys_file, read_known_hosts
    blob = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    text = (f"# the operator's comment\n@cert-authority *.example.com ssh-ed25519 {blob}\n"
            f"@revoked * ssh-ed25519 {blob}\nnode1,10.0.0.11 ssh-ed25519 {blob}\n")
    known = tmp_path / "known_hosts"
    known.write_text(text)
    keys = paramiko.HostKeys()
    revoked = read_known_hosts(str(known), keys)
    assert set(keys.keys()) == {"node1", "10.0.0.11"}
    assert revoked == {("ssh-ed25519", keys["node1"]["ssh-ed25519"].asbytes())}
    assert known.read_text() == text
    assert accepted_keys_file(str(known)) == str(tmp_path / "halb_known_hosts")


def test_an_unreadable_known_hosts_line_is_a_clear_error(tmp_path):
    import paramiko

    from fabfile.errors import UserError
    from fabfile.executor import read_known_hosts
    known = tmp_path / "known_hosts"
    known.write_text("node1 ssh-ed25519 not-base64!!\n")
    with pytest.raises(UserError, match="line 1: not a known_hosts entry"):
        read_known_hosts(str(known), paramiko.HostKeys())
