"""Bad config stops before any host is touched, naming the file, the field and the problem."""

import pytest

from fabfile import config
from fabfile.errors import ConfigError

from ..conftest import SECRETS, load_example


def setter(path, value):
    """A change that sets data[path...] = value (or deletes it when value is DELETE)."""
    def change(data):
        *parents, last = path
        target = data
        for key in parents:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return change


DELETE = object()

BAD = [
    # (change, field named in the message, words of the problem)
    (setter(["vip", "ip"], "10.9.9.9"), "vip.ip", "not in the subnet of node node1"),
    (setter(["vip", "ip"], "192.168.56.11"), "vip.ip", "also the address of node node1"),
    (setter(["vip", "ip"], "not-an-ip"), "vip.ip", "not an IP address"),
    (setter(["vip", "cidr_netmask"], 33), "vip.cidr_netmask", "not a prefix length"),
    (setter(["vip", "cidr_netmask"], "24"), "vip.cidr_netmask", "must be an integer"),
    (setter(["vip", "ip"], DELETE), "vip.ip", "is required"),
    (setter(["nodes", 1, "name"], "node1"), "nodes[1].name", "is also node node1's name"),
    (setter(["nodes", 1, "address"], "192.168.56.11"), "nodes[1].address", "is also node node1's address"),
    (setter(["nodes", 0, "address"], "300.1.1.1"), "nodes[0].address", "neither an IP address nor"),
    (setter(["nodes", 0, "address"], "bad host!"), "nodes[0].address", "neither an IP address nor"),
    (setter(["nodes", 0, "name"], "node1; rm -rf /"), "nodes[0].name", "not a safe name"),
    (setter(["nodes", 0, "name"], "$(reboot)"), "nodes[0].name", "not a safe name"),
    (setter(["nodes", 0, "name"], "-node"), "nodes[0].name", "not a safe name"),
    (setter(["nodes", 0, "ssh_port"], 70000), "nodes[0].ssh_port", "not a TCP/UDP port"),
    (setter(["nodes", 0, "bmc", "username"], "adm in"), "nodes[0].bmc.username", "not a safe name"),
    (setter(["nodes", 1, "bmc"], {"address": "192.168.56.101", "username": "admin"}),
     "nodes[1].bmc.address", "same BMC"),
    (setter(["failover", "profile"], "turbo"), "failover.profile", "not a profile"),
    (setter(["failover", "token"], "200ms"), "failover.token", "below 300 ms"),
    (setter(["failover", "token"], "soon"), "failover.token", "not a duration"),
    (setter(["failover", "consensus"], 500), "failover.consensus", "below 1.2 x token"),
    (setter(["quorum", "device", "algorithm"], "2nodes"), "quorum.device.algorithm",
     "not a qnetd algorithm"),
    (setter(["quorum", "device", "heuristics"], "ping"), "quorum.device.heuristics",
     "not a heuristics choice"),
    (setter(["quorum", "device", "heuristics"], False), "quorum.device.heuristics",
     "as a boolean"),
    (setter(["quorum", "device"], {"host": "arbiter", "address": "192.168.56.13", "algorithm": "lms",
                                   "heuristics": "service"}),
     "quorum.device.heuristics", "needs algorithm ffsplit"),
    (setter(["quorum", "device", "host"], "node1"), "quorum.device.host", "is a cluster node"),
    (setter(["quorum", "device", "address"], "192.168.56.11"), "quorum.device.address",
     "address of node node1"),
    (setter(["nodes", 0, "bmc"], DELETE), "nodes[0].bmc", "is required"),
    (setter(["nodes", 0, "colour"], "blue"), "nodes[0].colour", "unknown field"),
    (setter(["nodes"], []), "nodes", "2 to 16 nodes, got 0"),
    (setter(["platform"], "windows"), "platform", "not a known platform"),
    (setter(["fencing", "preferred_node"], "node3"), "fencing.preferred_node", "not one of the nodes"),
    (setter(["fencing", "race_delay"], "soon"), "fencing.race_delay", "not a duration"),
    (setter(["fencing", "agent"], "ipmilan; true"), "fencing.agent", "not a fence agent name"),
    (setter(["fencing", "options"], {"password": "x"}), "fencing.options.password", "remove it here"),
    (setter(["fencing", "options"], {"bad key": 1}), "fencing.options.bad key", "not a valid option"),
    (setter(["fencing", "options"], {"lanplus": "1\nx=y"}), "fencing.options.lanplus", "single-line"),
    (setter(["service"], {"agent": "nginx"}), "service.agent", "not a resource agent"),
    (setter(["haproxy", "frontends", 0, "backend"], "nowhere"), "haproxy.frontends[0].backend",
     "not one of the backends"),
    (setter(["haproxy", "backends", 0, "servers"], []), "haproxy.backends[0].servers", "at least one"),
    (setter(["haproxy", "backends", 0, "health_check"], "/x y"), "haproxy.backends[0].health_check",
     "not a URL path"),
    (setter(["haproxy", "config_path"], "relative.cfg"), "haproxy.config_path", "directly in /etc/haproxy/"),
    (setter(["group"], "vip"), "service.resource_id", "must all differ"),
    (setter(["cluster"], DELETE), "cluster", "is required"),
    (setter(["install", ], {"extra_packages": ["ok", "bad pkg"]}), "install.extra_packages[1]",
     "not a package name"),
    (setter(["ssh", "accept_unknown_host_keys"], "yes"), "ssh.accept_unknown_host_keys",
     "true or false"),
]


