"""The config loader against hostile and careless input: every string field, every way of
sneaking a line in, YAML's surprises, addresses that cannot work, names that collide, secrets
that masking would give away. Nothing may produce a traceback or a long error line."""

import copy
import os
import re
import time

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fabfile import config
from fabfile import facts as factlib
from fabfile.errors import ConfigError, UserError
from fabfile.plan import NotReady
from fabfile.render import render_haproxy_config
from fabfile.runner import STEPS

from ..conftest import CONFIGS, SECRETS

MAX_LINE = 400
BASE = yaml.safe_load((CONFIGS / "lab.yaml").read_text())
BASE["platform"] = "debian12"  # plans need no connection
BASE["vip"].update(resource_id="vip", monitor_interval="10s")
BASE["fencing"]["monitor_interval"] = "60s"
BASE["nodes"][0]["bmc"]["plug"] = "node1-vm"
BASE["service"] = {"agent": "haproxy", "resource_id": "haproxy", "monitor_interval": "10s",
                   "options": {"extra_opts": "-L peer1"}}
BASE["install"] = {"extra_packages": ["socat"], "package_repo": "highavailability"}
BASE["haproxy"]["config_path"] = "/etc/haproxy/haproxy.cfg"
BASE["haproxy"]["stats_socket"] = "/run/haproxy/admin.sock"
BASE["ssh"]["connect_timeout"] = 10
BASE["group"] = "halb"
for _node in BASE["nodes"]:
    _node["ssh_user"] = "root"
BASE["failover"]["token"] = "500ms"

# Every field that holds text, as a path into BASE.
STRING_FIELDS = [
    ("cluster", "name"), ("platform",), ("ssh", "user"), ("ssh", "identity_file"),
    ("ssh", "known_hosts"), ("vip", "ip"), ("vip", "nic"), ("vip", "resource_id"),
    ("vip", "monitor_interval"), ("fencing", "agent"), ("fencing", "preferred_node"),
    ("fencing", "monitor_interval"), ("fencing", "options", "pcmk_reboot_action"),
    ("group",), ("service", "resource_id"), ("service", "monitor_interval"),
    ("service", "options", "extra_opts"), ("install", "extra_packages", 0),
    ("install", "package_repo"), ("haproxy", "config_path"), ("haproxy", "stats_socket"),
    ("haproxy", "frontends", 0, "name"), ("haproxy", "frontends", 0, "backend"),
    ("haproxy", "backends", 0, "name"), ("haproxy", "backends", 0, "health_check"),
    ("haproxy", "backends", 0, "servers", 0, "name"),
    ("haproxy", "backends", 0, "servers", 0, "address"),
    ("quorum", "device", "host"), ("quorum", "device", "address"),
    ("quorum", "device", "algorithm"), ("failover", "profile"), ("failover", "token"),
] + [("nodes", i, key) for i in (0, 1) for key in ("name", "address", "ssh_user")] + [
    ("nodes", i, "bmc", key) for i in (0, 1) for key in ("address", "username")] + [
    ("nodes", 0, "bmc", "plug")]

# Ways a value could add a line, a field or a word where it lands.
INJECTIONS = ["\n", "\r", "\r\n", "\x00", "\x0b", "\x1b[2J", "\u2028", "\x85", " ", "\t",
              "\n    server evil 203.0.113.66:80", "%eth0", "%x\nfoo"]


def at(data, path):
    for key in path[:-1]:
        data = data[key]
    return data, path[-1]


