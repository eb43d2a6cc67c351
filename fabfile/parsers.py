"""Pure parsers of what the nodes print: meta-data, os-release, package and unit lists, pcsd's
files, corosync.conf, the CIB, crm_mon and the fencer's log. Text in, frozen objects out; the
unit tests feed them outputs recorded from three Pacemaker generations."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Primitive:
    id: str
    agent: str  # "stonith:fence_ipmilan", "ocf:heartbeat:IPaddr2", "systemd:nginx"
    attributes: dict
    monitor_interval: str | None
    group: str | None


@dataclass(frozen=True)
class Cib:
    properties: dict
    primitives: dict  # id -> Primitive
    groups: dict  # group id -> [member ids] in order
    avoids: frozenset  # (resource, node) pairs with a -INFINITY location constraint
    online_nodes: frozenset
    resource_nodes: dict  # resource id -> tuple of nodes where it is active
    group_meta: dict = field(default_factory=dict)  # group id -> {meta attribute: value}
    # The fencing topology: (target node, level index, comma-separated device ids) triples.
    levels: frozenset = frozenset()
    # Colocation constraints: (resource, with resource, score) triples.
    colocations: frozenset = frozenset()
    # Alerts: id -> the element in canonical XML (None: the CIB has no alerts section).
    alerts: dict | None = None


@dataclass(frozen=True)
class Corosync:
    cluster_name: str | None
    nodes: tuple[str, ...]
    two_node: bool
    token_ms: int | None = None  # None: not written, corosync's default applies
    consensus_ms: int | None = None
    text: str = field(default="", repr=False)  # the file itself, for dialects that rewrite it
    device: dict | None = None  # quorum device: model, host, algorithm, tie_breaker, heuristics



# --- parsers: pure functions of text ---------------------------------------------------------

@dataclass(frozen=True)
class AgentParameter:
    """One parameter of a fence agent, as its meta-data describes it."""

    kind: str  # the content type: string, integer, second, boolean, select
    choices: tuple = ()  # a select's values
    secret: bool = False


# How an agent's meta-data shows that a parameter carries a secret: the placeholder of its
# command-line option (--password=[password], --community=[community], --apikey=[key]). Fence
# agents mark nothing else; the config's own name filter (config.SECRET_OPTION_RE) adds names
# such as access_key or secret_key whose placeholder is [name].
SECRET_PLACEHOLDERS = ("password", "pass", "key", "community", "token", "secret")
# Parameters whose placeholder says [key] but which name a target: halb sets them itself.
TARGET_PARAMETERS = ("plug", "port", "key")


def parse_fence_metadata(text):
    """`fence_X -o metadata` -> {parameter name: AgentParameter}, obsolete spellings too."""
    if not (text or "").strip():
        return {}
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return {}
    out = {}
    for parameter in root.iter("parameter"):
        name = parameter.get("name")
        if not name:
            continue
        content = parameter.find("content")
        kind = content.get("type", "string") if content is not None else "string"
        choices = tuple(o.get("value") for o in content.iter("option")) \
            if content is not None and kind == "select" else ()
        getopt = parameter.find("getopt")
        placeholder = re.search(r"=\[([^\]]*)\]", getopt.get("mixed", "")) if getopt is not None \
            else None
        secret = (kind == "string" and name not in TARGET_PARAMETERS and placeholder is not None
                  and placeholder.group(1).lower() in SECRET_PLACEHOLDERS)
        described = AgentParameter(kind, choices, secret)
        for spelling in (name, parameter.get("obsoletes")):
            if spelling and spelling not in out:
                out[spelling] = described
    return out


def parse_pcsd_bind(text):
    """pcsd's environment file -> its last PCSD_BIND_ADDR value ("" when unset), None when
    there is no such file (cat printed nothing)."""
    if not (text or "").strip():
        return None
    values = [line.split("=", 1)[1].strip().strip('"').strip("'")
              for line in text.splitlines() if line.strip().startswith("PCSD_BIND_ADDR=")]
    return values[-1] if values else ""


def parse_manifest(text):
    """/var/lib/halb/manifest -> ((kind, path), ...), in the order written."""
    out = []
    for line in (text or "").splitlines():
        kind, _, path = line.partition(" ")
        if kind in ("created", "replaced") and path.startswith("/"):
            out.append((kind, path))
    return tuple(out)


def parse_os_release(text):
    out = {}
    for line in (text or "").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def parse_packages(text, manager):
    installed = set()
    for line in (text or "").splitlines():
        parts = line.split()
        if manager == "apt":
            if len(parts) >= 2 and parts[1] == "installed":
                installed.add(parts[0].split(":")[0])
        elif len(parts) == 2 and parts[1] == "installed":
            installed.add(parts[0])
    return frozenset(installed)


def parse_units(text):
    units, current = {}, {}
    for line in (text or "").splitlines() + [""]:
        if not line.strip():
            if "Id" in current:
                name = current["Id"].removesuffix(".service")
                units[name] = (current.get("UnitFileState", ""), current.get("ActiveState", ""))
            current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    return units


def parse_pcsd_auth(text, legacy):
    """Nodes this node holds pcsd tokens for (known-hosts in pcs >= 0.10, tokens in 0.9)."""
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        return frozenset()
    if legacy:
        return frozenset((data.get("tokens") or {}).keys())
    return frozenset((data.get("known_hosts") or {}).keys())


def parse_corosync(text):
    if not text or not text.strip():
        return None
    name = re.search(r"^\s*cluster_name\s*:\s*(\S+)", text, re.M)
    # Node names: `name:` (pcs >= 0.10); pcs 0.9 names nodes by their ring0_addr only.
    nodes = (re.findall(r"^\s*name\s*:\s*(\S+)", text, re.M)
             or re.findall(r"^\s*ring0_addr\s*:\s*(\S+)", text, re.M))
    two_node = re.search(r"^\s*two_node\s*:\s*1", text, re.M) is not None
    totem = _section(text, "totem")

    def totem_ms(key):
        # Top-level keys of the totem section only, not those of its interface subsections.
        found = re.search(rf"^\s*{key}\s*:\s*([0-9]+)\s*$", _without_subsections(totem), re.M)
        return int(found.group(1)) if found else None

    device = _section(_section(text, "quorum"), "device")
    found = None
    if device.strip():
        net = _section(device, "net")
        top = _without_subsections(device)
        found = {"model": _value(top, "model"), "timeout": _value(top, "timeout")}
        found.update({key: _value(net, key) for key in ("host", "algorithm", "tie_breaker")})
        heuristics = _without_subsections(_section(device, "heuristics"))
        # An exec_ command keeps its spaces: the whole rest of the line.
        found["heuristics"] = dict(re.findall(r"^\s*(\w+)\s*:\s*(.*?)\s*$", heuristics, re.M)) \
            or None
    return Corosync(name.group(1) if name else None, tuple(dict.fromkeys(nodes)), two_node,
                    totem_ms("token"), totem_ms("consensus"), text, found)


def _value(body, key):
    found = re.search(rf"^\s*{key}\s*:\s*(\S+)\s*$", body, re.M)
    return found.group(1) if found else None


def section_span(text, name):
    """(start, end) of the body of the first `name { ... }` section of corosync.conf, nested
    braces counted; None when there is none."""
    start = re.search(rf"^\s*{name}\s*\{{", text, re.M)
    if not start:
        return None
    depth, pos = 1, start.end()
    for i in range(pos, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return pos, i
    return pos, len(text)


def _section(text, name):
    span = section_span(text, name)
    return text[span[0]:span[1]] if span else ""


def _without_subsections(body):
    out, depth = [], 0
    for char in body:
        depth += char == "{"
        if depth == 0:
            out.append(char)
        depth -= char == "}" and depth > 0
    return "".join(out)


def parse_cib(text):
    if not text or not text.lstrip().startswith("<"):
        return None
    root = ET.fromstring(text)
    properties = {}
    for nv in root.findall("./configuration/crm_config/cluster_property_set/nvpair"):
        properties[nv.get("name")] = nv.get("value")
    primitives, groups, group_meta = {}, {}, {}

    def primitive(elem, group):
        cls, provider, kind = elem.get("class"), elem.get("provider"), elem.get("type")
        agent = ":".join(p for p in (cls, provider, kind) if p)
        attrs = {nv.get("name"): nv.get("value")
                 for nv in elem.findall("./instance_attributes/nvpair")}
        monitor = next((op.get("interval") for op in elem.findall("./operations/op")
                        if op.get("name") == "monitor"), None)
        primitives[elem.get("id")] = Primitive(elem.get("id"), agent, attrs, monitor, group)

    resources = root.find("./configuration/resources")
    for elem in (resources if resources is not None else []):
        if elem.tag == "primitive":
            primitive(elem, None)
        elif elem.tag == "group":
            groups[elem.get("id")] = [p.get("id") for p in elem.findall("./primitive")]
            group_meta[elem.get("id")] = {nv.get("name"): nv.get("value")
                                          for nv in elem.findall("./meta_attributes/nvpair")}
            for p in elem.findall("./primitive"):
                primitive(p, elem.get("id"))
    avoids = set()
    for loc in root.findall("./configuration/constraints/rsc_location"):
        if loc.get("score") in ("-INFINITY", "-infinity") and loc.get("node"):
            avoids.add((loc.get("rsc"), loc.get("node")))
    online = set()
    active = {}
    for state in root.findall("./status/node_state"):
        uname = state.get("uname")
        # Pacemaker >= 2.1.7 writes join timestamps where older versions wrote online/true.
        # A node whose controller has not finished joining (join pending) runs nothing yet:
        # Pacemaker counts it as online only once join is "member".
        crmd, in_ccm = state.get("crmd", ""), state.get("in_ccm", "")
        if (crmd == "online" or crmd.isdigit()) and (in_ccm == "true" or in_ccm.isdigit()) \
                and state.get("join") == "member":
            online.add(uname)
        if uname not in online:
            continue
        for rsc in state.findall("./lrm/lrm_resources/lrm_resource"):
            if _resource_active(rsc):
                active.setdefault(rsc.get("id"), []).append(uname)
    levels = frozenset((level.get("target"), int(level.get("index")), level.get("devices"))
                       for level in root.findall("./configuration/fencing-topology/fencing-level")
                       if level.get("target") and (level.get("index") or "").isdigit())
    colocations = frozenset((c.get("rsc"), c.get("with-rsc"), c.get("score"))
                            for c in root.findall("./configuration/constraints/rsc_colocation")
                            if c.get("rsc") and c.get("with-rsc"))
    section = root.find("./configuration/alerts")
    alerts = None if section is None else {
        alert.get("id"): canonical_xml(alert) for alert in section.findall("./alert")}
    return Cib(properties, primitives, groups, frozenset(avoids), frozenset(online),
               {k: tuple(v) for k, v in active.items()}, group_meta, levels, colocations, alerts)


def canonical_xml(element):
    """An element as canonical XML without the blanks between tags: two spellings of the same
    element compare equal (attribute order, quoting, indentation)."""
    return ET.canonicalize(ET.tostring(element, encoding="unicode"), strip_text=True)


def _resource_active(rsc):
    """The last operation recorded decides: started/monitored ok -> active."""
    ops = sorted(rsc.findall("./lrm_rsc_op"), key=lambda o: int(o.get("call-id", "0")))
    state = False
    for op in ops:
        task, rc = op.get("operation"), op.get("rc-code")
        if task in ("start", "monitor", "migrate_from", "promote", "demote") and rc == "0":
            state = True
        elif task == "monitor" and rc == "7":
            state = False
        elif task == "stop" and rc == "0":
            state = False
    return state


def parse_files(text):
    out = {}
    for line in (text or "").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            out[parts[1].lstrip("*")] = parts[0]
    return out



# --- live cluster status (drills and lab checks) ---------------------------------------------

@dataclass(frozen=True)
class ClusterStatus:
    online: frozenset  # joined: a node still joining (pending) is not online
    standby: frozenset
    unclean: frozenset
    resources: dict  # resource id -> tuple of nodes it is active on
    failures: int
    pending: frozenset = frozenset()  # in the membership, the controller's join not finished
    dc: str | None = None  # the node whose controller the others follow (None: no DC yet)

    def runs_on(self, resource_ids):
        """The one node every one of the resources is active on, else None."""
        where = {self.resources.get(r, ()) for r in resource_ids}
        return next(iter(where))[0] if len(where) == 1 and len(next(iter(where))) == 1 else None


def parse_crm_mon(text):
    """crm_mon's XML (Pacemaker 1.1 --as-xml or 2.x --output-as=xml); None when it is no status."""
    try:
        root = ET.fromstring(text or "")
    except ET.ParseError:
        return None
    nodes = root.find("nodes")
    if nodes is None:
        return None
    online, standby, unclean, pending = set(), set(), set(), set()
    for node in nodes.findall("node"):
        name = node.get("name")
        # crm_mon shows a joining node as online, pending and standby: it runs nothing yet.
        if node.get("pending") == "true":
            pending.add(name)
        elif node.get("online") == "true":
            online.add(name)
        if node.get("standby") == "true" and name not in pending:
            standby.add(name)
        if node.get("unclean") == "true":
            unclean.add(name)
    resources = {}
    top = root.find("resources")
    for rsc in (top.iter("resource") if top is not None else ()):
        running = tuple(n.get("name") for n in rsc.findall("node"))
        resources[rsc.get("id")] = running if rsc.get("active") == "true" else ()
    failures = len(list(root.iter("failure")))
    dc = root.find("summary/current_dc")
    return ClusterStatus(frozenset(online), frozenset(standby), frozenset(unclean), resources,
                         failures, frozenset(pending),
                         dc.get("name") if dc is not None and dc.get("present") == "true" else None)


