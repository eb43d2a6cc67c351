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
    # The CIB too: one written by other tools may hold plain-text credentials.
    assert {f.name for f in factlib.FACTS if f.sensitive} == {"pcsd_auth", "secret_files", "cib"}


READ_ONLY = {("cat",), ("sha256sum",), ("systemctl", "show"), ("getent", "shadow"),
             ("cibadmin", "--query"), ("dpkg-query",), ("rpm", "-q"), ("pcs", "--version"),
             ("sh", "-c", factlib.FIRST_PYTHON),  # the password check: reads /etc/shadow
             ("sh", "-c", factlib.FENCE_METADATA),  # the agent describing itself
             ("sh", "-c", factlib.SERVICE_METADATA)}  # the OCF service agent, likewise


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


def _shadow_line(tmp_path, hashed):
    shadow = tmp_path / "shadow"
    shadow.write_text(f"root:*:19000:0:99999:7:::\nhacluster:{hashed}:19000::::::\n")
    return shadow


@pytest.mark.parametrize("scheme", ["yescrypt", "sha512"])
def test_the_password_check_runs_crypt_on_the_host_it_asks(tmp_path, scheme):
    """The command the node runs, run here against a shadow file with real hashes: the
    password goes on stdin, the answer is same, differs or unset."""
    import subprocess
    password = "hc-Secret-42"
    if scheme == "sha512":
        hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password,
                                capture_output=True, text=True, check=True).stdout.strip()
    else:
        hashed = subprocess.run(["perl", "-e", 'print crypt($ARGV[0], q($y$j9T$F5Jx5fExrKuPp53xLKQ..1$))',
                                 password], capture_output=True, text=True, check=True).stdout
    assert hashed.startswith({"sha512": "$6$", "yescrypt": "$y$"}[scheme])
    cluster = load_example("lab.yaml")
    probe = factlib.Probe(factlib.Dialect.for_platform("debian12"), cluster, cluster.nodes[0])
    command = next(f for f in factlib.FACTS if f.name == "hacluster_password").command(probe)
    assert cluster.hacluster_password.value not in " ".join(command.argv)

    def ask(shadow, secret):
        argv = [*command.argv[:-1], str(shadow)]
        return subprocess.run(argv, input=secret + "\n", capture_output=True, text=True).stdout.strip()

    shadow = _shadow_line(tmp_path, hashed)
    assert ask(shadow, password) == "same"
    assert ask(shadow, password + "x") == "differs"
    assert ask(_shadow_line(tmp_path, "!"), password) == "unset"
