"""`inv status`: is the running cluster whole, and is it still what the config says?

Every check reads; nothing changes. Drift is found by the runbook's own planners: a step that
would change something on the live facts is a place where the cluster and the config differ.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import urllib.request
from dataclasses import asdict, dataclass

from . import facts as factlib
from . import hooks, parsers
from .commands import run
from .config import SECRET_OPTION_RE, option_key
from .errors import StepFailed, UserError
from .fencing import device_id, topology
from .plan import NotReady
from .plan.vip import halb_groups, vip_resources

# Asks HAProxy's stats socket for `show stat` (Python is on every node: pcs needs it).
_SHOW_STAT = r"""
import socket, sys
sock = socket.socket(socket.AF_UNIX)
sock.settimeout(5)
sock.connect(sys.argv[1])
sock.sendall(b"show stat\n")
data = b""
while True:
    chunk = sock.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode())
"""


def probe_port(cluster, view, port=None):
    """Where a group answers: --port applies to the first group alone, every other group is
    asked on its own first frontend's port."""
    return (port or view.service_port) if view.group == cluster.group else view.service_port


def get_via_vip(cluster, port, path="/", timeout=3):
    """(whether the service answers below 500, what it said): one GET through the VIP."""
    url = f"http://{cluster.vip.ip}:{port}{path}"
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            code = reply.status
    except urllib.error.HTTPError as exc:
        code = exc.code
    except OSError as exc:
        return False, f"GET {url}: {exc}"
    return code < 500, f"GET {url} -> {code} in {(time.monotonic() - started) * 1000:.0f} ms"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def backend_servers(show_stat):
    """`show stat` CSV -> {(backend, server): status} for real servers (not FRONTEND/BACKEND)."""
    text = show_stat.lstrip("# ")
    rows = csv.DictReader(io.StringIO(text))
    return {(r["pxname"], r["svname"]): r["status"] for r in rows
            if r.get("svname") not in (None, "FRONTEND", "BACKEND")}


def quorum_flags(text):
    """corosync-quorumtool -s -> (quorate, the Flags line)."""
    quorate = any(line.split(":", 1)[-1].strip() == "Yes"
                  for line in text.splitlines() if line.startswith("Quorate:"))
    flags = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                  if line.startswith("Flags:")), "")
    return quorate, flags


class Health:
    def __init__(self, cluster, session, planners, port=None, path="/"):
        self.cluster, self.session, self.planners = cluster, session, planners
        self.port, self.path = port, path

    def ask(self, node, command, sensitive=False):
        return self.session.executor.run(node, command, "status", sensitive=sensitive)

    def answering_node(self, dialect):
        """A node whose Pacemaker answers, with its crm_mon status."""
        problems = []
        for node in self.cluster.nodes:
            try:
                status = parsers.parse_crm_mon(self.ask(node, dialect.cluster_status_xml()).stdout)
            except UserError as exc:
                problems.append(f"{node.name}: {str(exc).splitlines()[0]}")
                continue
            if status is not None:
                return node, status
            problems.append(f"{node.name}: Pacemaker gives no status")
        raise UserError("status: no node answers for the cluster:\n  " + "\n  ".join(problems))

    def checks(self):
        """Every check of CHECKS on one reading of the live cluster, in order."""
        cluster = self.cluster
        hooks.check_reach(cluster.vip_addresses)
        self.session.resolve_nodes()
        facts = self.session.gather()
        dialect = factlib.cluster_dialect(cluster, facts)
        node, status = self.answering_node(dialect)
        live = Live(self, dialect, facts, node, status, facts[node.name].cib)
        out = []
        for check in CHECKS:
            found = check(live)
            out += found if isinstance(found, list) else [found] if found else []
        return out

    def backends_check(self, holder, socket_path):
        command = run("sh", "-c", factlib.FIRST_PYTHON, "sh", _SHOW_STAT, socket_path,
                      shown=f"show stat on {socket_path}")
        try:
            servers = backend_servers(self.ask(holder, command).stdout)
        except StepFailed as exc:
            return Check("backends healthy", False, f"stats socket on {holder.name}: {exc.detail}")
        down = [f"{b}/{s} {st}" for (b, s), st in sorted(servers.items()) if not st.startswith("UP")]
        return Check("backends healthy", bool(servers) and not down,
                     (", ".join(down) if down else f"{len(servers)} server(s) UP") + f" (on {holder.name})")

    def drift(self, dialect, facts):
        """The runbook's planners on the live facts: any change they would make is drift."""
        would = []
        for step, planner in self.planners.items():
            try:
                plan = planner(self.cluster, dialect, facts)
            except NotReady as exc:
                would.append(f"{step} ({exc})")
                continue
            hosts = [h for h in plan.hosts() if plan.commands_for(h)]
            if hosts:
                would.append(f"{step} on {', '.join(hosts)}")
        return Check("matches the config", not would,
                     "setup-cluster would change: " + "; ".join(would) if would else
                     "setup-cluster would change nothing")


