"""Accept only what halb understands: options that would change what halb itself does, values
Pacemaker or pcs read differently, addresses with two spellings, ports the stack holds,
characters that show one thing and do another. Each case is refused before any host is asked,
with the field named."""

import copy
import dataclasses
import re
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabfile import config, runbook
from fabfile import facts as factlib
from fabfile.commands import _WRITE_FILE, MANIFEST, REMOVE_HALB_FILES
from fabfile.dialects import Dialect
from fabfile.errors import ConfigError, UserError
from fabfile.facts import OCF_AGENT_PATH, fence_password_file
from fabfile.fencing import agent_action, agent_stdin, check_parameters
from fabfile.parsers import parse_fence_metadata
from fabfile.plan import NotReady
from fabfile.plan import teardown as teardown_plan
from fabfile.render import render_haproxy_config
from fabfile.runner import STEPS, Runner

from .conftest import CONFIGS, SECRETS
from .planning import raw_facts

BASE = yaml.safe_load((CONFIGS / "lab.yaml").read_text())
BASE["platform"] = "debian12"


def load(tmp_path, change):
    data = copy.deepcopy(BASE)
    change(data)
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return config.load(path, env=SECRETS)


def refused(tmp_path, change, field, words):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, change)
    assert info.value.field == field, str(info.value)
    assert words in str(info.value), str(info.value)


def fence_option(name, value):
    return lambda d: d["fencing"].setdefault("options", {}).update({name: value})


# --- 1. options that change what halb itself does -----------------------------------------

@pytest.mark.parametrize("name,value,words", [
    ("action", "off", "the agent keeps the last action="),
    ("Action", "off", "the agent keeps the last action="),
    ("version", "1", "without acting"),
    ("debug_file", "/etc/passwd", "write a file"),
    ("pcmk_off_action", "on", "not a Pacemaker device option halb accepts"),
    ("pcmk_host_check", "none", "not a Pacemaker device option halb accepts"),
    ("pcmk_host_map", "node1:node2", "not a Pacemaker device option halb accepts"),
    ("pcmk_monitor_action", "off", "not a Pacemaker device option halb accepts"),
    ("pcmk_delay_max", "1h", "above 60s"),
    ("pcmk_reboot_action", "on", "not an action a fence may take"),
    ("pcmk_reboot_timeout", "500ms", "whole units"),
    ("pcmk_action_limit", "100", "1-16"),
])
def test_fence_options_that_change_halb_own_actions_are_refused(tmp_path, name, value, words):
    refused(tmp_path, fence_option(name, value), f"fencing.options.{name}", words)


@pytest.mark.parametrize("name,value", [("pcmk_reboot_action", "off"), ("pcmk_delay_max", "5s"),
                                        ("pcmk_reboot_timeout", "2m"), ("power_wait", "3")])
def test_fence_options_halb_understands_are_accepted(tmp_path, name, value):
    cluster = load(tmp_path, fence_option(name, value))
    assert (name, value) in cluster.fencing.options


def test_halb_action_is_the_last_word_on_the_agent_stdin():
    stdin = agent_stdin([("ip", "10.0.0.9"), ("action", "off"), ("pcmk_off_action", "on")],
                        "status")
    assert stdin.splitlines() == ["ip=10.0.0.9", "action=status"]
    cluster = config.load(CONFIGS / "lab.yaml", env=SECRETS)
    command = agent_action(cluster, Dialect.for_platform("debian12", (0, 11, 5)),
                           cluster.nodes[0], "on", "power on")
    assert command.stdin_text().splitlines()[-1] == "action=on"


METADATA = """<?xml version="1.0" ?>
<resource-agent name="fence_example" shortdesc="an example">
<parameters>
  <parameter name="ip"><getopt mixed="-a, --ip=[ip]" /><content type="string" /></parameter>
  <parameter name="ipport"><getopt mixed="-u, --ipport=[port]" /><content type="integer" />
  </parameter>
  <parameter name="opaque"><getopt mixed="--opaque=[password]" /><content type="string" />
  </parameter>
  <parameter name="plug"><getopt mixed="-n, --plug=[key]" /><content type="string" /></parameter>
  <parameter name="lanplus"><getopt mixed="-P, --lanplus" /><content type="boolean" /></parameter>
  <parameter name="method"><getopt mixed="-m, --method=[method]" />
    <content type="select"><option value="onoff" /><option value="cycle" /></content></parameter>
  <parameter name="power_wait"><getopt mixed="--power-wait=[seconds]" />
    <content type="second" /></parameter>
  <parameter name="username"><getopt mixed="-l, --username=[name]" /><content type="string" />
  </parameter>
  <parameter name="password_script"><getopt mixed="-S, --password-script=[script]" />
    <content type="string" /></parameter>
</parameters></resource-agent>"""


