"""Small composable field checks: each takes a value and returns why it is wrong, or None."""

from __future__ import annotations

import ipaddress
import re

from ..yamlfile import YamlFloat, YamlInt
from .model import HOSTNAME_RE, NAME_RE, OPTION_NAME_RE, PACKAGE_RE, PATH_RE, RESOURCE_ID_RE
from .reader import as_text, shown, text_problem


def check_package(value):
    return None if PACKAGE_RE.fullmatch(value) else f"{shown(value)} is not a package name"


# Ports the cluster stack itself listens on, on every node: a frontend there passes `haproxy -c`
# but cannot bind (or takes the port from the stack when it restarts first).
STACK_PORTS = {2224: "pcsd", 3121: "pacemaker-remoted", 5403: "corosync-qnetd",
               5404: "corosync", 5405: "corosync", 5406: "corosync", 21064: "DLM"}


def check_name(value):
    if not NAME_RE.fullmatch(value):
        return (f"{shown(value)} is not a safe name: use letters, digits, '.', '-' or '_', "
                "starting with a letter or digit")
    return None


# pcs 0.10.6 and later refuse a cluster name with a dot or over 32 characters (corosync's knet
# and DLM read it); halb accepts only what every generation takes.
CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


def check_cluster_name(value):
    if not CLUSTER_NAME_RE.fullmatch(value):
        return (f"{shown(value)} is not a cluster name every pcs accepts: up to 32 letters, "
                "digits, '-' or '_' (pcs 0.10.6 and later refuse a dot or a longer name)")
    return None


# Ids Pacemaker or pcs give elements of their own: a resource of that id would be refused by pcs
# half way through a run, or collide with what pcs generates beside it.
RESERVED_IDS = ("cib-bootstrap-options", "rsc_defaults", "op_defaults", "rsc-options",
                "op-options", "build-resource-defaults", "configuration", "crm_config", "nodes",
                "resources", "constraints", "status", "fencing-topology", "alerts", "tags")
RESERVED_ID_PREFIXES = ("cib-", "pcmk", "location-", "colocation-", "order-", "fl-", "ticket-")
RESERVED_ID_SUFFIXES = ("-instance_attributes", "-meta_attributes", "-utilization",
                        "-operations", "-interval-")


def check_resource_id(value):
    if not RESOURCE_ID_RE.fullmatch(value):
        return (f"{shown(value)} is not a resource id pcs accepts: a letter or '_' first, then "
                "letters, digits, '.', '-' or '_'")
    lowered = value.lower()
    if lowered in RESERVED_IDS or lowered.startswith(RESERVED_ID_PREFIXES) or \
            any(suffix in lowered for suffix in RESERVED_ID_SUFFIXES):
        return (f"{shown(value)} is an id Pacemaker or pcs use for their own elements (or "
                "generate beside a resource): pcs would refuse it half way; choose another")
    return None


def check_node_name(value):
    problem = check_name(value)
    if problem is None and not value[0].isalpha():
        return (f"{shown(value)} must start with a letter: its fence device {value}-fence is a "
                "resource id")
    if problem is None and check_resource_id(f"{value}-fence"):
        return (f"{shown(value)} would name its fence device {value}-fence, an id Pacemaker or "
                "pcs use for their own elements; choose another")
    return problem


