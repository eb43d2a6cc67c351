import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, settings

from fabfile import config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
SECRETS = {"HACLUSTER_PASSWORD": "hc-Secret-42", "FENCE_PASSWORD": "bmc-Secret-17",
           "SECOND_FENCE_PASSWORD": "pdu-Secret-23", "ALERT_TOKEN_HOOK": "hook-Token-31"}


@pytest.fixture
def write_config(tmp_path):
    """Write a config (a dict, or the lab config changed by a function) and return its path."""
    def write(change=None, base="lab.yaml", name="cluster.yaml"):
        data = yaml.safe_load((CONFIGS / base).read_text())
        if callable(change):
            change(data)
        elif change is not None:
            data = change
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
        return path
    return write


def load_example(name, env=None):
    return config.load(CONFIGS / name, env=SECRETS if env is None else env)


# Property tests: a fixed sequence of examples by default, so that a run is repeatable;
# HYPOTHESIS_PROFILE=explore draws new examples every run (and more of them).
settings.register_profile("repeatable", derandomize=True, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("explore", max_examples=2000, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
