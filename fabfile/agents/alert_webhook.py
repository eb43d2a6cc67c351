#!/usr/bin/python3
"""halb's Pacemaker alert agent: each event, POSTed as JSON to the recipient URL.

Pacemaker runs it as hacluster, once per recipient, with the event in CRM_alert_* variables and
the alert's options as variables of their own names: cluster_name; token_file (root:haclient,
mode 0640), whose first line is sent as a bearer token; and format: "event" (the default, one
JSON object with the event's fields) or "alertmanager" (a list of one alert, as Alertmanager's
API v2 takes it at /api/v2/alerts: a fence or a node lost is over in seconds, too fast for a
scrape to see). The token never appears in the CIB, on a command line or in a log. Python's
standard library only: every node has python3 (pcs needs it), and no shell quoting stands
between an event's text and the request.
"""

import datetime
import json
import os
import socket
import sys
import urllib.error
import urllib.request

# The CRM_alert_ variables an event may carry (Pacemaker Explained, "Alert agents").
FIELDS = ("kind", "version", "recipient", "node_sequence", "timestamp", "timestamp_epoch",
          "timestamp_usec", "node", "desc", "nodeid", "task", "rc", "rsc", "interval",
          "target_rc", "status", "exec_time", "attribute_name", "attribute_value")
# Below the alert's timeout (halb sets 10 s by default), so that a slow receiver ends in a
# logged failure rather than in Pacemaker killing the agent.
POST_TIMEOUT_S = 5


def event(env):
    found = {name: env[f"CRM_alert_{name}"] for name in FIELDS if f"CRM_alert_{name}" in env}
    found["cluster"] = env.get("cluster_name", "")
    found["sent_by"] = socket.gethostname()
    return found


# Alertmanager resolves an alert it is not sent again after this long.
ALERT_LASTS_S = 15 * 60
ALERT_NAMES = {"fencing": "PacemakerFencing", "node": "PacemakerNodeChange",
               "resource": "PacemakerResourceEvent", "attribute": "PacemakerAttributeChange"}


def as_alertmanager_alert(found):
    """The event as one Alertmanager alert: labels say what and where, annotations what
    Pacemaker said. A failed operation or fence is critical, a fence that worked a warning."""
    kind = found.get("kind", "")
    epoch = float(found.get("timestamp_epoch") or 0) + int(found.get("timestamp_usec") or 0) / 1e6
    start = datetime.datetime.fromtimestamp(epoch, datetime.UTC) if epoch else \
        datetime.datetime.now(datetime.UTC)
    failed = found.get("rc", "0") not in ("0", "") and kind in ("fencing", "resource")
    lost = kind == "fencing" or kind == "node" and found.get("desc") == "lost"
    labels = {"alertname": ALERT_NAMES.get(kind, "PacemakerEvent"), "cluster": found["cluster"],
              "node": found.get("node", ""),
              "severity": "critical" if failed else "warning" if lost else "info"}
    if found.get("rsc"):
        labels["resource"] = found["rsc"]
    if found.get("task"):
        labels["task"] = found["task"]
    return [{"labels": labels,
             "annotations": {"summary": found.get("desc", ""), "sent_by": found["sent_by"]},
             "startsAt": start.isoformat(),
             "endsAt": (start + datetime.timedelta(seconds=ALERT_LASTS_S)).isoformat()}]


def token(env):
    path = env.get("token_file", "")
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.readline().strip()


def main(env=os.environ):
    url = env.get("CRM_alert_recipient", "")
    if not url:  # an alert without a recipient: nothing to send to
        return 0
    try:
        bearer = token(env)
    except OSError as exc:
        print(f"alert_webhook: cannot read the token file: {exc.strerror}", file=sys.stderr)
        return 1
    found = event(env)
    payload = as_alertmanager_alert(found) if env.get("format") == "alertmanager" else found
    body = json.dumps(payload, sort_keys=True).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_S) as reply:
            reply.read()
    except urllib.error.HTTPError as exc:
        print(f"alert_webhook: {url} answered {exc.code}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"alert_webhook: {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
