"""Accept only what halb understands: options that would change what halb itself does, values
Pacemaker or pcs read differently, addresses with two spellings, ports the stack holds,
characters that show one thing and do another. Each case is refused before any host is asked,
with the field named."""

import copy
import dataclasses

import pytest
import yaml

from fabfile import config
from fabfile.dialects import Dialect
from fabfile.errors import ConfigError, UserError
from fabfile.facts import parse_fence_metadata
from fabfile.plan.fence import agent_action, agent_stdin, check_parameters

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
    refused(tmp_path, change, "nodes[1].address", "used by both nodes")


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