@dataclass(frozen=True)
class FenceEvent:
    """One line of the fencer's log: a device's attempt (`device` set, rc the agent's exit
    code) or the outcome of a whole fencing request (`device` None, rc 0 for OK)."""

    target: str
    action: str
    device: str | None
    rc: int
    by: str | None = None
    at: float | None = None  # the node's clock, when the journal gave it (-o short-unix)


# A device's attempt: Pacemaker 2.1 and later, then 2.0.
_ATTEMPTS = (re.compile(r"Operation '(\w+)' \[\d+\] targeting (\S+) using (\S+) returned (-?\d+)"),
             re.compile(r"Operation '(\w+)' \[\d+\] \(call \d+ from \S+\) for host '([^']+)' "
                        r"with device '([^']+)' returned: (-?\d+)"))
# A request's outcome: "targeting N by EXECUTOR for CLIENT: OK (complete)" from 2.1 on,
# "targeting N on EXECUTOR for CLIENT: OK" in 2.0.
_OUTCOME = re.compile(r"Operation '(\w+)' targeting (\S+) (?:by|on) (\S+) for \S+: ([^(]+?)\s*(?:\(|$)")


def parse_fencer_log(text):
    """The fencer's journal (pacemaker-fenced, `-o cat` or `-o short-unix`) -> [FenceEvent] in
    log order."""
    events = []
    for line in (text or "").splitlines():
        at = _unix_stamp(line)
        if found := next((m for m in (a.search(line) for a in _ATTEMPTS) if m), None):
            action, target, device, rc = found.groups()
            events.append(FenceEvent(target, action, device, int(rc), at=at))
        elif found := _OUTCOME.search(line):
            action, target, by, result = found.groups()
            events.append(FenceEvent(target, action, None, 0 if result == "OK" else 1, by, at))
    return events


# The controller's record of a finished start: Pacemaker 2.1 and later ("...: ok"), 2.0
# ("...: 0 (ok)").
_STARTED = re.compile(r"Result of start operation for (\S+) on (\S+): (?:0 \()?ok\b")


def parse_starts(text, resource_id):
    """The controller's journal (pacemaker-controld, `-o short-unix`) -> [(node clock, node)]:
    each successful start of `resource_id`, in log order."""
    starts = []
    for line in (text or "").splitlines():
        found = _STARTED.search(line)
        if found and found.group(1) == resource_id and (at := _unix_stamp(line)) is not None:
            starts.append((at, found.group(2)))
    return starts


def _unix_stamp(line):
    found = re.match(r"(\d{9,}\.\d+) ", line)
    return float(found.group(1)) if found else None
