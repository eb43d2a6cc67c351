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