def test_the_meta_data_says_which_parameters_carry_secrets():
    parameters = parse_fence_metadata(METADATA)
    assert {n for n, p in parameters.items() if p.secret} == {"opaque"}
    assert parameters["method"].choices == ("onoff", "cycle")


@pytest.mark.parametrize("name,value,words", [
    ("opaque", "hunter-22", "carries a secret by the agent's meta-data"),
    ("method", "reboot-twice", "is not one of onoff, cycle"),
    ("lanplus", "maybe", "is not 0 or 1"),
    ("power_wait", "soon", "is not a number of seconds"),
])
def test_device_options_are_checked_against_the_agent_meta_data(tmp_path, name, value, words):
    cluster = load(tmp_path, fence_option(name, value))
    facts = raw_facts(cluster, "debian12-converged")
    facts["node1"] = dataclasses.replace(facts["node1"],
                                         fence_parameters=parse_fence_metadata(METADATA))
    with pytest.raises(UserError, match=f"fencing.options.{name}: .*{words}"):
        check_parameters(cluster, Dialect.for_platform("debian12", (0, 11, 5)), facts)


# --- 3. secrets named so in the config -------------------------------------------------------

@pytest.mark.parametrize("name", ["apikey", "community", "snmp_priv_passwd", "secret_key",
                                  "access_key", "hexadecimal_kg", "token"])
def test_options_named_as_secrets_are_refused(tmp_path, name):
    refused(tmp_path, fence_option(name, "abc-123"), f"fencing.options.{name}", "names a secret")


# --- 4. values Pacemaker or pcs read differently ---------------------------------------------

@pytest.mark.parametrize("field,value", [
    (("fencing", "race_delay"), "500ms"), (("fencing", "race_delay"), "1.5s"),
    (("vip", "monitor_interval"), "0.5m"), (("vip", "monitor_interval"), "1500ms"),
    (("fencing", "monitor_interval"), "0s"), (("cluster", "pcs_request_timeout"), "90.5s"),
])
def test_durations_only_in_whole_units(tmp_path, field, value):
    def change(d):
        d.setdefault(field[0], {})[field[1]] = value
    with pytest.raises(ConfigError) as info:
        load(tmp_path, change)
    assert info.value.field == ".".join(field)
    assert "whole units" in str(info.value) or "below" in str(info.value)


@pytest.mark.parametrize("name", ["lab.cluster", "x" * 33, "lab cluster"])
def test_cluster_names_pcs_refuses(tmp_path, name):
    refused(tmp_path, lambda d: d["cluster"].update(name=name), "cluster.name", "pcs")


@pytest.mark.parametrize("field,value", [
    ("group", "cib-bootstrap-options"), ("group", "rsc_defaults"),
    ("group", "location-vip"), ("group", "vip-instance_attributes"),
])
def test_ids_pacemaker_reserves(tmp_path, field, value):
    refused(tmp_path, lambda d: d.update({field: value}), field, "Pacemaker or pcs use")


# --- 5. addresses compared as text ------------------------------------------------------------

@pytest.mark.parametrize("value,words", [
    ("0x0a.0.0.2", "numeric addresses"), ("10.1", "numeric addresses"),
    ("167772162", "numeric addresses"), ("::ffff:192.168.56.9", "written as IPv6"),
])
def test_addresses_tools_read_differently_are_refused(tmp_path, value, words):
    def change(d):
        d["haproxy"]["backends"][0]["servers"][0]["address"] = value
    with pytest.raises(ConfigError) as info:
        load(tmp_path, change)
    assert info.value.field.endswith("servers[0].address") and words in str(info.value)


