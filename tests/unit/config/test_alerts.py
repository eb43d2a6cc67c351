"""Section alerts: what is accepted, and one clear line naming the field for what is not."""

import pytest
import yaml

from fabfile import config
from fabfile.errors import ConfigError

from ..conftest import CONFIGS, SECRETS


def load_alerts(tmp_path, alerts, env=SECRETS):
    data = yaml.safe_load((CONFIGS / "lab.yaml").read_text())
    data["alerts"] = alerts
    path = tmp_path / "alerts.yaml"
    path.write_text(yaml.safe_dump(data))
    return config.load(path, env=env)


def test_the_lab_alerts_are_read_with_their_defaults():
    cluster = config.load(CONFIGS / "lab.yaml", env=SECRETS)
    log, hook = cluster.alerts
    assert (log.alert_id, log.kind, log.recipient, log.events, log.token) == (
        "halb-alert-log", "file", "/var/log/pacemaker/halb-alerts.log",
        ("fencing", "nodes", "resources"), None)
    assert (hook.kind, hook.events, hook.timeout) == ("webhook", ("fencing", "nodes"), "10s")
    assert hook.token.name == "ALERT_TOKEN_HOOK" and hook.token.value == SECRETS["ALERT_TOKEN_HOOK"]
    assert hook.token in cluster.secrets  # masked wherever halb prints


HOOK = {"name": "hook", "kind": "webhook", "url": "http://192.168.56.1:9095/x"}


@pytest.mark.parametrize("alert, field, words", [
    ({**HOOK, "url": "http://ops:pw@192.168.56.1/x"}, "alerts[0].url", "holds credentials"),
    ({**HOOK, "url": "ftp://192.168.56.1/x"}, "alerts[0].url", "not an http:// or https:// URL"),
    ({**HOOK, "url": "http://192.168.56.1:99999/x"}, "alerts[0].url", "not a valid URL"),
    ({**HOOK, "url": "http:///x"}, "alerts[0].url", "names no host"),
    ({**HOOK, "url": "http://127.0.0.1:9095/x"}, "alerts[0].url", "loopback"),
    ({**HOOK, "url": "http://192.168.56.1/a b"}, "alerts[0].url", "the path may hold"),
    ({**HOOK, "url": "http://192.168.56.1/x#frag"}, "alerts[0].url", "no #fragment"),
    ({**HOOK, "url": "http://192.168.56.1/x\nX-Extra: 1"}, "alerts[0].url", "newline"),
    ({**HOOK, "url": "http://192.168.56.1:2224/x"}, None, None),
    ({"name": "log", "kind": "file", "path": "/etc/passwd"}, "alerts[0].path",
     "not a file in /var/log/pacemaker/"),
    ({"name": "log", "kind": "file", "path": "/var/log/pacemaker/../../etc/shadow"},
     "alerts[0].path", "not a plain absolute path"),
    ({"name": "log", "kind": "file", "url": "http://192.168.56.1/x"}, "alerts[0].url",
     "a file alert takes path, not url"),
    ({**HOOK, "kind": "snmp"}, "alerts[0].kind", "not an alert kind (file, webhook)"),
    ({**HOOK, "events": ["fencing", "fence"]}, "alerts[0].events[1]", "not an event kind"),
    ({**HOOK, "events": []}, "alerts[0].events", "selects nothing"),
    ({**HOOK, "events": ["nodes", "nodes"]}, "alerts[0].events", "names an event kind twice"),
    ({**HOOK, "timeout": "0s"}, "alerts[0].timeout", "below 1s"),
    ({**HOOK, "name": "a b"}, "alerts[0].name", "not a safe name"),
    ({**HOOK, "color": "red"}, "alerts[0].color", "unknown field"),
])
def test_a_bad_alert_is_refused_by_field(tmp_path, alert, field, words):
    if field is None:  # accepted: a receiver on a port the nodes' stack uses is elsewhere
        assert load_alerts(tmp_path, [alert]).alerts[0].recipient == alert["url"]
        return
    with pytest.raises(ConfigError) as error:
        load_alerts(tmp_path, [alert])
    message = str(error.value)
    assert f"{field}:" in message and words in message, message
    assert "Traceback" not in message and str(tmp_path) in message


def test_two_alerts_of_one_name_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"alerts\[1\]\.name: 'HOOK' is also alerts\[0\]'s name"):
        load_alerts(tmp_path, [HOOK, {**HOOK, "name": "HOOK"}])


def test_a_webhook_needs_its_token_and_a_usable_one(tmp_path):
    env = {k: v for k, v in SECRETS.items() if k != "ALERT_TOKEN_HOOK"}
    with pytest.raises(ConfigError, match="ALERT_TOKEN_HOOK: secret is not set"):
        load_alerts(tmp_path, [HOOK], env=env)
    with pytest.raises(ConfigError, match="ALERT_TOKEN_HOOK: is shorter than"):
        load_alerts(tmp_path, [HOOK], env={**env, "ALERT_TOKEN_HOOK": "a1"})
    # A file alert needs no token.
    assert load_alerts(tmp_path, [{"name": "log", "kind": "file",
                                   "path": "/var/log/pacemaker/a.log"}], env=env).alerts