def write(tmp_path, data, name="cluster.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def outputs(cluster):
    """What the config reaches: the rendered HAProxy config, and every planned command's words
    and stdin lines on fresh nodes (steps that need a running cluster are skipped)."""
    facts = {n.name: factlib.fresh(cluster.platform) for n in cluster.hosts}
    dialect = factlib.cluster_dialect(cluster, facts)
    shape = []
    for planner in STEPS.values():
        try:
            plan = planner(cluster, dialect, facts)
        except NotReady:
            continue
        commands = [c for phase in plan.phases for _, cmds in phase for c in cmds]
        commands += [c for _, c in plan.checks]
        for command in commands:
            for word in command.argv:
                assert not re.search(r"[\n\r\x00\x0b\x0c\x85\u2028\u2029]", word), word
            stdin = command.stdin_text() or ""
            shape.append((len(command.argv), stdin.count("\n")))
    text = render_haproxy_config(cluster) if cluster.haproxy else ""
    return shape, text.count("\n")


BASE_SHAPE = None


def check_loaded_or_refused(path, env=SECRETS, same_shape=True):
    """A clear, short ConfigError, or a cluster whose outputs hold no stray line break (and,
    with `same_shape`, keep the base's line structure)."""
    global BASE_SHAPE
    try:
        cluster = config.load(path, env=env)
    except ConfigError as exc:
        lines = str(exc).splitlines()
        assert lines and all(len(line) <= MAX_LINE for line in lines), str(exc)[:1000]
        assert all(line.startswith(f"{path}: ") for line in lines)
        return None
    if not same_shape:
        if cluster.platform:
            outputs(cluster)
        return cluster
    if BASE_SHAPE is None:
        BASE_SHAPE = outputs(config.load(write(path.parent, BASE, "base.yaml"), env=SECRETS))
    assert outputs(cluster) == BASE_SHAPE
    return cluster


def test_the_base_config_is_valid(tmp_path):
    cluster = config.load(write(tmp_path, BASE), env=SECRETS)
    assert cluster.nodes[0].bmc.plug == "node1-vm"


@pytest.mark.parametrize("path", STRING_FIELDS, ids=lambda p: ".".join(map(str, p)))
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_no_string_field_lets_a_line_or_blank_through(tmp_path, path, where):
    for injection in INJECTIONS:
        data = copy.deepcopy(BASE)
        parent, key = at(data, path)
        value = str(parent[key])
        middle = len(value) // 2
        parent[key] = {"start": injection + value, "end": value + injection,
                       "middle": value[:middle] + injection + value[middle:]}[where]
        if injection in (" ", "\t") and where == "middle":
            continue  # blanks inside are a matter for each field's own rule
        cluster = check_loaded_or_refused(write(tmp_path, data))
        # YAML itself folds NEL and U+2028 inside a value into a space; the rest must be refused.
        if any(c in injection for c in "\n\r\x00\x0b\x1b") or (
                where != "middle" and injection in (" ", "\t")):
            assert cluster is None, f"{injection!r} at the {where} of {path} was accepted"


def test_the_reported_server_injection_is_refused(tmp_path):
    data = copy.deepcopy(BASE)
    data["haproxy"]["backends"][0]["servers"][0]["address"] = "fe80::1%x\n    server evil 203.0.113.66:80"
    with pytest.raises(ConfigError, match=r"servers\[0\]\.address: .*(scope id|newline)"):
        config.load(write(tmp_path, data), env=SECRETS)


@pytest.mark.parametrize("path", [("nodes", 0, "address"), ("nodes", 0, "bmc", "address"),
                                  ("quorum", "device", "address"), ("vip", "ip"),
                                  ("haproxy", "backends", 0, "servers", 0, "address")])
def test_scope_ids_are_refused_in_every_address(tmp_path, path):
    data = copy.deepcopy(BASE)
    parent, key = at(data, path)
    parent[key] = "fe80::1%eth0"
    with pytest.raises(ConfigError, match="scope id"):
        config.load(write(tmp_path, data), env=SECRETS)


# --- YAML's surprises ----------------------------------------------------------------------

LAB_TEXT = (CONFIGS / "lab.yaml").read_text()


@pytest.mark.parametrize("old,new,field,words", [
    ("  - name: node1\n", "  - name: node1\n    name: node9\n", "line", "repeated"),
    ("cluster:\n  name: halb-lab\n", "cluster:\n  name: halb-lab\ncluster:\n  name: other\n",
     "line", "repeated"),
    ("  - name: node1\n", "  - name: 010\n", "nodes[0].name", "as the number 8"),
    ("  - name: node1\n", "  - name: 1_0\n", "nodes[0].name", "as the number 10"),
    ("  - name: node1\n", "  - name: yes\n", "nodes[0].name", "YAML reads yes as true"),
    ("  - name: node1\n", "  - name: 2001-01-01\n", "nodes[0].name", "a date"),
    ("pcmk_reboot_action: \"off\"", "pcmk_reboot_action: off", "fencing.options.pcmk_reboot_action",
     "YAML reads off as false"),
    ("port: 624,", "port: 01160,", "nodes[1].bmc.port", "YAML reads 01160 as 624"),
    ("port: 624,", "port: 0x270,", "nodes[1].bmc.port", "plain decimal"),
    ("port: 624,", "port: 10:24,", "nodes[1].bmc.port", "plain decimal"),
    ("lanplus: 1,", "lanplus: 1, yes: 1,", "line", "not read as text"),
    ("lanplus: 1,", "lanplus: 1, 12: 1,", "line", "not read as text"),
    ("power_wait: 0}", "power_wait: 0.50}", None, None),  # a decimal keeps its spelling
])
def test_yaml_values_whose_type_changes_their_meaning(tmp_path, old, new, field, words):
    assert old in LAB_TEXT
    path = tmp_path / "cluster.yaml"
    path.write_text(LAB_TEXT.replace(old, new, 1))
    if field is None:
        cluster = config.load(path, env=SECRETS)
        assert ("power_wait", "0.50") in cluster.fencing.options
        return
    with pytest.raises(ConfigError) as info:
        config.load(path, env=SECRETS)
    assert info.value.field.startswith(field) and words in str(info.value), str(info.value)


def test_true_and_yes_still_mean_true_in_a_boolean_field(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(LAB_TEXT.replace("accept_unknown_host_keys: true", "accept_unknown_host_keys: yes"))
    assert config.load(path, env=SECRETS).ssh.accept_unknown_host_keys is True


@pytest.mark.parametrize("depth", [9, 30])
def test_an_alias_bomb_is_refused_quickly_and_briefly(tmp_path, depth):
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, depth)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n" + LAB_TEXT.replace("  name: halb-lab", f"  name: *a{depth - 1}"))
    assert len(path.read_bytes()) < 12000
    started = time.monotonic()
    with pytest.raises(ConfigError, match="expands to more than") as info:
        config.load(path, env=SECRETS)
    assert time.monotonic() - started < 5
    assert len(str(info.value)) < MAX_LINE


def test_a_self_referencing_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("cluster: &c {name: x, again: *c}\n")
    with pytest.raises(ConfigError):
        config.load(path, env=SECRETS)


def test_deep_nesting_is_refused_without_a_traceback(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("cluster: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError):
        config.load(path, env=SECRETS)


# --- addresses that cannot work ------------------------------------------------------------

@pytest.mark.parametrize("ip,prefix,words", [
    ("192.168.56.0", 24, "network address of 192.168.56.0/24"),
    ("192.168.56.255", 24, "broadcast address of 192.168.56.0/24"),
    ("192.168.56.127", 25, "broadcast address of 192.168.56.0/25"),
    ("127.0.0.5", 8, "loopback"),
    ("0.0.0.0", 8, "unspecified"),
    ("224.0.0.18", 24, "multicast"),
    ("169.254.10.10", 16, "link-local"),
    ("240.0.0.1", 24, "reserved"),
    ("192.168.56.101", 24, "the BMC of node1"),
    ("192.168.56.13", 24, "the arbiter arbiter"),
])
def test_a_vip_that_cannot_work_is_refused_with_the_reason(tmp_path, ip, prefix, words):
    data = copy.deepcopy(BASE)
    data["vip"].update(ip=ip, cidr_netmask=prefix)
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, data), env=SECRETS)
    assert info.value.field == "vip.ip" and words in str(info.value), str(info.value)


def test_a_host_route_vip_has_no_network_address_to_collide_with(tmp_path):
    data = copy.deepcopy(BASE)
    data["vip"].update(ip="192.168.56.10", cidr_netmask=32)
    data["nodes"][0]["address"], data["nodes"][1]["address"] = "node1.lab", "node2.lab"
    assert config.load(write(tmp_path, data), env=SECRETS).vip.cidr_netmask == 32


@pytest.mark.parametrize("path,value,words", [
    (("nodes", 0, "address"), "0.0.0.0", "unspecified"),
    (("nodes", 0, "bmc", "address"), "ff02::1", "multicast"),
    (("haproxy", "backends", 0, "servers", 0, "address"), "255.255.255.255", "broadcast"),
])
def test_host_addresses_that_cannot_work(tmp_path, path, value, words):
    data = copy.deepcopy(BASE)
    parent, key = at(data, path)
    parent[key] = value
    with pytest.raises(ConfigError, match=words):
        config.load(write(tmp_path, data), env=SECRETS)


# --- names ------------------------------------------------------------------------------------

@pytest.mark.parametrize("change,field,words", [
    (lambda d: (d["nodes"][0].update(name="host-1"), d["nodes"][1].update(name="host_1"),
                d["fencing"].update(preferred_node="host-1")),
     "nodes[1].name", "FENCE_PASSWORD_HOST_1"),
    (lambda d: d["vip"].update(resource_id="1vip"), "vip.resource_id", "a letter or '_' first"),
    (lambda d: d.update(group="-grp"), "group", "resource id"),
    (lambda d: d["service"].update(resource_id="9haproxy"), "service.resource_id", "resource id"),
    (lambda d: d["nodes"][0].update(name="1node"), "nodes[0].name", "start with a letter"),
    (lambda d: d["haproxy"]["backends"][0]["servers"][1].update(name="backend1"),
     "haproxy.backends[0].servers[1].name", "two servers"),
    (lambda d: d["haproxy"]["frontends"][0].update(name="halb_health"),
     "haproxy.frontends[0].name", "halb's own frontends"),
    (lambda d: d["haproxy"]["frontends"][0].update(name="halb_metrics"),
     "haproxy.frontends[0].name", "halb's own frontends"),
    (lambda d: d["haproxy"].update(stats_socket="/run/" + "x" * 120), "haproxy.stats_socket",
     "directly in"),
    (lambda d: d["haproxy"].update(config_path="/etc/haproxy/../shadow"), "haproxy.config_path",
     "directly in"),
])
def test_names_that_collide_or_that_pcs_refuses(tmp_path, change, field, words):
    data = copy.deepcopy(BASE)
    change(data)
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, data), env=SECRETS)
    assert info.value.field == field and words in str(info.value), str(info.value)