def test_two_spellings_of_one_ipv6_node_are_one_address(tmp_path):
    def change(d):
        d["nodes"][0]["address"] = "2001:db8::1"
        d["nodes"][1]["address"] = "2001:0DB8:0:0::1"
    refused(tmp_path, change, "nodes[1].address", "is also node node1's address")


def test_two_nodes_on_one_ssh_endpoint(tmp_path):
    def change(d):
        d["nodes"][0]["ssh_address"] = "192.168.56.200"
        d["nodes"][1]["ssh_address"] = "192.168.56.200"
    refused(tmp_path, change, "nodes[1].ssh_address", "every step would run twice")


def test_an_ssh_address_on_the_vip(tmp_path):
    def change(d):
        d["nodes"][0]["ssh_address"] = d["vip"]["ip"]
    refused(tmp_path, change, "vip.ip", "SSH address of node1")


def test_a_bmc_on_a_node_address(tmp_path):
    def change(d):
        d["nodes"][0]["bmc"]["address"] = d["nodes"][1]["address"]
    refused(tmp_path, change, "nodes[0].bmc.address", "a cluster node's own address")


# --- 6. ports the stack holds ----------------------------------------------------------------

@pytest.mark.parametrize("port,owner", [(2224, "pcsd"), (22, "sshd"), (5405, "corosync"),
                                        (5403, "corosync-qnetd")])
def test_frontends_on_the_stack_ports_are_refused(tmp_path, port, owner):
    refused(tmp_path, lambda d: d["haproxy"]["frontends"][0].update(port=port),
            "haproxy.frontends[0].port", f"{port} is {owner}'s port")


def test_the_health_port_on_sshd_or_a_frontend(tmp_path):
    refused(tmp_path, lambda d: d["haproxy"].update(health_port=22), "haproxy.health_port",
            "sshd's port")
    refused(tmp_path, lambda d: d["haproxy"].update(health_port=80), "haproxy.health_port",
            "also a frontend's port")


# --- 2. paths halb does not own (as the config names them) ----------------------------------

@pytest.mark.parametrize("field,value", [
    ("config_path", "/etc/haproxy"), ("config_path", "/etc/haproxy/"),
    ("config_path", "/etc/passwd"), ("config_path", "/etc/haproxy/sub/x.cfg"),
    ("config_path", "/etc/haproxy/../shadow.cfg"), ("stats_socket", "/etc/passwd"),
    ("stats_socket", "/run/haproxy"), ("stats_socket", "/run/haproxy/../x"),
])
def test_haproxy_paths_outside_its_folders_are_refused(tmp_path, field, value):
    refused(tmp_path, lambda d: d["haproxy"].update({field: value}), f"haproxy.{field}",
            "directly in")


@pytest.mark.parametrize("name,value,words", [
    ("pidfile", "/etc/haproxy/haproxy.cfg", "directly in"),
    ("extra_opts", "-f /etc/passwd", "not a haproxy flag"),
    ("extra_opts", "-Ws", "not a haproxy flag"),
    ("conffile", "/etc/x.cfg", "set by halb"),
    ("status", "x", "not an option of halb's HAProxy agent"),
])
def test_haproxy_agent_options_from_a_list(tmp_path, name, value, words):
    refused(tmp_path, lambda d: d.setdefault("service", {}).setdefault("options", {}).update(
        {name: value}), f"service.options.{name}", words)


# --- 7. invisible and non-ASCII characters ---------------------------------------------------

@pytest.mark.parametrize("char", ["\u200b", "\u202e", "\u00a0", "\ufeff", "\u0663", "\u00e9"])
def test_invisible_and_non_ascii_characters_are_refused(tmp_path, char):
    for field, change in (
            ("cluster.name", lambda d: d["cluster"].update(name=f"lab{char}")),
            ("fencing.options.power_wait", fence_option("power_wait", f"1{char}")),
            ("haproxy.backends[0].health_check",
             lambda d: d["haproxy"]["backends"][0].update(health_check=f"/h{char}"))):
        refused(tmp_path, change, field, "only printable ASCII")


# --- the whole schema, generated: refused with the field named, or every output is sound --------