@dataclass
class Live:
    """One reading of the running cluster, shared by the checks."""
    health: Health
    dialect: object
    facts: dict
    node: object  # the node whose Pacemaker answered
    status: object  # its crm_mon status
    cib: object

    @property
    def cluster(self):
        return self.health.cluster


def nodes_online(live):
    status, names = live.status, [n.name for n in live.cluster.nodes]
    offline = [n for n in names if n not in status.online]
    def state(name):
        if name in status.online:
            return "online"
        # The others follow a DC that is not online: nothing is started until it is back or
        # gone from their view (docs/limits.md: a restart of its, or their, cluster stack).
        dc = ", the DC the others wait for" if name == status.dc else ""
        return f"JOINING (pending{dc})" if name in status.pending else f"OFFLINE{dc}"
    return Check("nodes online", not offline and not status.unclean,
                 ", ".join(f"{n} {state(n)}" for n in names)
                 + (f"; unclean: {', '.join(sorted(status.unclean))}" if status.unclean else ""))


def no_standby(live):
    standby = live.status.standby
    return Check("no node in standby", not standby,
                 ", ".join(sorted(standby)) + " in standby" if standby else "none")


def quorum(live):
    """Quorate, by the means the config asks for: the arbiter's vote (Qdevice), two_node for
    two nodes alone, a plain majority for three nodes or more (two_node there would be wrong)."""
    cluster = live.cluster
    text = live.health.ask(live.node, run("corosync-quorumtool", "-s",
                                          accept_codes=(0, 1, 2))).stdout
    quorate, flags = quorum_flags(text)
    wants = "Qdevice" if cluster.quorum_device else "2Node" if len(cluster.nodes) == 2 else None
    means = wants in flags.split() if wants else "2Node" not in flags.split()
    return Check("quorum", quorate and means,
                 f"{'quorate' if quorate else 'NOT quorate'}; flags {flags or '(none)'}"
                 + ("" if means else f"; expected {wants}" if wants else
                    f"; two_node is set on {len(cluster.nodes)} nodes"))


def stonith_enabled(live):
    stonith = (live.cib.properties.get("stonith-enabled") if live.cib else None) or "true"
    return Check("stonith-enabled", stonith == "true", stonith)


def fence_devices(live):
    """Each device started on one node, never on its own target: with two nodes that is the
    peer; with more, any other node."""
    cluster, out = live.cluster, []
    names = {n.name for n in cluster.nodes}
    for n in cluster.nodes:
        for level in cluster.fencing.levels:
            device = device_id(n.name, level)
            where = live.status.resources.get(device, ())
            out.append(Check(f"fence device {device}", len(where) == 1 and where[0] in names - {n.name},
                             f"started on {', '.join(where) or 'no node'} (fences {n.name}"
                             f"{f', level {level}' if level > 1 else ''}, belongs on "
                             f"{cluster.elsewhere(n.name)})"))
    return out


def fencing_levels(live):
    cluster = live.cluster
    if not cluster.fencing.second_level or live.cib is None:
        return None
    wanted = set().union(*(topology(cluster, n) for n in cluster.nodes))
    return Check("fencing levels", wanted <= live.cib.levels,
                 "; ".join(f"{n.name}: {device_id(n.name)}, then {device_id(n.name, 2)}"
                           for n in cluster.nodes)
                 if wanted <= live.cib.levels else "not as the config says: run "
                 "setup-cluster --from fence")


def no_credentials_in_cib(live):
    found = plain_text_credentials(live.cib)
    return Check("no credentials in the CIB", not found,
                 "none in plain text" if not found else
                 "plain-text credentials in " + ", ".join(found) + ": every node and CIB "
                 "backup holds them; move them to a password_script (setup-cluster "
                 "--from fence replaces halb's own devices)")


def per_group(check):
    """A check of one service group, run for each: named after its group when there are
    several."""
    def every_group(live):
        views = live.cluster.views()
        out = []
        for view in views:
            found = check(live, view, live.status.resources.get(view.vip.resource_id, ()))
            if found and len(views) > 1:
                found = Check(f"{found.name} ({view.group})", found.ok, found.detail)
            out += [found] if found else []
        return out
    every_group.__name__ = check.__name__
    return every_group


@per_group
def vip_on_one_node(live, view, holders):
    service = live.status.resources.get(view.service.resource_id, ())
    return Check("VIP on exactly one node", len(holders) == 1 and service == holders,
                 f"{view.vip.ip} on {', '.join(holders) or 'no node'}; "
                 f"{view.service.resource_id} on {', '.join(service) or 'no node'}")


@per_group
def service_answers(live, view, holders):
    ok, detail = get_via_vip(view, probe_port(live.cluster, view, live.health.port),
                             live.health.path)
    return Check("service answers on the VIP", ok, detail)


