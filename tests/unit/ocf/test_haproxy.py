"""The OCF agent against a real haproxy: exit codes, idempotence, reload, and ocf-tester."""

import os
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from fabfile.render import AGENT

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_CONFIGURED, OCF_NOT_RUNNING = 0, 1, 5, 6, 7

pytestmark = pytest.mark.skipif(
    not (shutil.which("haproxy") and os.path.exists("/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs")),
    reason="haproxy and resource-agents are not installed (make host-deps installs them)")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CONFIG = """global
    # Two haproxy processes on one port fail here rather than share it (SO_REUSEPORT).
    noreuseport
    stats socket {dir}/admin.sock mode 600 level admin expose-fd listeners
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend web
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string "{answer}"
frontend health
    bind 127.0.0.1:{health}
    monitor-uri /healthz
"""


class Agent:
    def __init__(self, tmp_path, **params):
        self.dir = tmp_path
        self.port, self.health = free_port(), free_port()
        self.conffile = tmp_path / "haproxy.cfg"
        self.write_config("v1")
        self.params = {"binary": "/usr/sbin/haproxy", "conffile": str(self.conffile),
                       "pidfile": str(tmp_path / "haproxy.pid"),
                       "stats_socket": str(tmp_path / "admin.sock"),
                       "status_url": f"http://127.0.0.1:{self.health}/healthz", **params}

    def write_config(self, answer):
        self.conffile.write_text(CONFIG.format(dir=self.dir, port=self.port, health=self.health,
                                               answer=answer))

    def __call__(self, action, timeout=30, op_timeout_ms=20000, cwd=None):
        env = {"PATH": os.environ["PATH"], "OCF_ROOT": "/usr/lib/ocf", "HA_RSCTMP": str(self.dir),
               "OCF_RESOURCE_INSTANCE": "test-haproxy",
               "OCF_RESKEY_CRM_meta_timeout": str(op_timeout_ms),
               **{f"OCF_RESKEY_{k}": v for k, v in self.params.items()}}
        result = subprocess.run([str(AGENT), action], env=env, capture_output=True, text=True,
                                timeout=timeout, cwd=cwd)
        return result.returncode, result.stdout + result.stderr

    def get(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=3) as reply:
            return reply.read().decode()

    def pid(self):
        return int((self.dir / "haproxy.pid").read_text().split()[0])


@pytest.fixture
def agent(tmp_path):
    made = Agent(tmp_path)
    yield made
    made("stop")


def test_start_stop_are_idempotent_and_monitor_follows(agent):
    assert agent("monitor")[0] == OCF_NOT_RUNNING
    assert agent("start")[0] == OCF_SUCCESS
    assert agent.get() == "v1"  # start returned only once HAProxy serves
    assert agent("start")[0] == OCF_SUCCESS
    assert agent("monitor")[0] == OCF_SUCCESS
    assert agent("stop")[0] == OCF_SUCCESS
    assert agent("stop")[0] == OCF_SUCCESS
    assert agent("monitor")[0] == OCF_NOT_RUNNING


def test_missing_binary(tmp_path):
    agent = Agent(tmp_path, binary=str(tmp_path / "no-haproxy"))
    for action in ("validate-all", "start"):
        rc, out = agent(action)
        assert rc == OCF_ERR_INSTALLED, out
    assert agent("stop")[0] == OCF_SUCCESS  # nothing runs, so stopping succeeds


def test_invalid_config(agent):
    agent.conffile.write_text("frontend broken\n    bind 127.0.0.1:notaport\n")
    for action in ("validate-all", "start"):
        rc, out = agent(action)
        assert rc == OCF_ERR_CONFIGURED, out
    assert agent("monitor")[0] == OCF_NOT_RUNNING


def test_the_nodes_own_file_is_read_after_the_shared_one_at_start_and_reload(tmp_path):
    """node_conffile: halb's per-node part (HAProxy's Prometheus endpoint on the node's own
    address), rendered from the template halb ships."""
    from types import SimpleNamespace

    from fabfile.render import render_haproxy_node_config
    node_file = tmp_path / "haproxy.node.cfg"
    agent = Agent(tmp_path, node_conffile=str(node_file))
    metrics = free_port()

    def render(port):
        view = SimpleNamespace(haproxy=SimpleNamespace(config_path=str(agent.conffile),
                                                        metrics_port=port))
        node_file.write_text(render_haproxy_node_config(
            view, SimpleNamespace(name="node1", address="127.0.0.1")))

    def scrape(port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as reply:
            return reply.read().decode()
    try:
        rc, out = agent("start")
        assert rc == OCF_ERR_INSTALLED and "haproxy.node.cfg is missing" in out, out
        render(metrics)
        assert agent("start")[0] == OCF_SUCCESS
        assert agent.get() == "v1" and "haproxy_process_" in scrape(metrics)
        moved = free_port()
        render(moved)
        assert agent("reload")[0] == OCF_SUCCESS
        assert "haproxy_process_" in scrape(moved)
        with pytest.raises(OSError):
            scrape(metrics)
    finally:
        agent("stop")


def test_port_already_taken(agent):
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", agent.port))
        squatter.listen()
        rc, out = agent("start")
    assert rc == OCF_ERR_GENERIC, out
    assert "bind" in out.lower()
    assert agent("monitor")[0] == OCF_NOT_RUNNING


def stopped(pid):
    """Whether every thread of process pid is stopped (state T in /proc)."""
    states = [(task / "stat").read_text().rsplit(")", 1)[1].split()[0]
              for task in pathlib.Path(f"/proc/{pid}/task").iterdir()]
    return all(state == "T" for state in states)


def listeners(port):
    """Who listens on the port, for the message of a failed assertion."""
    return subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True,
                          text=True).stdout.strip()