TRICKY = ["\u200b", "\u202e", "\u00a0", "\ufeff", "\u0663", "\n", "\t", " ", "'", '"', "$(id)",
          "`id`", ";", "#", "\\", "%", "{{ x }}", "../", "--", "-"]
NAMES = st.one_of(st.sampled_from(["web", "lab-1", "cib-bootstrap-options", "a.b", "x" * 40,
                                   "location-x", "halb_health", "9start"]),
                  st.text(st.sampled_from("ab1._-" + "".join(TRICKY)), min_size=1, max_size=12))
ADDRESSES = st.one_of(
    st.sampled_from(["192.168.56.50", "192.168.56.101", "192.168.56.11", "0x0a.0.0.2", "10.1",
                     "167772162", "::ffff:192.168.56.9", "2001:0DB8::1", "host.example.com",
                     "HOST.example.com.", "127.0.0.1", "0.0.0.0", "224.0.0.1", "::"]),
    st.ip_addresses().map(str))
PORTS = st.one_of(st.sampled_from([22, 80, 623, 2224, 3121, 5403, 5404, 5405, 8404, 65535]),
                  st.integers(-2, 70000))
DURATIONS = st.sampled_from(["10s", "1m", "0.5m", "500ms", "1h", "0", "2", "90s", "1.5s", "25h",
                             "1000000000s", "10 s", "1e3", "-1s"])
PATHS = st.sampled_from(["/etc/haproxy/haproxy.cfg", "/etc/haproxy", "/etc/haproxy/", "/etc/passwd",
                         "/etc/haproxy/x.cfg", "/etc/haproxy/../x.cfg", "/run/haproxy/admin.sock",
                         "/var/lib/haproxy/stats", "/run/haproxy", "/dev/null", "relative.cfg",
                         "/etc/haproxy/.cfg", "/etc/haproxy/a b.cfg"])
FENCE_OPTION_NAMES = st.sampled_from([
    "action", "lanplus", "power_wait", "method", "pcmk_reboot_action", "pcmk_off_action",
    "pcmk_host_check", "pcmk_delay_max", "pcmk_host_list", "version", "debug_file", "community",
    "apikey", "ipport", "login", "plug", "delay", "Action", "PCMK_OFF_ACTION"])
OPTION_VALUES = st.one_of(st.sampled_from(["off", "on", "1", "reboot", "cycle", "5s", "1h", "x"]),
                          st.text(st.sampled_from("az09" + "".join(TRICKY)), max_size=8))
SERVICE_OPTIONS = st.dictionaries(
    st.sampled_from(["extra_opts", "pidfile", "binary", "conffile", "status"]),
    st.sampled_from(["-L peer1", "-f /etc/passwd", "-q -dr", "/run/haproxy/h.pid",
                     "/etc/haproxy/haproxy.cfg", "/usr/sbin/haproxy", "/bin/sh", "x"]), max_size=2)
RAW_YAML = st.sampled_from(["yes", "off", "010", "0x1f", "1_000", "~", ".inf", "2020-01-01",
                            "!!binary aGk=", "[1, 2]", "{a: 1}", "&x 5", "'quoted'", '"esc\\x41"',
                            "9" * 60])

FIELDS = {
    ("cluster", "name"): NAMES, ("group",): NAMES, ("vip", "resource_id"): NAMES,
    ("vip", "ip"): ADDRESSES, ("vip", "monitor_interval"): DURATIONS,
    ("fencing", "race_delay"): DURATIONS, ("fencing", "monitor_interval"): DURATIONS,
    ("fencing", "options"): st.dictionaries(FENCE_OPTION_NAMES, OPTION_VALUES, max_size=3),
    ("nodes", 0, "address"): ADDRESSES, ("nodes", 1, "ssh_address"): ADDRESSES,
    ("nodes", 0, "bmc", "address"): ADDRESSES, ("nodes", 1, "ssh_port"): PORTS,
    ("haproxy", "config_path"): PATHS, ("haproxy", "stats_socket"): PATHS,
    ("haproxy", "health_port"): PORTS, ("haproxy", "frontends", 0, "port"): PORTS,
    ("haproxy", "frontends", 0, "name"): NAMES,
    ("haproxy", "backends", 0, "servers", 0, "address"): ADDRESSES,
    ("haproxy", "backends", 0, "servers", 0, "port"): PORTS,
    ("haproxy", "backends", 0, "health_check"): st.sampled_from(["/health", "/h?x=1", "/a b", "x"]),
    ("service", "options"): SERVICE_OPTIONS,
    ("cluster", "pcs_request_timeout"): DURATIONS,
}
CHANGES = st.lists(st.sampled_from(sorted(FIELDS, key=str)), min_size=1, max_size=4,
                   unique=True).flatmap(lambda fields: st.tuples(*[
                       st.tuples(st.just(f), st.one_of(FIELDS[f], RAW_YAML.map(lambda r: ("raw", r))))
                       for f in fields]))