@per_group
def backends(live, view, holders):
    if not view.haproxy or len(holders) != 1:
        return None
    return live.health.backends_check(view.node(holders[0]), view.haproxy.stats_socket)


def no_failed_actions(live):
    failures = live.status.failures
    return Check("no failed actions", failures == 0,
                 f"{failures} failed action(s): pcs resource cleanup after fixing"
                 if failures else "none")


def crm_verify(live):
    verify = live.health.ask(live.node, run("crm_verify", "-L", accept_codes=tuple(range(256))))
    problem = (verify.stderr.strip() or verify.stdout.strip()).splitlines()
    return Check("crm_verify -L", verify.exited == 0,
                 "clean" if verify.exited == 0 else (problem[0] if problem else
                                                     f"exit {verify.exited}"))


def halb_resources(cluster):
    """The CIB ids halb owns for this config: each group, its address and service resources,
    and every node's fence devices."""
    owned = set()
    for view in cluster.views():
        owned |= {view.group, view.service.resource_id,
                  *(resource for resource, _, _ in vip_resources(view))}
    return owned | {device_id(node.name, level) for node in cluster.nodes
                    for level in cluster.fencing.levels}


def not_halbs(live):
    """What the CIB holds besides halb's own: left alone by every run, named here so that an
    operator knows halb will neither change nor remove it."""
    if live.cib is None:
        return None
    owned = halb_resources(live.cluster)
    for group, members in halb_groups(live.cib).items():  # the vip step's, in the config or not
        owned |= {group, *members}
    foreign = sorted({*live.cib.primitives, *live.cib.groups} - owned)
    return Check("not halb's (left alone)", True,
                 ", ".join(foreign) if foreign else "nothing: every resource is halb's")


def matches_config(live):
    return live.health.drift(live.dialect, live.facts)


# `inv status`, in the order it prints: each returns a Check, a list of them, or None (n/a).
CHECKS = (nodes_online, no_standby, quorum, stonith_enabled, fence_devices, fencing_levels,
          no_credentials_in_cib, vip_on_one_node, service_answers, backends, no_failed_actions,
          crm_verify, matches_config, not_halbs)


def plain_text_credentials(cib):
    """resource.attribute of every instance attribute whose name says it holds a secret (the
    source runbook's passwd=, another tool's community=): its value sits in the CIB in plain
    text. A *_script attribute names a program, not a secret."""
    if cib is None:
        return []
    return sorted(f"{rid}.{name}" for rid, primitive in cib.primitives.items()
                  for name in primitive.attributes
                  if SECRET_OPTION_RE.search(option_key(name)) and not name.endswith("_script"))


# (the JSON key and the last line when every check passed, the last line when some failed)
HEALTH_VERDICTS = ("healthy", "unhealthy")


def table(checks, good=HEALTH_VERDICTS[0], bad=HEALTH_VERDICTS[1]):
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  result  detail"]
    lines += [f"{c.name:<{width}}  {'ok' if c.ok else 'FAIL':<6}  {c.detail}" for c in checks]
    failed = sum(not c.ok for c in checks)
    lines.append(good if not failed else f"{bad}: {failed} check(s) failed")
    return "\n".join(lines)


def _label(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def as_prometheus(checks, cluster_name, now):
    """The checks in Prometheus's text format, for a textfile collector (node_exporter's):
    one halb_status_check per check (1 passed, 0 failed) and when they were read. A config
    changed outside halb is halb_status_check{check="matches the config"} 0."""
    cluster = _label(cluster_name)
    lines = ["# HELP halb_status_check Whether a check of `inv status` passed (1) or failed (0).",
             "# TYPE halb_status_check gauge"]
    lines += [f'halb_status_check{{cluster="{cluster}",check="{_label(c.name)}"}} {int(c.ok)}'
              for c in checks]
    lines += ["# HELP halb_status_timestamp_seconds When `inv status` read the cluster.",
              "# TYPE halb_status_timestamp_seconds gauge",
              f'halb_status_timestamp_seconds{{cluster="{cluster}"}} {now:.0f}']
    return "\n".join(lines) + "\n"


def check_metrics_file(path):
    """A textfile collector reads *.prom files in its folder: refuse anything else up front."""
    folder = os.path.dirname(os.path.abspath(path))
    if not path.endswith(".prom"):
        raise UserError(f"--metrics-file {path}: the name must end in .prom (the textfile "
                        "collector reads only those)")
    if not os.path.isdir(folder):
        raise UserError(f"--metrics-file {path}: folder {folder} does not exist")


def as_json(checks, meta, verdict=HEALTH_VERDICTS[0]):
    return json.dumps({**meta, verdict: all(c.ok for c in checks),
                       "checks": [asdict(c) for c in checks]}, indent=2)