@pytest.mark.parametrize("section,name", [
    ("fencing", "PASSWORD"), ("fencing", "Passwd"), ("fencing", "password-script"),
    ("fencing", "secret_key"), ("fencing", "access_key"), ("fencing", "api_token"),
    ("service", "db_password"), ("service", "Client-Secret"),
])
def test_option_names_that_carry_a_secret_are_refused_in_any_spelling(tmp_path, section, name):
    data = copy.deepcopy(BASE)
    data[section].setdefault("options", {})[name] = "hunter2hunter2"
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, data), env=SECRETS)
    assert info.value.field == f"{section}.options.{name}"


def test_an_option_given_twice_in_two_spellings_is_refused(tmp_path):
    data = copy.deepcopy(BASE)
    data["fencing"]["options"].update({"power_wait": 0, "power-wait": 1})
    with pytest.raises(ConfigError, match="is the same option as fencing.options.power"):
        config.load(write(tmp_path, data), env=SECRETS)


@pytest.mark.parametrize("path", [("vip", "monitor_interval"), ("fencing", "monitor_interval"),
                                  ("service", "monitor_interval")])
@pytest.mark.parametrize("value", ["0", "0s", "0ms", "00", "500ms", "0.1s", 0])
def test_monitor_intervals_of_zero_or_below_a_second_are_refused(tmp_path, path, value):
    data = copy.deepcopy(BASE)
    parent, key = at(data, path)
    parent[key] = value
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, data), env=SECRETS)
    assert info.value.field == ".".join(path)