HALB_WRITES = re.compile(r"/usr/lib/ocf/resource\.d/halb/haproxy|/etc/halb/fence/[A-Za-z0-9._-]+"
                         r"\.password|/etc/haproxy/[A-Za-z0-9_][A-Za-z0-9_.-]*\.cfg|"
                         r"/usr/lib/halb/alert_(webhook|file\.sh)|/usr/lib/halb/quorum_heuristic|/etc/halb/alert-[A-Za-z0-9._-]+\.token|"
                         r"/etc/ha_cluster_exporter\.yaml|/etc/halb/[A-Za-z0-9_][A-Za-z0-9_.-]*\.node\.cfg")
HAPROXY_KEYWORDS = {"global", "defaults", "frontend", "backend", "bind", "default_backend",
                    "server", "balance", "option", "http-check", "log", "maxconn", "stats",
                    "mode", "retries", "timeout", "monitor-uri"}


def generated_config(tmp_path, changes):
    data = copy.deepcopy(BASE)
    data.setdefault("service", {})
    raw = {}
    for path, value in changes:
        parent = data
        for key in path[:-1]:
            parent = parent.setdefault(key, {}) if isinstance(parent, dict) else parent[key]
        if isinstance(value, tuple):
            raw[f"HALBRAW{len(raw)}"] = value[1]
            value = f"HALBRAW{len(raw) - 1}"
        parent[path[-1]] = value
    text = yaml.safe_dump(data, allow_unicode=True)
    for marker, spelling in raw.items():
        text = text.replace(marker, spelling)
    path = tmp_path / "generated.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def commands_of(plan):
    return [c for phase in plan.phases for _, cmds in phase for c in cmds] + \
        [c for _, c in plan.checks]


def check_outputs(cluster, tmp_path):
    converged = raw_facts(cluster, "debian12-converged")
    fresh = {n.name: factlib.fresh("debian12") for n in cluster.hosts}
    for facts in (fresh, converged):
        dialect = factlib.cluster_dialect(cluster, facts)
        for planner in [*STEPS.values(), teardown_plan.plan]:
            try:
                plan = planner(cluster, dialect, facts)
            except (NotReady, UserError):
                continue  # a refusal names its field; the other outputs are still checked
            for command in commands_of(plan):
                for word in command.argv:
                    assert "\n" not in word and not re.search(r"[^\x20-\x7e]", word), word
                stdin = command.stdin_text() or ""
                assert not re.search(r"[^\x20-\x7e\n\t]", stdin), command.display()
                if command.argv[:3] == ("sh", "-c", _WRITE_FILE):
                    assert HALB_WRITES.fullmatch(command.argv[4]), command.argv[4]
                if command.argv[:3] == ("sh", "-c", REMOVE_HALB_FILES):
                    assert command.argv[4] == MANIFEST
                    assert all(p == OCF_AGENT_PATH or p in {
                        fence_password_file(n.name, lv) for n in cluster.nodes for lv in (1, 2)}
                        for p in command.argv[5:]), command.argv
                if command.argv and command.argv[0].startswith("fence_"):
                    assert stdin.splitlines()[-1].startswith("action="), stdin
                    assert sum(line.startswith("action=") for line in stdin.splitlines()) == 1
    if cluster.haproxy:
        text = render_haproxy_config(cluster)
        for line in text.splitlines():
            word = line.split()[0] if line.strip() else ""
            assert not word or word.startswith("#") or word in HAPROXY_KEYWORDS, line
        binds = sum(line.split()[0] == "bind" for line in text.splitlines() if line.strip())
        assert binds == len(cluster.haproxy.frontends) + bool(cluster.haproxy.health_port)
    marked = runbook.with_placeholder_secrets(cluster)
    with Runner(marked, dry_run=True, log_dir=tmp_path / "logs", out=lambda t: None) as runner:
        script = runbook.write(marked, runner, STEPS, "sh")
    for shell in ("bash", "sh"):
        parsed = subprocess.run([shell, "-n"], input=script, text=True, capture_output=True)
        assert parsed.returncode == 0, parsed.stderr


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=CHANGES)
def test_any_generated_config_is_refused_by_field_or_sound_in_every_output(tmp_path, changes):
    path = generated_config(tmp_path, changes)
    try:
        cluster = config.load(path, env=SECRETS)
    except ConfigError as exc:
        lines = str(exc).splitlines()
        assert all(line.startswith(f"{path}: ") and len(line) <= 400 for line in lines), str(exc)
        fields = {".".join(map(str, f)).replace(".0", "[0]").replace(".1", "[1]") for f, _ in changes}
        # The first problem names a field the change touched (or one its value broke).
        assert exc.field.split(".")[0].split("[")[0] in {f.split(".")[0].split("[")[0]
                                                         for f in fields} | {"(top level)",
                                                                              "(file)", "fencing",
                                                                              "vip", "nodes"} \
            or exc.field.startswith("line "), str(exc)
        return
    check_outputs(cluster, tmp_path)


