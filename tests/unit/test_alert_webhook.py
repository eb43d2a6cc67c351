"""halb's webhook alert agent, run as Pacemaker runs it (CRM_alert_* variables, the alert's
options as variables) against a real HTTP receiver on loopback."""

import http.server
import json
import subprocess
import sys
import threading

import pytest

from fabfile.render import WEBHOOK_AGENT

TOKEN = "hook-Token-31"


class Receiver(http.server.BaseHTTPRequestHandler):
    answer = 204
    got: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(self.answer)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    handler = type("R", (Receiver,), {"got": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, handler
    server.shutdown()


def run_agent(tmp_path, url, **extra):
    token_file = tmp_path / "alert-hook.token"
    token_file.write_text(TOKEN + "\n")
    env = {"PATH": "/usr/bin:/bin", "CRM_alert_kind": "fencing", "CRM_alert_node": "node1",
           "CRM_alert_desc": 'Operation off of node1 by node2 for "x": OK', "CRM_alert_task": "off",
           "CRM_alert_rc": "0", "CRM_alert_recipient": url, "CRM_alert_timestamp":
           "2026-12-05T16:00:00.123456+0000", "cluster_name": "halb-lab",
           "token_file": str(token_file), **extra}
    return subprocess.run([sys.executable, str(WEBHOOK_AGENT)], env=env, capture_output=True,
                          text=True, timeout=30)


def test_an_event_is_posted_as_json_with_the_bearer_token(tmp_path, receiver):
    server, handler = receiver
    url = f"http://127.0.0.1:{server.server_port}/pacemaker"
    done = run_agent(tmp_path, url)
    assert done.returncode == 0, done.stderr
    (path, headers, event), = handler.got
    assert path == "/pacemaker" and headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert event["kind"] == "fencing" and event["node"] == "node1" and event["task"] == "off"
    assert event["desc"] == 'Operation off of node1 by node2 for "x": OK'  # quotes kept as text
    assert event["cluster"] == "halb-lab" and event["sent_by"]
    assert TOKEN not in json.dumps(event)


def test_a_refused_post_fails_the_agent_without_showing_the_token(tmp_path, receiver):
    server, handler = receiver
    handler.answer = 401
    done = run_agent(tmp_path, f"http://127.0.0.1:{server.server_port}/x")
    assert done.returncode == 1 and "answered 401" in done.stderr
    assert TOKEN not in done.stdout + done.stderr


def test_an_unreadable_token_file_or_no_receiver_fails_cleanly(tmp_path, receiver):
    server, _ = receiver
    done = run_agent(tmp_path, f"http://127.0.0.1:{server.server_port}/x",
                     token_file=str(tmp_path / "missing.token"))
    assert done.returncode == 1 and "cannot read the token file" in done.stderr
    server.shutdown()
    server.server_close()
    done = run_agent(tmp_path, f"http://127.0.0.1:{server.server_port}/x")
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_an_alert_without_a_recipient_sends_nothing(tmp_path, receiver):
    _, handler = receiver
    assert run_agent(tmp_path, "").returncode == 0 and handler.got == []


def test_an_alertmanager_alert_is_posted_as_alertmanager_takes_it(tmp_path, receiver):
    server, handler = receiver
    done = run_agent(tmp_path, f"http://127.0.0.1:{server.server_port}/api/v2/alerts",
                     format="alertmanager", token_file="", CRM_alert_timestamp_epoch="1796400000",
                     CRM_alert_timestamp_usec="250000")
    assert done.returncode == 0, done.stderr
    (path, headers, alerts), = handler.got
    assert path == "/api/v2/alerts" and "Authorization" not in headers
    (alert,) = alerts
    assert alert["labels"] == {"alertname": "PacemakerFencing", "cluster": "halb-lab",
                               "node": "node1", "severity": "warning", "task": "off"}
    assert alert["annotations"]["summary"] == 'Operation off of node1 by node2 for "x": OK'
    assert alert["startsAt"] == "2026-12-04T16:00:00.250000+00:00"
    assert alert["endsAt"] == "2026-12-04T16:15:00.250000+00:00"


def test_a_failed_fence_is_critical(tmp_path, receiver):
    server, handler = receiver
    run_agent(tmp_path, f"http://127.0.0.1:{server.server_port}/api/v2/alerts",
              format="alertmanager", CRM_alert_rc="1")
    assert handler.got[0][2][0]["labels"]["severity"] == "critical"
