"""Section alerts: what is accepted, and one clear line naming the field for what is not."""

import re

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
    log, hook, am = cluster.alerts
    assert (log.alert_id, log.kind, log.recipient, log.events, log.token) == (
        "halb-alert-log", "file", "/var/log/pacemaker/halb-alerts.log",
        ("fencing", "nodes", "resources"), None)
    assert (hook.kind, hook.events, hook.timeout) == ("webhook", ("fencing", "nodes"), "10s")
    assert hook.token.name == "ALERT_TOKEN_HOOK" and hook.token.value == SECRETS["ALERT_TOKEN_HOOK"]
    assert hook.token in cluster.secrets  # masked wherever halb prints
    assert (am.kind, am.token) == ("alertmanager", None)


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
    ({**HOOK, "kind": "snmp"}, "alerts[0].kind", "not an alert kind (file, webhook, alertmanager)"),
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


def test_an_alertmanager_alert_names_alertmanagers_api_and_needs_no_token(tmp_path):
    env = {k: v for k, v in SECRETS.items() if k != "ALERT_TOKEN_HOOK"}
    (alert,) = load_alerts(tmp_path, [{"name": "am", "kind": "alertmanager",
                                       "url": "http://192.168.56.1:9093/api/v2/alerts"}],
                           env=env).alerts
    assert alert.token is None and alert.events == ("fencing", "nodes", "resources")
    with pytest.raises(ConfigError, match=r"alerts\[0\]\.url: .* ends in /api/v2/alerts"):
        load_alerts(tmp_path, [{"name": "am", "kind": "alertmanager",
                                "url": "http://192.168.56.1:9093/"}], env=env)


@pytest.mark.parametrize("metrics, platform, words", [
    ({"exporter_port": 2224}, None, "metrics.exporter_port: 2224 is pcsd's port"),
    ({"exporter_port": 80}, None, "metrics.exporter_port: 80 is a HAProxy frontend's port"),
    ({"exporter_port": 8404}, None, "metrics.exporter_port: 8404 is HAProxy's health port"),
    ({"exporter": True}, "el9", "metrics.exporter: platform el9 packages no hacluster exporter"),
    ({"exporter": "yes please"}, None, "metrics.exporter: must be true or false"),
    ({"port": 9100}, None, "metrics.port: unknown field"),
    ({"haproxy_port": 80}, None, "metrics.haproxy_port: 80 is a HAProxy frontend's port"),
    ({"haproxy_port": 8404}, None, "metrics.haproxy_port: 8404 is HAProxy's health port"),
    ({"haproxy_port": 2224}, None, "metrics.haproxy_port: 2224 is pcsd's port"),
    ({"haproxy_port": 9664}, None, "metrics.haproxy_port: 9664 is the metrics section's "
                                   "exporter_port"),
    ({"exporter_port": 8405}, None, "metrics.haproxy_port: 8405 is the metrics section's "
                                    "exporter_port"),
    ({"haproxy_port": 70000}, None, "metrics.haproxy_port: "),
    ({"haproxy": "on"}, None, "metrics.haproxy: must be true or false"),
])
def test_a_bad_metrics_section_is_refused(tmp_path, metrics, platform, words):
    data = yaml.safe_load((CONFIGS / "lab.yaml").read_text())
    data["metrics"] = metrics
    if platform:
        data["platform"] = platform
    path = tmp_path / "metrics.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=re.escape(words)):
        config.load(path, env=SECRETS)


def test_each_haproxy_group_gets_its_own_metrics_port_and_a_clash_is_named(tmp_path):
    two = config.load(CONFIGS / "lab-2vips.yaml", env=SECRETS)
    assert [g.haproxy.metrics_port for g in two.groups] == [8405, 8406]
    assert two.haproxy.metrics_port == 8405
    data = yaml.safe_load((CONFIGS / "lab-2vips.yaml").read_text())
    data["groups"][1]["haproxy"]["frontends"][0]["port"] = 8406
    path = tmp_path / "clash.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=re.escape(
            "metrics.haproxy_port: 8406 is a HAProxy frontend's port (group web-b)")):
        config.load(path, env=SECRETS)
    data["metrics"] = {"haproxy": False}
    path.write_text(yaml.safe_dump(data))
    assert [g.haproxy.metrics_port for g in config.load(path, env=SECRETS).groups] == [None, None]


def test_the_exporter_is_on_by_default_where_the_platform_packages_it(tmp_path):
    assert config.load(CONFIGS / "lab.yaml", env=SECRETS).metrics.exporter_port == 9664
    assert config.load(CONFIGS / "example-el9.yaml", env=SECRETS).metrics.exporter_port is None
    assert config.load(CONFIGS / "lab.yaml", env=SECRETS).haproxy.metrics_port == 8405
    assert config.load(CONFIGS / "example-el9.yaml", env=SECRETS).metrics.haproxy_port is None
    data = yaml.safe_load((CONFIGS / "lab.yaml").read_text())
    data["metrics"] = {"exporter": False}
    path = tmp_path / "off.yaml"
    path.write_text(yaml.safe_dump(data))
    assert config.load(path, env=SECRETS).metrics.exporter_port is None
