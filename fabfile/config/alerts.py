"""Section alerts: Pacemaker alerts, each an agent Pacemaker runs at the events it selects."""

from __future__ import annotations

import ipaddress
import urllib.parse

from .model import ALERT_EVENTS, ALERT_KINDS, URL_PATH_RE, Alert, alert_token_variable
from .reader import shown
from .validate import check_address, check_duration, check_name, check_path, check_port, one_of

# Pacemaker's sample file agent runs as hacluster, which may write in its own log folder only.
ALERT_LOG_DIR = "/var/log/pacemaker/"
DEFAULT_EVENTS = ("fencing", "nodes", "resources")
check_alert_timeout = check_duration(1, 300, "the agent needs time to run")


def check_alert_log(value):
    problem = check_path(value)
    if problem:
        return problem
    if not value.startswith(ALERT_LOG_DIR) or "/" in value[len(ALERT_LOG_DIR):]:
        return (f"{shown(value)} is not a file in {ALERT_LOG_DIR}: the agent runs as hacluster, "
                "which may write there and nowhere else halb would point it")
    return None


def check_webhook_url(value):
    """An http(s) URL with a host, an optional port and a plain path: nothing a shell, curl or
    a log reader could take for more (no credentials, which would sit in the CIB in plain
    text; the token comes from the environment)."""
    try:
        url = urllib.parse.urlsplit(value)
        port = url.port
    except ValueError as exc:
        return f"{shown(value)} is not a valid URL: {exc}"
    if url.scheme not in ("http", "https"):
        return f"{shown(value)} is not an http:// or https:// URL"
    if url.username is not None or url.password is not None or "@" in url.netloc:
        return (f"{shown(value)} holds credentials: they would sit in the CIB in plain text; "
                "the token comes from the environment instead")
    if not url.hostname:
        return f"{shown(value)} names no host"
    host = url.hostname
    problem = check_address(host)
    if problem:
        return f"{shown(value)}: {problem}"
    if port is not None and check_port(port):
        return f"{shown(value)}: {check_port(port)}"
    if url.fragment or (url.path and not URL_PATH_RE.fullmatch(url.path + (
            f"?{url.query}" if url.query else ""))):
        return (f"{shown(value)}: the path may hold letters, digits and ._~/?=&%- only, and no "
                "#fragment")
    try:
        if ipaddress.ip_address(host).is_loopback:
            return (f"{shown(value)} is the node's own loopback: each node would post to itself; "
                    "name the receiver's address")
    except ValueError:
        pass
    return None


def read_alerts(r, data, secret):
    items = r.get(data, "alerts", "", list, default=[])
    alerts, seen = [], {}
    for i, raw in enumerate(items):
        where = f"alerts[{i}]"
        r.mapping(raw, where, ["name", "kind", "path", "url", "events", "timeout"])
        name = r.get(raw, "name", where, str, check=check_name, limit=40)
        if name.lower() in seen:
            r.fail(f"{where}.name", f"{name!r} is also alerts[{seen[name.lower()]}]'s name")
        seen[name.lower()] = i
        kind = r.get(raw, "kind", where, str, check=one_of(ALERT_KINDS, "an alert kind"))
        wants, other = ("path", "url") if kind == "file" else ("url", "path")
        if other in raw:
            r.fail(f"{where}.{other}", f"a {kind} alert takes {wants}, not {other}")
        recipient = r.get(raw, wants, where, str, check=check_alert_log if kind == "file"
                          else check_webhook_url)
        events = r.texts(raw, "events", where, one_of(tuple(ALERT_EVENTS), "an event kind"))
        if "events" in raw and not events:
            r.fail(f"{where}.events", "is empty: an alert that selects nothing never runs; "
                   "leave the alert out instead")
        if len(set(events)) != len(events):
            r.fail(f"{where}.events", "names an event kind twice")
        timeout = r.get(raw, "timeout", where, str, default="10s", check=check_alert_timeout)
        if kind == "alertmanager" and not recipient.rstrip("/").endswith("/api/v2/alerts"):
            r.fail(f"{where}.url", f"{recipient!r} is not Alertmanager's API: it ends in "
                   "/api/v2/alerts")
        token = secret(alert_token_variable(name)) if kind == "webhook" else None
        alerts.append(Alert(name, kind, recipient, tuple(events) or DEFAULT_EVENTS,
                            str(timeout), token))
    return tuple(alerts)
