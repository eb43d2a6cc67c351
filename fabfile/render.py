"""Files rendered or shipped to the nodes: the HAProxy config and the OCF agent."""

from pathlib import Path

import jinja2

from .commands import one_line

PACKAGE = Path(__file__).resolve().parent
# An installed halb carries the templates in its package (pyproject maps templates/ to
# fabfile/templates in the wheel); a checkout has them at its top level.
TEMPLATES = PACKAGE / "templates" if (PACKAGE / "templates").is_dir() else PACKAGE.parent / "templates"
AGENT = PACKAGE / "ocf" / "haproxy"
WEBHOOK_AGENT = PACKAGE / "agents" / "alert_webhook.py"
QUORUM_HEURISTIC_SCRIPT = PACKAGE / "agents" / "quorum_heuristic.py"


def environment(directory=TEMPLATES):
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(directory)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False,
                              # Every value fills one line: none may add a line of its own.
                              finalize=lambda value: one_line(value) if isinstance(value, str)
                              else value)


def render_haproxy_config(cluster, template="haproxy.cfg.j2", directory=TEMPLATES):
    """Render with StrictUndefined: a variable the template names but the config lacks fails."""
    return environment(directory).get_template(template).render(
        cluster=cluster, vip=cluster.vip, haproxy=cluster.haproxy)


def render_haproxy_node_config(cluster, node, template="haproxy-node.cfg.j2",
                               directory=TEMPLATES):
    """One node's own part of the HAProxy config: its metrics frontend on its address."""
    return environment(directory).get_template(template).render(
        node=node, haproxy=cluster.haproxy)


def agent_text():
    return AGENT.read_text()


def webhook_agent_text():
    return WEBHOOK_AGENT.read_text()


def quorum_heuristic_text():
    return QUORUM_HEURISTIC_SCRIPT.read_text()
