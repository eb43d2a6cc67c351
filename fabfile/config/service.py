"""Sections service (which resource agent serves) and haproxy (its generated config)."""

from __future__ import annotations

import re

from .model import AGENT_RE, HAPROXY_AGENT, URL_PATH_RE, Backend, Frontend, HAProxy, Server, Service
from .reader import shown
from .validate import (
    STACK_PORTS,
    canonical_address,
    check_address,
    check_monitor_interval,
    check_name,
    check_package,
    check_path,
    check_port,
    check_resource_id,
    one_of,
    option_key,
    read_options,
)

HAPROXY_RESERVED = {"conffile", "stats_socket", "status_url", "config_checksum"}
# haproxy's command-line flags a config may add (service.options.extra_opts), with what each
# takes. Others are refused: -f, -C or -W change which config runs or which process the agent
# manages, -p, -D, -x, -sf are the agent's own.
HAPROXY_FLAGS = {"-L": check_name, "-N": lambda v: None if re.fullmatch(r"[1-9][0-9]{0,6}", v)
                 else f"{shown(v)} is not a connection limit", "-q": None, "-dr": None,
                 "-dV": None, "-dW": None}


def check_haproxy_flags(value):
    words = value.split()
    while words:
        flag = words.pop(0)
        if flag not in HAPROXY_FLAGS:
            return (f"{shown(flag)} is not a haproxy flag halb passes on (accepted: "
                    f"{', '.join(HAPROXY_FLAGS)}): the agent runs haproxy with its own -f, -p, -D")
        if HAPROXY_FLAGS[flag]:
            if not words:
                return f"{flag} needs a value"
            if problem := HAPROXY_FLAGS[flag](words.pop(0)):
                return f"{flag}: {problem}"
    return None


# What else of ocf:halb:haproxy a config may set, and what each may be.
HAPROXY_SERVICE_OPTIONS = {
    "extra_opts": check_haproxy_flags,
    "binary": lambda v: check_path(v) or (None if v.rsplit("/", 1)[1].startswith("haproxy") else
                                          f"{shown(v)} is not a haproxy binary"),
    "pidfile": lambda v: check_file_in(HAPROXY_PIDFILE_DIRS, ".pid")(v),
}


def read_service(r, data, default_id="haproxy"):
    raw = r.mapping(r.get(data, "service", "", dict, default={}), "service",
                    ["agent", "resource_id", "options", "monitor_interval", "packages"])
    agent = r.get(raw, "agent", "service", str, default=HAPROXY_AGENT,
                  check=lambda v: None if v == HAPROXY_AGENT or AGENT_RE.fullmatch(v) else
                  f"{shown(v)} is not a resource agent ('haproxy', ocf:PROVIDER:TYPE, "
                  "systemd:UNIT, lsb:NAME or service:NAME)")
    reserved = HAPROXY_RESERVED if agent == HAPROXY_AGENT else ()
    options = read_options(r, raw.get("options"), "service.options", reserved,
                           "is set by halb from the haproxy section; remove it here")
    if options and agent.startswith(("systemd:", "service:", "lsb:")):
        r.fail(f"service.options.{options[0][0]}", f"{agent} takes no options: a "
               f"{agent.split(':')[0]} resource runs the unit or script as it is")
    if agent == HAPROXY_AGENT:
        for name, value in options:
            check = HAPROXY_SERVICE_OPTIONS.get(option_key(name))
            if check is None:
                r.fail(f"service.options.{name}", "is not an option of halb's HAProxy agent that "
                       f"a config may set (accepted: {', '.join(HAPROXY_SERVICE_OPTIONS)})")
            if problem := check(value):
                r.fail(f"service.options.{name}", problem)
    return Service(
        agent=agent,
        resource_id=r.get(raw, "resource_id", "service", str, default=default_id,
                          check=check_resource_id),
        options=options,
        monitor_interval=r.get(raw, "monitor_interval", "service", str, default="10s",
                               check=check_monitor_interval),
        packages=r.texts(raw, "packages", "service", check_package),
    )



HEALTH_FRONTEND = "halb_health"
METRICS_FRONTEND = "halb_metrics"


# Where halb writes HAProxy's config and lets it put its socket: the folders the haproxy package
# creates on every platform, one file each. A folder, another package's file or a path outside
# them is refused.
HAPROXY_CONFIG_DIR = "/etc/haproxy"
HAPROXY_SOCKET_DIRS = ("/run/haproxy", "/var/lib/haproxy")
HAPROXY_PIDFILE_DIRS = ("/run/haproxy", "/run/resource-agents")
FILE_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")


def check_file_in(folders, suffix=""):
    """A file directly inside one of `folders`, its name plain and ending in `suffix`."""
    def check(value):
        folder, _, name = value.rpartition("/")
        if folder not in folders or not FILE_NAME_RE.fullmatch(name) or not name.endswith(suffix) \
                or name == suffix:
            where = " or ".join(f"{f}/" for f in folders)
            return (f"{shown(value)} is not a file name directly in {where}"
                    + (f" ending in {suffix}" if suffix else "") + ": halb writes or removes only "
                    "its own files in the folders the package owns")
        return None
    return check


