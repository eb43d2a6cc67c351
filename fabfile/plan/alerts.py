"""Runbook step 8/10: Pacemaker alerts, so that a fence, a node lost or a resource failed is heard.

Each alert is an agent Pacemaker runs on every node at the events it selects (fencing, nodes,
resources, attributes), once per recipient: Pacemaker's sample file agent (copied from the
package) appends to a log file; halb's webhook agent POSTs the event as JSON with a bearer
token read from a file (root:haclient, 0640) that is never in the CIB, or as an alert to
Alertmanager's API (kind alertmanager: a fence is over before a scrape sees it). The agents and token
files go to every node first, then the alerts into the CIB, each as one whole element. Alerts
halb made (ids halb-alert-*) that the config no longer names are deleted, with their token
files; any other alert is left alone.
"""

import xml.etree.ElementTree as ET

from ..commands import copy_file, remove_created_files, write_group_file
from ..config.model import ALERT_EVENTS, ALERT_ID_PREFIX
from ..facts import (
    ALERT_FILE_AGENT,
    ALERT_FILE_SAMPLE,
    ALERT_TOKEN_GLOB,
    ALERT_WEBHOOK_AGENT,
    alert_agent,
    alert_agents,
    alert_token_file,
    alert_tokens,
)
from ..parsers import canonical_xml
from ..render import webhook_agent_text
from ..secret import secret_content_digest
from . import Plan, require_cib

# Pacemaker's CRM_alert_timestamp in a form receivers parse (%N: microseconds here).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%06N%z"
# The token is for the agent, which runs as hacluster: group haclient may read it, no one else.
TOKEN_GROUP = "haclient"


def alert_element(cluster, alert):
    """The alert as the CIB holds it, in canonical XML."""
    root = ET.Element("alert", id=alert.alert_id, path=alert_agent(alert))
    select = ET.SubElement(root, "select")
    for event in alert.events:
        ET.SubElement(select, ALERT_EVENTS[event])
    meta = ET.SubElement(root, "meta_attributes", id=f"{alert.alert_id}-meta")
    for name, value in (("timeout", alert.timeout), ("timestamp-format", TIMESTAMP_FORMAT)):
        ET.SubElement(meta, "nvpair", id=f"{alert.alert_id}-meta-{name}", name=name, value=value)
    if alert.kind != "file":
        options = ET.SubElement(root, "instance_attributes", id=f"{alert.alert_id}-options")
        extra = (("token_file", alert_token_file(alert.name)),) if alert.kind == "webhook" \
            else (("format", "alertmanager"),)
        for name, value in (("cluster_name", cluster.name), *extra):
            ET.SubElement(options, "nvpair", id=f"{alert.alert_id}-options-{name}", name=name,
                          value=value)
    ET.SubElement(root, "recipient", id=f"{alert.alert_id}-recipient", value=alert.recipient)
    return canonical_xml(root)


def plan(cluster, dialect, facts):
    plan = Plan("alerts")
    cib = require_cib(cluster, facts, plan.step)
    stale = {node.name: _node_files(plan, cluster, node.name, facts[node.name])
             for node in cluster.nodes}
    primary = cluster.primary.name
    current = (cib.alerts if cib else None) or {}
    section_exists = cib is not None and cib.alerts is not None
    for alert in cluster.alerts:
        wanted = alert_element(cluster, alert)
        what = f"alert {alert.alert_id} ({alert.kind} to {alert.recipient}: " \
               f"{', '.join(alert.events)})"
        if current.get(alert.alert_id) == wanted:
            plan.unchanged(primary, f"{what} is as configured")
        elif alert.alert_id in current:
            plan.add(primary, dialect.replace_alert(
                alert.alert_id, wanted, f"{what}: differs from the config"), phase=1)
        else:
            plan.add(primary, dialect.create_alert(alert.alert_id, wanted, section_exists,
                                                   f"create {what}"), phase=1)
            section_exists = True
    named = {a.alert_id for a in cluster.alerts}
    for alert_id in sorted(current):
        if alert_id.startswith(ALERT_ID_PREFIX) and alert_id not in named:
            plan.add(primary, dialect.delete_alert(
                alert_id, "halb made it and the config no longer names it"), phase=1)
        elif not alert_id.startswith(ALERT_ID_PREFIX):
            plan.unchanged(primary, f"alert {alert_id} is not halb's: left alone")
    if not cluster.alerts and not any(i.startswith(ALERT_ID_PREFIX) for i in current):
        plan.unchanged(primary, "no alerts are configured")
    last = len(plan.phases)  # once no alert runs them
    for name, paths in stale.items():
        if paths:
            plan.add(name, remove_created_files(
                paths, "alert agents and token files that no configured alert uses"), phase=last)
    return plan


def _node_files(plan, cluster, name, host):
    """The agents the alerts use and the webhooks' token files on one node (phase 0, before the
    alerts that run them); returns what halb created there that no alert uses any more."""
    agents = alert_agents(cluster)
    if ALERT_WEBHOOK_AGENT in agents:
        plan.ship(name, host, ALERT_WEBHOOK_AGENT, webhook_agent_text(),
                  "install halb's webhook alert agent", "fabfile/agents/alert_webhook.py", 0)
    if ALERT_FILE_AGENT in agents:
        sample = host.files.get(ALERT_FILE_SAMPLE)
        if sample and host.files.get(ALERT_FILE_AGENT) == sample:
            plan.unchanged(name, f"{ALERT_FILE_AGENT} is Pacemaker's sample file agent")
        else:
            plan.add(name, copy_file(
                ALERT_FILE_SAMPLE, ALERT_FILE_AGENT, "0755",
                "install Pacemaker's sample file alert agent from its package"), phase=0)
    tokens = alert_tokens(cluster)
    for alert, path in tokens:
        if host.secret_files.get(path) == secret_content_digest(alert.token):
            plan.unchanged(name, f"{path} holds the current token of alert {alert.alert_id}")
        else:
            plan.add(name, write_group_file(
                path, alert.token, TOKEN_GROUP,
                why=f"the token of alert {alert.alert_id}, readable by {TOKEN_GROUP} only "
                    "(the agent runs as hacluster)"), phase=0)
    wanted = set(agents) | {path for _, path in tokens}
    return sorted(p for kind, p in host.manifest if kind == "created" and p not in wanted
                  and (p in (ALERT_WEBHOOK_AGENT, ALERT_FILE_AGENT) or ALERT_TOKEN_GLOB.fullmatch(p)))