def test_all_problems_of_a_file_are_reported_at_once(tmp_path):
    data = copy.deepcopy(BASE)
    data["cluster"]["name"] = "bad name"
    data["vip"]["monitor_interval"] = "0"
    data["haproxy"]["backends"][0]["servers"][0]["port"] = 0
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, data), env=SECRETS)
    fields = [field for field, _ in info.value.problems]
    assert fields == ["cluster.name", "vip.monitor_interval", "haproxy.backends[0].servers[0].port"]


# --- files ------------------------------------------------------------------------------------

def test_a_config_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(LAB_TEXT.replace("halb-lab", "halb-l\xe4b").encode("latin-1"))
    with pytest.raises(ConfigError, match=r"line 4: is not UTF-8 text"):
        config.load(path, env=SECRETS)


def test_a_config_that_cannot_be_read(tmp_path, monkeypatch):
    path = tmp_path / "locked.yaml"
    path.write_text(LAB_TEXT)

    def denied(self):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(type(path), "read_bytes", denied)
    with pytest.raises(ConfigError, match=r"\(file\): cannot be read: Permission denied"):
        config.load(path, env=SECRETS)


def test_a_directory_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError, match="not a file"):
        config.load(tmp_path, env=SECRETS)


def test_a_log_dir_that_is_a_file(tmp_path):
    from fabfile.commands import Masker
    from fabfile.executor import RunLog
    blocker = tmp_path / "logs"
    blocker.write_text("")
    with pytest.raises(UserError, match="log directory .*logs: .*not a directory"):
        RunLog(blocker, Masker())


