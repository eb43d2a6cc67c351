"""CIB backups: one before the first change to the CIB of every run, and `inv restore-config`.

A backup is the CIB as `cibadmin --query` printed it, in the run's log directory, private.
Restoring pushes its configuration section back in one replace (Pacemaker bumps the epoch
itself), after backing up the CIB it replaces; a dry run lists what would change, by id.
"""

from __future__ import annotations

import errno
import os
import stat
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

from . import facts as factlib
from .errors import UserError

MAX_BACKUP_BYTES = 64 << 20
# Steps whose commands change the CIB (quorum and install do not; setup does once it exists).
CIB_STEPS = {"setup", "fence", "vip", "haproxy", "alerts", "enable-stonith", "haproxy-config", "teardown",
             "restore-config"}


def save(session, step, facts_by_node=None):
    """Write the primary's CIB next to the session's log; returns the path, or None when this
    cluster does not exist yet (nothing to go back to). `facts_by_node`: the run's facts, when
    it has them."""
    cluster = session.cluster
    primary = cluster.primary
    facts = facts_by_node.get(primary.name) if facts_by_node else None
    ours = facts and facts.corosync and facts.corosync.cluster_name == cluster.name
    if facts is not None and (facts.cib is None or not ours):  # none yet, or a package's default
        return None
    # The run's facts already tell the dialect; only restore-config, which has none, asks.
    dialect = (factlib.cluster_dialect(cluster, facts_by_node) if facts_by_node
               else session.dialect(primary))
    # Withheld from the log: a CIB written by other tools may hold credentials in plain text
    # (`status` names them). The backup keeps the CIB as it is, root-only: masking inside it
    # would corrupt it.
    text = session.ask(primary, dialect.query_cib(), step, sensitive=True).stdout
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path = Path(session.log.path).parent / f"cib-{cluster.name}-{stamp}-before-{step}.xml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def read(path, cluster):
    """The backup's <configuration> element, after checking that it is a CIB of this cluster."""
    where = f"backup {path}"
    try:
        # Opened without blocking and checked before reading: a FIFO would hang the read,
        # /dev/zero would never end.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise UserError(f"{where}: not a regular file")
            if info.st_size > MAX_BACKUP_BYTES:
                raise UserError(f"{where}: larger than {MAX_BACKUP_BYTES >> 20} MiB: not a CIB "
                                "backup of halb's")
            text = handle.read(MAX_BACKUP_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or ("not UTF-8 text" if isinstance(
            exc, UnicodeDecodeError) else exc)
        if getattr(exc, "errno", None) == errno.ELOOP:
            reason = "it is a symbolic link"
        raise UserError(f"{where}: cannot read it: {reason}") from None
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise UserError(f"{where}: not XML ({exc})") from None
    configuration = root.find("configuration")
    if root.tag != "cib" or configuration is None:
        raise UserError(f"{where}: not a CIB (no <cib><configuration>)")
    name = next((nv.get("value") for nv in configuration.iter("nvpair")
                 if nv.get("name") == "cluster-name"), None)
    if name is not None and name != cluster.name:
        raise UserError(f"{where}: it is a CIB of cluster {name!r}, not {cluster.name!r}")
    return configuration


def _items(configuration):
    """Every element with an id: 'kind id' -> its other attributes."""
    return {f"{e.tag} {e.get('id')}": {k: v for k, v in e.attrib.items() if k != "id"}
            for e in configuration.iter() if "id" in e.attrib}


def _shown(attributes):
    return ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()))


def differences(current, backup):
    """What replacing `current` by `backup` (both <configuration> elements) changes."""
    now, then = _items(current), _items(backup)
    lines = [f"remove {key}" for key in now if key not in then]
    lines += [f"add {key} ({_shown(then[key])})" for key in then if key not in now]
    for key in (k for k in now if k in then and now[k] != then[k]):
        changed = sorted(set(now[key]) | set(then[key]))
        lines.append(f"change {key}: " + ", ".join(
            f"{name} {now[key].get(name, '(unset)')} -> {then[key].get(name, '(unset)')}"
            for name in changed if now[key].get(name) != then[key].get(name)))
    return lines


def restore(session, path, dry_run, say=print):
    cluster = session.cluster
    configuration = read(path, cluster)
    session.resolve_nodes()
    if not dry_run:
        session.hold_cluster("restore-config")
    primary = cluster.primary
    dialect = session.dialect(primary)
    current = session.ask(primary, dialect.query_cib(), "restore-config").stdout
    try:
        current_configuration = ET.fromstring(current).find("configuration")
    except ET.ParseError:
        current_configuration = None
    if current_configuration is None:
        raise UserError(f"restore-config: {primary.name} has no running cluster to restore into "
                        "(run setup-cluster first)")
    changes = differences(current_configuration, configuration)
    if not changes:
        say(f"restore-config: the CIB's configuration already equals {path}; nothing to do")
        return changes
    say(f"restore-config: replacing the CIB configuration of {cluster.name} with {path} would:")
    for line in changes:
        say(f"   {line}")
    if dry_run:
        say("dry run: nothing changed")
        return changes
    saved = save(session, "restore-config")
    say(f"the CIB as it was is saved in {saved}")
    command = dialect.replace_cib_configuration(
        ET.tostring(configuration, encoding="unicode"),
        f"replace the configuration with {Path(path).name}")
    session.ask(primary, command, "restore-config")
    say(f"restore-config: done ({len(changes)} change(s)); check with inv status")
    return changes