def check_interface(value):
    """A network interface name as the kernel takes it: at most 15 characters, no '/'."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}", value):
        return (f"{shown(value)} is not an interface name (up to 15 letters, digits, '.', '-', "
                "'_', as the kernel takes it)")
    return None


def check_port(value):
    return None if 1 <= value <= 65535 else f"{value} is not a TCP/UDP port (1-65535)"


def check_ssh_port(value):
    """sshd cannot listen where the cluster stack does."""
    if value in STACK_PORTS:
        return f"{value} is {STACK_PORTS[value]}'s port on the nodes, not sshd's"
    return check_port(value)


def check_address(value):
    """An IP address a host can be reached at, or a host name. Forms that tools read
    differently are refused: inet_aton's 0x0a.0.0.2, 10.1 or 167772162 (a "host name" that
    ping and ssh take for 10.0.0.2), IPv4-mapped IPv6 (::ffff:10.0.0.2 is the IPv4 host)."""
    if "%" in value:
        return (f"{shown(value)} has an IPv6 scope id (%...): not supported here; use an address "
                "without one")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        if not HOSTNAME_RE.fullmatch(value):
            return f"{shown(value)} is neither an IP address nor a valid host name"
        if not value.rstrip(".").rsplit(".", 1)[-1][0].isalpha():
            return (f"{shown(value)} is neither an IP address nor a host name whose last label "
                    "starts with a letter: resolvers read such names as numeric addresses "
                    "(0x0a.0.0.2, 10.1, 167772162 all mean an IPv4 address)")
        return None
    if address.version == 6 and (address.ipv4_mapped or
                                 (address.packed[:12] == bytes(12) and int(address) > 1)):
        embedded = address.ipv4_mapped or ipaddress.IPv4Address(address.packed[12:])
        return (f"{value} is the IPv4 host {embedded} written as IPv6: write {embedded}, so that "
                "it compares equal to its other spellings")
    if address.is_unspecified:
        return f"{value} is the unspecified address: no host answers at it"
    if address.is_multicast:
        return f"{value} is a multicast address: no single host answers at it"
    if address == ipaddress.ip_address("255.255.255.255"):
        return f"{value} is the broadcast address"
    return None


def canonical_address(value):
    """One spelling per address, so that comparisons mean what they say: an IP address as
    ipaddress writes it (2001:db8::1 for 2001:0DB8:0:0::1), a host name without
    its root dot (compared without regard to case). Only for values check_address accepted."""
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value.rstrip(".")


def duration_ms(value, bare="ms"):
    """'1500ms', '1.5s', '2s', '1m', '1h' or a bare number in `bare` units -> milliseconds, or
    None. corosync counts bare numbers in ms, Pacemaker (intervals, delays) in seconds."""
    if isinstance(value, bool) or value is None:
        return None
    match = re.fullmatch(r"([0-9]{1,9}(?:\.[0-9]{1,9})?)(ms|s|m|min|h)?",
                         value.text if isinstance(value, (YamlInt, YamlFloat)) else str(value))
    if not match:
        return None
    return round(float(match.group(1)) * DURATION_SCALE_MS[match.group(2) or bare])


DURATION_SCALE_MS = {"ms": 1, "s": 1000, "m": 60000, "min": 60000, "h": 3600000}


# How a Pacemaker duration (an interval, a delay, a timeout) is written here: whole units.
# Pacemaker counts pcmk_delay_base in whole seconds (500ms becomes 0), pcs 0.11.7 and later refuse
# sub-second monitor intervals, and Pacemaker before 2.1 reads a fraction such as 0.5m as 0 (which
# turns a monitor off): a form every generation reads the same way is the only one accepted.
PACEMAKER_DURATION_RE = re.compile(r"(0|[1-9][0-9]{0,6})(s|m|min|h)?")
PACEMAKER_UNIT_S = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def pacemaker_seconds(value):
    """A Pacemaker duration as accepted here ('30s', '2m', '1h', a bare number of seconds) ->
    seconds, or None."""
    text = value.text if isinstance(value, (YamlInt, YamlFloat)) else str(value)
    match = PACEMAKER_DURATION_RE.fullmatch(text)
    return int(match.group(1)) * PACEMAKER_UNIT_S[match.group(2)] if match else None


def check_duration(least_s, most_s, why_least):
    """A Pacemaker duration in whole seconds, minutes or hours, between the two bounds."""
    def check(value):
        seconds = pacemaker_seconds(value)
        if seconds is None:
            return (f"{shown(value)} is not a duration in whole units such as 10s, 2m or 1h: "
                    "Pacemaker and pcs count whole seconds (pcs 0.11.7+ refuses sub-second "
                    "intervals, pcmk_delay_base drops fractions, Pacemaker < 2.1 reads 0.5m as 0)")
        if seconds < least_s:
            return f"{value} is below {least_s}s: {why_least}"
        if seconds > most_s:
            return f"{value} is above {most_s}s"
        return None
    return check


check_monitor_interval = check_duration(1, 86400, "0 would turn the recurring monitor off")
check_race_delay = check_duration(0, 60, "")
check_request_timeout = check_duration(1, 3600, "pcs needs at least a second")


def check_path(value):
    if not PATH_RE.fullmatch(value) or "/../" in f"{value}/" or "//" in value:
        return f"{shown(value)} is not a plain absolute path (letters, digits, '.', '-', '_', '/')"
    return None


def within(low, high, unit=""):
    return lambda v: None if low <= v <= high else f"{v}{unit} is not between {low} and {high}{unit}"


def one_of(choices, what):
    return lambda v: None if v in choices else f"{shown(v)} is not {what} ({', '.join(choices)})"


# --- options: name=value pairs for pcs ----------------------------------------------------

def option_key(name):
    """How pcs and the agents see an option name: case and '-' versus '_' do not matter."""
    return name.lower().replace("-", "_")


# A name that says it carries a secret: such a value would sit in the CIB in plain text.
# The agent's meta-data decides at the fence step (fencing.check_parameters); this catches the usual names
# before any host is asked.
SECRET_OPTION_RE = re.compile(r"pass|secret|token|credential|(^|_)key$|private|communit|apikey|"
                              r"api_key|access_key|_kg$|(^|_)psk")


def read_options(reader, data, where, reserved=(), reserved_why=""):
    if data is None:
        return ()
    if not isinstance(data, dict):
        reader.fail(where, "must be a mapping of option names to values")
    out, seen = [], {}
    for name, value in data.items():
        dotted = f"{where}.{name}"
        if not OPTION_NAME_RE.fullmatch(name):
            reader.fail(dotted, "is not a valid option name (letters, digits, '_' and '-', "
                        "a letter or '_' first)")
        key = option_key(name)
        if key in seen:
            reader.fail(dotted, f"is the same option as {where}.{seen[key]}")
        seen[key] = name
        if key in reserved:
            reader.fail(dotted, reserved_why)
        if SECRET_OPTION_RE.search(key):
            reader.fail(dotted, "names a secret, which would be stored in the CIB in plain text; "
                        "halb passes BMC passwords from the environment through a file instead")
        if isinstance(value, bool):
            value = "1" if value else "0"
        text, problem = as_text(value)
        problem = problem or text_problem(text, limit=1024)
        if problem:
            reader.fail(dotted, problem)
        out.append((name, text))
    return tuple(out)


# --- secrets -------------------------------------------------------------------------------
