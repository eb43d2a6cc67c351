"""halb's Prometheus alert rules: valid, and each one proven by promtool's rule tests."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "fabfile" / "monitoring" / "rules.yml"
RULE_TESTS = ROOT / "tests" / "monitoring" / "rules.test.yml"


def alert_names():
    return {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]}


def test_every_rule_has_a_test_that_sees_it_fire():
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing = {check["alertname"] for test in tests for check in test["alert_rule_test"]
              if check.get("exp_alerts")}
    assert alert_names() - firing == set()


def test_every_rule_says_what_is_wrong_and_how_bad():
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed "
                    "(make test-deps installs Debian's prometheus package)")
def test_promtool_checks_and_tests_the_rules():
    check = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in check.stdout
    run = subprocess.run(["promtool", "test", "rules", str(RULE_TESTS)], capture_output=True,
                         text=True, cwd=RULE_TESTS.parent)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(not (shutil.which("promtool") and shutil.which("amtool")),
                    reason="promtool or amtool is not installed (make host-deps installs them)")
def test_the_labs_prometheus_and_alertmanager_configs_are_valid(tmp_path):
    from fabfile.lab import monitoring

    from .conftest import load_example
    cluster = load_example("lab.yaml")
    config = monitoring.prometheus_config(cluster)
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == \
        ["192.168.56.11:9664", "192.168.56.12:9664"]
    assert config["scrape_configs"][1] == {"job_name": "haproxy", "static_configs": [
        {"targets": ["192.168.56.11:8405", "192.168.56.12:8405"], "labels": {"group": "halb"}}]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(monitoring.alertmanager_config()))
    for argv in (["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                 ["amtool", "check-config", str(tmp_path / "alertmanager.yml")]):
        done = subprocess.run(argv, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    # Both listen on loopback only.
    assert monitoring.PROMETHEUS_ADDRESS.startswith("127.0.0.1:")
    assert monitoring.ALERTMANAGER_ADDRESS.startswith("127.0.0.1:")