def port_owner(port, nodes):
    """What already listens on `port` on a node, or None."""
    ssh = {n.ssh_port for n in nodes} | {22}
    return "sshd" if port in ssh else STACK_PORTS.get(port)


def read_haproxy(r, data, vip, nodes=(), config_path="/etc/haproxy/haproxy.cfg",
                stats_socket="/run/haproxy/admin.sock"):
    raw = r.mapping(r.get(data, "haproxy", "", dict), "haproxy",
                    ["config_path", "stats_socket", "frontends", "backends", "health_port"])
    frontend_ports = [f.get("port") for f in raw.get("frontends") or [] if isinstance(f, dict)]
    backends = read_backends(r, raw, vip, frontend_ports)
    frontends = read_frontends(r, raw, [b.name for b in backends])
    ports = [f.port for f in frontends]
    health_port = r.get(raw, "health_port", "haproxy", int, default=None, check=check_port)
    for where, port in [(f"haproxy.frontends[{i}].port", p) for i, p in enumerate(ports)] + \
            ([("haproxy.health_port", health_port)] if health_port else []):
        if owner := port_owner(port, nodes):
            r.fail(where, f"{port} is {owner}'s port on the nodes: HAProxy could not bind it")
    if health_port in ports:
        r.fail("haproxy.health_port", f"{health_port} is also a frontend's port")
    config_path = r.get(raw, "config_path", "haproxy", str, default=config_path,
                        check=check_file_in((HAPROXY_CONFIG_DIR,), ".cfg"))
    stats_socket = r.get(raw, "stats_socket", "haproxy", str, default=stats_socket,
                         check=check_file_in(HAPROXY_SOCKET_DIRS))
    return HAProxy(
        config_path=config_path, stats_socket=stats_socket,
        frontends=tuple(frontends), backends=tuple(backends), health_port=health_port,
    )


def read_backends(r, raw, vip, frontend_ports):
    backends = []
    for i, b in enumerate(r.get(raw, "backends", "haproxy", list)):
        where = f"haproxy.backends[{i}]"
        r.mapping(b, where, ["name", "health_check", "servers"])
        servers = []
        for j, s in enumerate(r.get(b, "servers", where, list)):
            server = read_server(r, s, f"{where}.servers[{j}]", vip, frontend_ports)
            if server.name in (x.name for x in servers):
                r.fail(f"{where}.servers[{j}].name",
                       f"{server.name!r} names two servers of this backend")
            servers.append(server)
        if not servers:
            r.fail(f"{where}.servers", "needs at least one server")
        backends.append(Backend(
            name=r.get(b, "name", where, str, check=check_proxy_name),
            health_check=r.get(b, "health_check", where, str, default=None,
                               check=lambda v: None if URL_PATH_RE.fullmatch(v)
                               else f"{shown(v)} is not a URL path"),
            servers=tuple(servers),
        ))
    names = [b.name for b in backends]
    if not backends:
        r.fail("haproxy.backends", "needs at least one backend")
    if len(set(names)) != len(names):
        r.fail("haproxy.backends", "two backends have the same name")
    return backends


def read_server(r, raw, where, vip, frontend_ports):
    r.mapping(raw, where, ["name", "address", "port"])
    server = Server(name=r.get(raw, "name", where, str, check=check_name),
                    address=canonical_address(r.get(raw, "address", where, str,
                                                    check=check_address)),
                    port=r.get(raw, "port", where, int, check=check_port))
    if vip and server.address == vip.ip and server.port in frontend_ports:
        r.fail(f"{where}.address", f"{server.address}:{server.port} is a frontend of "
               "this HAProxy: requests would loop")
    return server


def read_frontends(r, raw, backend_names):
    frontends = []
    for i, f in enumerate(r.get(raw, "frontends", "haproxy", list)):
        where = f"haproxy.frontends[{i}]"
        r.mapping(f, where, ["name", "port", "backend"])
        frontends.append(Frontend(
            name=r.get(f, "name", where, str, check=check_proxy_name),
            port=r.get(f, "port", where, int, check=check_port),
            backend=r.get(f, "backend", where, str,
                          check=one_of(tuple(backend_names), "one of the backends")),
        ))
    if not frontends:
        r.fail("haproxy.frontends", "needs at least one frontend")
    if len({f.name for f in frontends}) != len(frontends):
        r.fail("haproxy.frontends", "two frontends have the same name")
    ports = [f.port for f in frontends]
    if len(set(ports)) != len(ports):
        r.fail("haproxy.frontends", "two frontends bind the same port on the VIP")
    return frontends


def check_proxy_name(value):
    if value in (HEALTH_FRONTEND, METRICS_FRONTEND):
        return f"{value!r} is the name of one of halb's own frontends"
    return check_name(value)