def test_the_run_log_is_private_from_its_creation(tmp_path, monkeypatch):
    from fabfile.commands import Masker
    from fabfile.executor import RunLog

    def no_chmod(*args, **kwargs):
        raise AssertionError("created with another mode, then changed")
    monkeypatch.setattr(os, "chmod", no_chmod)
    old = os.umask(0)
    try:
        log = RunLog(tmp_path / "logs", Masker())
    finally:
        os.umask(old)
    log.close()
    assert os.stat(log.path).st_mode & 0o777 == 0o600


# --- secrets ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,words", [
    ("pcs", "shorter than 8"), ("   ", "blank"), ("hunter2", "shorter than 8"),
    ("hacluster", "spelled like a name"), ("halb-lab", "spelled like a name"),
    ("heartbeat", "spelled like a name"), ("stonith-enabled", "spelled like a name"),
    # Words with digits that halb prints or the config holds, decoded or not.
    ("ocf:heartbeat:IPaddr2", "in what halb prints"), ("192.168.56.1", "appears in the config"),
    ("tab\tinside-pw", "printable"), ("pässw0rd-long", "printable ASCII"),
    ("x7" * 130, "at most 255"),
])
def test_secrets_that_masking_would_give_away_are_refused(value, words):
    env = {**SECRETS, "HACLUSTER_PASSWORD": value}
    with pytest.raises(ConfigError) as info:
        config.load(CONFIGS / "lab.yaml", env=env)
    assert info.value.field == "HACLUSTER_PASSWORD" and words in str(info.value)
    assert value.strip() == "" or value not in str(info.value)


def test_a_secret_spelled_in_the_config_through_an_escape_is_refused(tmp_path):
    """A BMC user written with a YAML escape decodes to the password: the file's text does not
    hold the password, its values do."""
    text = (CONFIGS / "lab.yaml").read_text().replace("username: admin", 'username: "\\x62mc-Secret-17"')
    assert "\\x62mc" in text
    path = tmp_path / "escape.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="FENCE_PASSWORD: also appears in the config"):
        config.load(path, env=SECRETS)


def test_a_bmc_password_longer_than_ipmitool_takes_is_refused():
    env = {**SECRETS, "FENCE_PASSWORD": "bmc-Secret-17-and-much-more"}
    with pytest.raises(ConfigError, match="FENCE_PASSWORD: is 27 characters long: the node's "
                       r"tools take at most 20 \(for fence_ipmilan\)"):
        config.load(CONFIGS / "lab.yaml", env=env)


