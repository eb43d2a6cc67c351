"""`inv runbook`: the plan for a config written as the operator's own document.

Two forms of the same commands: markdown for a change ticket (every step, which host, each
command with what it is for, run as root on that host) and sh, a script that runs them from
this machine over SSH. Secrets never enter either: the config's secrets are swapped for
markers before planning, and each marker becomes a named placeholder ("$HACLUSTER_PASSWORD")
that the reader sets in their own environment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import stat
import sys
import tempfile
from datetime import datetime

from . import facts as factlib
from .errors import NOT_PRINTABLE_RE, UserError, escaped
from .fencing import password_kind
from .plan import NotReady, install, setup
from .secret import Secret

FORMATS = ("markdown", "sh")
MARKER = "@@halb-secret:{}@@"
MARKER_RE = re.compile(r"@@halb-secret:([A-Z0-9_]+)@@")
SECRET_PURPOSE = {"HACLUSTER_PASSWORD": "the hacluster user's password (pcsd authentication)"}


def with_placeholder_secrets(cluster):
    """The cluster with each secret's value replaced by a marker naming its variable."""
    def marked(secret):
        return Secret(secret.name, MARKER.format(secret.name))
    nodes = tuple(dataclasses.replace(
        n, fence_password=marked(n.fence_password) if n.fence_password else None,
        second_fence_password=marked(n.second_fence_password) if n.second_fence_password else None)
        for n in cluster.nodes)
    alerts = tuple(dataclasses.replace(a, token=marked(a.token)) if a.token else a
                   for a in cluster.alerts)
    return dataclasses.replace(cluster, nodes=nodes, alerts=alerts,
                               hacluster_password=marked(cluster.hacluster_password))


@dataclasses.dataclass
class Step:
    name: str
    about: str
    dialect: object
    plan: object


def plan_all(cluster, session, steps):
    """Each step planned against the hosts as the steps before it leave them: the live facts
    (offline: bare hosts of the pinned platform), then what the install step sets up, and where
    a step needs what an earlier one creates (the cluster, a fence device), that it exists."""
    facts = session.gather()
    planned = []
    for name in steps:
        planner = steps[name]
        dialect = factlib.cluster_dialect(cluster, facts)
        try:
            plan = planner(cluster, dialect, facts)
        except NotReady:
            plan = planner(cluster, dialect, {h: dataclasses.replace(f, assumed=True, cib=None)
                                              for h, f in facts.items()})
        planned.append(Step(name, _about(planner), dialect, plan))
        if name == "install" and not plan.empty:
            facts = install.expected_after(cluster, dialect, facts)
        elif name == "setup":
            facts = setup.expected_after(cluster, facts)
    return planned


def _about(planner):
    """The step's purpose: its module's first paragraph, without the 'Runbook step N:'."""
    doc = (sys.modules[planner.__module__].__doc__ or "").strip().split("\n\n")[0]
    about = re.sub(r"^Runbook step \d+(/\d+)?:\s*", "", " ".join(doc.split()))
    return about[:1].upper() + about[1:]


def one_line_text(text):
    """Text from input (a file name, a reason) as it may stand in a comment: control and
    non-ASCII characters escaped, so that it cannot end the comment and start a command."""
    return escaped(text, NOT_PRINTABLE_RE)