# --- the service's own options -----------------------------------------------------------------

def test_a_systemd_service_takes_no_options(tmp_path):
    def change(d):
        d["service"] = {"agent": "systemd:nginx", "options": {"port": "80"}}
        d.pop("haproxy")
    refused(tmp_path, change, "service.options.port", "takes no options")


@pytest.mark.parametrize("options,words", [({"configfile": "/etc/nginx/nginx.conf"}, None),
                                           ({"conffile": "/etc/x"}, "is not a parameter"),
                                           ({"status10url": "x", "bogus": "1"}, "is not a parameter")])
def test_an_ocf_service_options_are_checked_against_its_meta_data(tmp_path, options, words):
    from fabfile.plan.haproxy import check_service_options

    from .planning import FACT_FIXTURES

    def change(d):
        d["service"] = {"agent": "ocf:heartbeat:nginx", "options": options}
        d.pop("haproxy")
    cluster = load(tmp_path, change)
    facts = raw_facts(cluster, "debian12-converged")
    nginx = parse_fence_metadata((FACT_FIXTURES / "service_metadata" /
                                  "debian12-ocf-heartbeat-nginx.txt").read_text())
    facts["node1"] = dataclasses.replace(facts["node1"], service_parameters=nginx)
    if words is None:
        check_service_options(cluster, facts)
    else:
        with pytest.raises(UserError, match=f"service.options.[a-z]+: {words}"):
            check_service_options(cluster, facts)


@pytest.mark.parametrize("name", ["cib-x", "location-a", "pcmk-node"])
def test_node_names_whose_fence_device_id_is_reserved(tmp_path, name):
    refused(tmp_path, lambda d: d["nodes"][1].update(name=name), "nodes[1].name", "fence device")


def test_an_agent_delay_longer_than_a_minute_is_refused(tmp_path):
    cluster = load(tmp_path, fence_option("delay", "3600"))
    facts = raw_facts(cluster, "debian12-converged")
    with pytest.raises(UserError, match="fencing.options.delay: 3600 s is above 60 s"):
        check_parameters(cluster, Dialect.for_platform("debian12", (0, 11, 5)), facts)


@pytest.mark.parametrize("port", [2224, 5405])
def test_ssh_ports_the_stack_holds(tmp_path, port):
    refused(tmp_path, lambda d: d["nodes"][1].update(ssh_port=port), "nodes[1].ssh_port",
            "not sshd's")


@pytest.mark.parametrize("nic", ["averyveryverylongname0", "eth0/1", "..x"])
def test_interface_names_the_kernel_refuses(tmp_path, nic):
    refused(tmp_path, lambda d: d["vip"].update(nic=nic), "vip.nic", "interface name")