def test_a_dry_run_with_a_short_secret_is_refused_too():
    env = {**SECRETS, "FENCE_PASSWORD": "pcs"}
    with pytest.raises(ConfigError, match="FENCE_PASSWORD: is shorter"):
        config.load(CONFIGS / "lab.yaml", env=env, require_secrets=False)


def test_dotenv_values_are_literal(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("HACLUSTER_PASSWORD=pa${USER}ss-word\nFENCE_PASSWORD='x$HOME-y'\n")
    values = config.read_secrets(env_file, environ={"USER": "root"})
    assert values["HACLUSTER_PASSWORD"] == "pa${USER}ss-word"
    assert values["FENCE_PASSWORD"] == "x$HOME-y"


@pytest.mark.parametrize("line,value", [
    ("A=pa#ss-1", "pa#ss-1"), ("export A=x1-y", "x1-y"), ("A='with # hash 1'", "with # hash 1"),
    ('A="two words 2"', "two words 2"), ("A=back\\slash3", "back\\slash3"), ("A=", ""),
])
def test_dotenv_follows_one_rule(tmp_path, line, value):
    env_file = tmp_path / ".env"
    env_file.write_text(f"# comment\n\n{line}\n")
    assert config.read_secrets(env_file, environ={})["A"] == value


@pytest.mark.parametrize("line,words", [
    ("A=secret-9 # note", "holds ' #'"), ("A='open-1", "does not end with it"),
    ("A='a'b'", "does not end with it"), ("A= padded-1", "blanks around it"),
    ("not a line", "is not NAME=value"), ("A-B=x", "is not NAME=value"),
])
def test_dotenv_lines_read_two_ways_are_refused(tmp_path, line, words):
    env_file = tmp_path / ".env"
    env_file.write_text(f"OK=fine\n{line}\n")
    with pytest.raises(UserError, match=f"line 2: .*{re.escape(words)}"):
        config.read_secrets(env_file, environ={})


def test_a_dotenv_that_is_not_utf8(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"HACLUSTER_PASSWORD=ok-secret-1\nFENCE_PASSWORD=p\xe4ss-word\n")
    with pytest.raises(UserError, match=r"\.env: line 2: is not UTF-8 text"):
        config.read_secrets(env_file, environ={})


# --- anything at all: an error, never a traceback ----------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=40))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)
ALL_PATHS = STRING_FIELDS + [("vip", "cidr_netmask"), ("nodes", 0, "ssh_port"), ("ssh", "sudo"),
                             ("nodes",), ("haproxy", "backends"), ("fencing", "options"),
                             ("quorum", "device"), ("failover",), ("cluster",)]


@settings(max_examples=300)
@given(path=st.sampled_from(ALL_PATHS), value=VALUES)
def test_any_value_in_any_field_is_loaded_or_refused_clearly(tmp_path, path, value):
    data = copy.deepcopy(BASE)
    parent, key = at(data, path)
    parent[key] = value
    check_loaded_or_refused(write(tmp_path, data), same_shape=False)


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_any_text_as_a_config_file_is_loaded_or_refused_clearly(tmp_path, text):
    path = tmp_path / "any.yaml"
    try:
        path.write_text(text, encoding="utf-8")
    except UnicodeEncodeError:
        return
    check_loaded_or_refused(path, same_shape=False)


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=30))
def test_any_secret_is_accepted_or_refused_without_showing_it(secret):
    env = {**SECRETS, "HACLUSTER_PASSWORD": secret}
    try:
        config.load(CONFIGS / "lab.yaml", env=env)
    except ConfigError as exc:
        # The file's path opens the message and depends on where the checkout lives.
        said = str(exc).removeprefix(str(CONFIGS / "lab.yaml"))
        # Only as part of halb's own words (a secret "mas" is in "masking it"), never quoted.
        assert secret not in said or secret.lower() in config.own_words(), said