def write_new_file(path, text, mode, option="--output"):
    """`text` into a new file that then takes `path`'s place: whatever was at `path` (a file of
    other permissions, a link, a device) is never written through or changed. A folder or a
    device at `path` is refused."""
    where = f"{option} {one_line_text(path)}"
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise UserError(f"{where}: {exc.strerror or exc}") from None
    if info is not None and not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        raise UserError(f"{where}: is not a regular file (a folder or a device): refused")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".halb-new.")
    except OSError as exc:
        raise UserError(f"{where}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise UserError(f"{where}: {exc.strerror or exc}") from None


# --- shell lines -------------------------------------------------------------------------------
def _placeholders(text):
    return MARKER_RE.findall(text or "")


def _printf(text):
    """printf arguments that print `text`, each secret marker as "$NAME"."""
    parts = MARKER_RE.split(text)
    fmt, args = "", []
    for i, part in enumerate(parts):
        if i % 2:
            fmt += "%s"
            args.append(f'"${part}"')
        else:
            fmt += part.replace("\\", "\\\\").replace("%", "%%").replace("\n", "\\n")
    return " ".join([shlex.quote(fmt), *args])


def _heredoc_tag(text):
    tag, n = "HALB_EOF", 1
    while tag in text.splitlines():
        n += 1
        tag = f"HALB_EOF_{n}"
    return tag


def stdin_form(command):
    """How the command's stdin is written: ("printf", args), ("heredoc", (tag, text)) or None.
    A file without secrets reads best as a here-document; anything holding a secret, or that a
    retry must be able to send again, goes through printf."""
    text = command.stdin_text()
    if text is None:
        return None
    if command.retry_transient or _placeholders(text) or not text.endswith("\n"):
        return "printf", _printf(text)
    return "heredoc", (_heredoc_tag(text), text)


def check_no_secret_on_the_line(command):
    if _placeholders(command.shell_line()):
        raise UserError(f"internal: a secret reached a command line ({command.argv[0]}); "
                        "refusing to write the runbook")


def local_lines(command):
    """The command as typed on its host, as root: stdin piped or here-documented."""
    check_no_secret_on_the_line(command)
    line = command.shell_line()
    form = stdin_form(command)
    if form is None:
        return [line]
    kind, value = form
    if kind == "printf":
        return [f"printf {value} | {line}"]
    tag, text = value
    return [f"{line} <<'{tag}'", *text[:-1].split("\n"), tag]


def remote_lines(command, host, sudo):
    """The command run from the controller: `on HOST 'LINE'` through the script's ssh."""
    check_no_secret_on_the_line(command)
    line = command.shell_line()
    if sudo:
        line = f"sudo -n -- {line}"
    form = stdin_form(command)
    target = f"{shlex.quote(host)} {shlex.quote(line)}"
    if form is None:
        lines = [f"on {target}"]
    elif form[0] == "printf":
        lines = [f"on {target} -- {form[1]}"]
    else:
        tag, text = form[1]
        lines = [f"feed {target} <<'{tag}'", *text[:-1].split("\n"), tag]
    if command.retry_transient:
        lines[0] = f"retry {lines[0]}"
    if accepted := [c for c in command.accept_codes if c != 0]:
        # An exit code the command accepts is an answer, not a failure (set -e would stop).
        lines[0] += f" || case $? in {'|'.join(map(str, accepted))}) ;; *) exit 1 ;; esac"
    return lines


# --- documents -------------------------------------------------------------------------------
def _secrets_used(steps):
    found = {}
    for step in steps:
        for _, command in _commands(step):
            for name in _placeholders(command.stdin_text()):
                found[name] = True
    return list(found)


def _commands(step):
    """(host, command) in the order they run: the checks first, then the phases."""
    yield from step.plan.checks
    for phase in step.plan.phases:
        for host, commands in phase:
            for command in commands:
                yield host, command


def _secret_purpose(cluster, name):
    if name in SECRET_PURPOSE:
        return SECRET_PURPOSE[name]
    alert = next((a for a in cluster.alerts if a.token and a.token.name == name), None)
    if alert:
        return f"the bearer token of webhook alert {alert.name}"
    for level in cluster.fencing.levels:
        owners = [n.name for n in cluster.nodes
                  if any(lv == level and s.name == name for lv, s in n.fence_passwords)]
        if owners:
            return f"{password_kind(cluster, level)} of {', '.join(owners)}"
    return name


def _source(cluster, session):
    if session.offline:
        return f"planned offline for platform {cluster.platform}: hosts assumed bare"
    return (f"planned from the hosts' live facts on "
            f"{datetime.now().astimezone().isoformat(timespec='minutes')}")


def markdown(cluster, session, steps):
    secrets = _secrets_used(steps)
    dialects = sorted({s.dialect.label for s in steps})
    out = [f"# Runbook: cluster {cluster.name}", "",
           f"From `{one_line_text(cluster.path)}`, {_source(cluster, session)} "
           f"({'; '.join(dialects)}).", "",
           "Hosts: " + ", ".join(f"{h.name} ({h.address})" for h in cluster.hosts) + ".", "",
           "Run each command as root on the host named above it, in the order written. "
           "Checks must pass before the commands of their step run.", ""]
    if secrets:
        out += ["Secrets appear as named placeholders; set them in the shell first "
                "(`read -rs NAME; export NAME`), never in this document:", ""]
        out += [f"- `{name}`: {_secret_purpose(cluster, name)}" for name in secrets] + [""]
    for number, step in enumerate(steps, 1):
        out += [f"## {number}. {step.name}", "", step.about, ""]
        for host, command in step.plan.checks:
            out += [f"Check on **{host}**: {command.why}", "", "```sh", *local_lines(command),
                    "```", ""]
        for host, commands in (entry for phase in step.plan.phases for entry in phase):
            out += [f"On **{host}**:", "", "```sh"]
            for command in commands:
                out += [f"# {command.why}"] if command.why else []
                out += local_lines(command)
            out += ["```", ""]
        for host, reason in step.plan.reasons:
            out += [f"- {host}: nothing to do, because {reason}."]
        if step.plan.reasons:
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


SCRIPT_HEAD = r'''set -eu

# on HOST LINE [-- PRINTF-ARGS...]: run LINE on HOST; with --, printf's output is its stdin.
on() {
    host=$1 line=$2
    shift 2
    if [ "$#" -gt 0 ]; then
        shift
        # shellcheck disable=SC2059  # the format is the runbook's own, never input
        printf "$@" | remote "$host" "$line"
    else
        remote "$host" "$line" </dev/null
    fi
}

# feed HOST LINE <<'TAG': run LINE on HOST with the here-document as its stdin.
feed() { remote "$1" "$2"; }

# retry COMMAND...: pcs may meet pcsd or the CIB still starting; up to 6 attempts.
retry() {
    attempt=1
    until "$@"; do
        [ "$attempt" -lt 6 ] || return 1
        echo "   retry $attempt/5 in $((attempt * 2))s" >&2
        sleep $((attempt * 2))
        attempt=$((attempt + 1))
    done
}

step() { printf '\n== %s\n' "$1"; }
'''


def _ssh_function(cluster):
    ssh = cluster.ssh
    options = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={ssh.connect_timeout}"]
    if ssh.identity_file:
        options += ["-i", ssh.identity_file]
    if ssh.known_hosts:
        options += ["-o", f"UserKnownHostsFile={ssh.known_hosts}"]
    options += ["-o", "StrictHostKeyChecking=" + ("accept-new" if ssh.accept_unknown_host_keys
                                                  else "yes")]
    lines = ["# remote HOST LINE: the config's SSH settings for each host.", "remote() {",
             '    case $1 in']
    for host in cluster.hosts:
        target = shlex.quote(f"{host.ssh_user}@{host.ssh_host}")
        lines.append(f"        {shlex.quote(host.name)}) set -- {target} {host.ssh_port} \"$2\" ;;")
    lines += ['        *) echo "unknown host $1" >&2; return 1 ;;', "    esac",
              f'    ssh {shlex.join(options)} -p "$2" "$1" "$3"', "}"]
    return lines


def script(cluster, session, steps):
    secrets = _secrets_used(steps)
    dialects = sorted({s.dialect.label for s in steps})
    out = ["#!/bin/sh", f"# Runbook for cluster {cluster.name}, written by `inv runbook` from "
           f"{one_line_text(cluster.path)}",
           f"# {_source(cluster, session)} ({'; '.join(dialects)}).",
           "# Runs every step from this machine over SSH; stops at the first failure.",
           "# Review it first: it changes the hosts below."]
    if secrets:
        out += ["# Secrets come from the environment, never from this file:"]
        out += [f"#   {name}: {_secret_purpose(cluster, name)}" for name in secrets]
    out += ["", SCRIPT_HEAD.rstrip("\n"), "", *_ssh_function(cluster), ""]
    for name in secrets:
        # Not ${NAME:?message}: quotes inside that message parse differently in bash and sh.
        message = f"set {name} in the environment: {_secret_purpose(cluster, name)}"
        out.append(f'[ -n "${{{name}:-}}" ] || {{ echo {shlex.quote(message)} >&2; exit 1; }}')
    for number, step in enumerate(steps, 1):
        out += ["", f"# --- {number}. {step.name}: {step.about}", f"step {shlex.quote(step.name)}"]
        for host, command in _commands(step):
            if command.why:
                out.append(f"# [{host}] {one_line_text(command.why)}")
            out += remote_lines(command, host, cluster.ssh.sudo)
        for host, reason in step.plan.reasons:
            out.append(f"# [{host}] nothing to do, because {one_line_text(reason)}")
    out += ["", "echo", f"echo 'runbook done: cluster {cluster.name}'"]
    return "\n".join(out) + "\n"


def write(cluster, session, steps, fmt):
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    planned = plan_all(cluster, session, steps)
    return (markdown if fmt == "markdown" else script)(cluster, session, planned)