def test_monitor_fails_when_haproxy_stops_answering(agent):
    assert agent("start")[0] == OCF_SUCCESS
    pid = agent.pid()
    os.kill(pid, 19)  # SIGSTOP: the process exists but answers nothing
    try:
        deadline = time.monotonic() + 5
        while not stopped(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stopped(pid), "haproxy did not stop on SIGSTOP"
        rc, out = agent("monitor")
        assert rc == OCF_ERR_GENERIC, (rc, out, listeners(agent.health))
    finally:
        os.kill(pid, 18)  # SIGCONT


def test_reload_serves_the_new_config_from_a_new_process(agent):
    assert agent("start")[0] == OCF_SUCCESS
    before = agent.pid()
    agent.write_config("v2")
    assert agent("reload")[0] == OCF_SUCCESS
    assert agent.pid() != before
    # Once reload returns, no new connection meets the old process (it stopped listening).
    assert [agent.get() for _ in range(20)] == ["v2"] * 20
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{before}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{before}"), "the old process finished its work and left"


def test_reload_refuses_an_invalid_config_and_keeps_serving(agent):
    assert agent("start")[0] == OCF_SUCCESS
    before = agent.pid()
    agent.conffile.write_text("this is not haproxy\n")
    rc, out = agent("reload")
    # Recoverable: the old process still serves, so this must not ban the resource.
    assert rc == OCF_ERR_GENERIC, out
    assert agent.pid() == before and agent.get() == "v1"
    assert agent("monitor")[0] == OCF_SUCCESS


def test_reload_without_the_pid_file_fails_instead_of_reloading_nothing(agent):
    assert agent("start")[0] == OCF_SUCCESS
    before = agent.pid()
    (agent.dir / "haproxy.pid").unlink()
    agent.write_config("v2")
    rc, out = agent("reload")
    assert rc == OCF_ERR_GENERIC and "without its pid file" in out, out
    assert agent.get() == "v1" and os.path.exists(f"/proc/{before}")
    os.kill(before, 15)


def test_refusal_names_haproxys_own_reason(agent):
    agent.conffile.write_text("global\nfrontend web\n    bind 127.0.0.1:80\n    nonsense-keyword 1\n")
    rc, out = agent("validate-all")
    assert rc == OCF_ERR_CONFIGURED
    reason = next(line for line in out.splitlines() if "refuses" in line)
    assert "nonsense-keyword" in reason, out


@pytest.mark.parametrize("status_url", [False, True])
def test_a_stale_pid_file_naming_another_process_is_not_running(tmp_path, status_url):
    agent = Agent(tmp_path, stats_socket="")
    if not status_url:
        agent.params["status_url"] = ""
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        (tmp_path / "haproxy.pid").write_text(f"{stranger.pid}\n")
        assert agent("monitor")[0] == OCF_NOT_RUNNING
        rc, out = agent("start")
        assert rc == OCF_SUCCESS, out
        assert agent.pid() != stranger.pid and agent.get() == "v1"
        assert stranger.poll() is None, "the stop or start must not signal a stranger"
    finally:
        agent("stop")
        stranger.kill()
        stranger.wait()


def test_extra_opts_are_split_but_never_globbed(tmp_path):
    for name in ("peer1", "peer2"):
        (tmp_path / name).write_text("")
    agent = Agent(tmp_path, extra_opts="-L peer*")
    try:
        rc, out = agent("start", cwd=tmp_path)
        assert rc == OCF_SUCCESS, out
        argv = open(f"/proc/{agent.pid()}/cmdline").read().split("\0")
        assert argv[argv.index("-L") + 1] == "peer*"
    finally:
        agent("stop")


@pytest.mark.skipif(not shutil.which("ocf-tester"), reason="ocf-tester (resource-agents) missing")
def test_ocf_tester_passes(tmp_path):
    agent = Agent(tmp_path)
    args = [w for k, v in agent.params.items() for w in ("-o", f"{k}={v}")]
    result = subprocess.run(["ocf-tester", "-n", "test-haproxy", *args, str(AGENT)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HA_RSCTMP": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed all tests" in result.stdout + result.stderr