@pytest.mark.parametrize("change,field,problem", BAD)
def test_bad_config_names_file_field_and_problem(write_config, change, field, problem):
    path = write_config(change)
    with pytest.raises(ConfigError) as info:
        config.load(path, env=SECRETS)
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    assert info.value.field == field, message
    assert problem in message


def test_invalid_yaml_names_the_line(write_config):
    path = write_config("cluster:\n  name: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        config.load(path, env=SECRETS)
    assert "line" in info.value.field and "not valid YAML" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.yaml", env=SECRETS)


@pytest.mark.parametrize("missing", ["HACLUSTER_PASSWORD", "FENCE_PASSWORD"])
def test_missing_secret_is_an_error(missing):
    env = {k: v for k, v in SECRETS.items() if k != missing}
    with pytest.raises(ConfigError) as info:
        load_example("lab.yaml", env=env)
    assert info.value.field == missing and "not set" in str(info.value)


def test_missing_secret_tolerated_for_dry_run():
    cluster = config.load("configs/lab.yaml", env={}, require_secrets=False)
    assert set(cluster.missing_secrets) == {"HACLUSTER_PASSWORD", "FENCE_PASSWORD", "ALERT_TOKEN_HOOK"}


def test_per_node_fence_password_wins():
    env = {**SECRETS, "FENCE_PASSWORD_HOST_2": "only-host-2"}
    cluster = load_example("example-centos7.yaml", env=env)
    assert cluster.node("HOST-1").fence_password.value == SECRETS["FENCE_PASSWORD"]
    assert cluster.node("HOST-2").fence_password.name == "FENCE_PASSWORD_HOST_2"
    assert cluster.node("HOST-2").fence_password.value == "only-host-2"


def test_per_node_passwords_alone_are_enough():
    env = {"HACLUSTER_PASSWORD": "hc-Secret-42", "FENCE_PASSWORD_NODE1": "bmc-one-S3cret",
           "FENCE_PASSWORD_NODE2": "bmc-two-S3cret", "ALERT_TOKEN_HOOK": "hook-Token-31"}
    cluster = load_example("lab.yaml", env=env)
    assert [n.fence_password.value for n in cluster.nodes] == ["bmc-one-S3cret", "bmc-two-S3cret"]


def test_dotenv_file_fills_what_the_environment_lacks(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("HACLUSTER_PASSWORD=from-file\nFENCE_PASSWORD=from-file\n")
    values = config.read_secrets(env_file, environ={"FENCE_PASSWORD": "from-env"})
    assert values["HACLUSTER_PASSWORD"] == "from-file"
    assert values["FENCE_PASSWORD"] == "from-env"


@pytest.mark.parametrize("name", ["example-centos7.yaml", "example-el9.yaml",
                                  "example-debian12.yaml", "lab.yaml"])
def test_shipped_configs_are_valid(name):
    cluster = load_example(name)
    assert len(cluster.nodes) == 2


def test_secret_prints_as_its_name():
    secret = config.Secret("FENCE_PASSWORD", "hunter2")
    assert "hunter2" not in str(secret) and "hunter2" not in repr(secret)


@pytest.mark.parametrize("failover,token,consensus", [
    ({}, 3000, 3600),
    ({"profile": "fast"}, 500, 600),
    ({"profile": "fast", "token": "1.5s"}, 1500, 1800),
    ({"profile": "conservative", "token": 2000, "consensus": "3s"}, 2000, 3000),
])
def test_failover_profiles_and_overrides(write_config, failover, token, consensus):
    def change(data):
        data["failover"] = failover
    cluster = config.load(write_config(change), env=SECRETS)
    assert (cluster.failover.token_ms, cluster.failover.consensus_ms) == (token, consensus)


def test_an_arbiter_removes_the_race_delay_unless_one_is_set(write_config):
    with_arbiter = config.load(write_config(lambda data: None), env=SECRETS)
    assert with_arbiter.quorum_device.arbiter.name == "arbiter"
    assert with_arbiter.fencing.race_delay == "0s"

    def no_arbiter(data):
        del data["quorum"]["device"]
    alone = config.load(write_config(no_arbiter), env=SECRETS)
    assert alone.quorum_device is None and alone.fencing.race_delay == "2s"

    def explicit(data):
        data["fencing"]["race_delay"] = "1s"
    assert config.load(write_config(explicit), env=SECRETS).fencing.race_delay == "1s"


@pytest.mark.parametrize("value, seconds", [(None, None), ("300s", 300), (120, 120), ("10m", 600)])
def test_pcs_request_timeout_reaches_every_pcs_command_that_asks_another_pcsd(write_config, value,
                                                                               seconds):
    from fabfile import facts
    def change(data):
        if value is not None:
            data["cluster"]["pcs_request_timeout"] = value
    cluster = config.load(write_config(change), env=SECRETS)
    assert cluster.pcs_request_timeout == seconds
    base = {"os_release": 'ID=debian\nVERSION_ID="12"\n', "pcs_version": "0.11.5"}
    dialect = facts.require_dialect(base, cluster, "node1")
    asking = [dialect.auth_nodes(cluster.nodes, cluster.hacluster_password),
              dialect.start_cluster(),
              dialect.enable_cluster(), dialect.stop_whole_cluster("why"),
              dialect.destroy_whole_cluster("why"), dialect.add_quorum_device("a", "ffsplit", "lowest", 5000)]
    # pcs refuses the option on setup (0.10 to 0.12), and local commands ask no pcsd.
    local = [dialect.setup_cluster("c", cluster.nodes, cluster.failover),
             dialect.destroy_cluster("why"), dialect.set_property("a", "b", "why")]
    for command in asking:
        flags = [a for a in command.argv if a.startswith("--request-timeout")]
        assert flags == ([f"--request-timeout={seconds}"] if seconds else []), command.argv
    assert not any(a.startswith("--request-timeout") for c in local for a in c.argv)


@pytest.mark.parametrize("value, problem", [("0s", "below 1s"), ("2h", "above 3600s"),
                                            ("soon", "not a duration")])
def test_a_bad_pcs_request_timeout_is_refused(write_config, value, problem):
    def change(data):
        data["cluster"]["pcs_request_timeout"] = value
    with pytest.raises(ConfigError) as err:
        config.load(write_config(change), env=SECRETS)
    assert "cluster.pcs_request_timeout" in str(err.value) and problem in str(err.value)
