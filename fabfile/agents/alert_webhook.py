#!/usr/bin/python3
"""halb's Pacemaker alert agent: each event, POSTed as one JSON object to the recipient URL.

Pacemaker runs it as hacluster, once per recipient, with the event in CRM_alert_* variables and
the alert's options as variables of their own names: token_file (root:haclient, mode 0640),
whose first line is sent as a bearer token, and cluster_name. The token never appears in the
CIB, on a command line or in a log. Python's standard library only: every node has python3
(pcs needs it), and no shell quoting stands between an event's text and the request.
"""

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
    body = json.dumps(event(env), sort_keys=True).encode()
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
