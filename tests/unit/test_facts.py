"""Each fact unit against recorded node outputs: command output in, fact out
(tests/fixtures/facts/<fact>/<case>.txt and .json; see fact_fixtures)."""

import json

import pytest

from fabfile import facts as factlib

from .conftest import load_example
from .fact_fixtures import STATUS_PARSERS, cases, parse_case

CASES = list(cases())


@pytest.mark.parametrize("fact,name,output,expected", CASES, ids=[f"{f}/{n}" for f, n, *_ in CASES])
def test_a_fact_reads_its_recorded_output(fact, name, output, expected):
    case = json.loads(expected.read_text())
    assert parse_case(fact, output.read_text(), case) == case["fact"]


def test_every_fact_has_recorded_outputs():
    recorded = {fact for fact, *_ in CASES}
    units = {f.name for f in factlib.BASE_FACTS + factlib.FACTS} | set(STATUS_PARSERS)
    assert units <= recorded, f"no fixture for {sorted(units - recorded)}"


def test_only_credential_outputs_are_sensitive():
    assert {f.name for f in factlib.FACTS if f.sensitive} == {"hacluster", "pcsd_auth", "secret_files"}


READ_ONLY = {("cat",), ("sha256sum",), ("systemctl", "show"), ("getent", "shadow"),
             ("cibadmin", "--query"), ("dpkg-query",), ("rpm", "-q"), ("pcs", "--version")}


@pytest.mark.parametrize("config", ["lab.yaml", "example-centos7.yaml"])
def test_fact_commands_only_read_and_fit_the_host(config):
    cluster = load_example(config)
    for node in cluster.hosts:
        for platform, version in (("debian12", (0, 11, 5)), ("centos7", (0, 9, 169))):
            dialect = factlib.Dialect.for_platform(platform, version)
            probe = factlib.Probe(dialect, cluster, node)
            asked = {f.name: f.command(probe) for f in factlib.BASE_FACTS + factlib.FACTS}
            for name, command in asked.items():
                if command is not None:
                    assert any(command.argv[:len(p)] == p for p in READ_ONLY), (name, command.argv)
            assert (asked["secret_files"] is None) == (node.bmc is None)
            files = asked["files"].argv
            assert (factlib.QNETD_DATABASE in files) == (node.bmc is None)
            assert (factlib.OCF_AGENT_PATH in files) == (node.bmc is not None)
