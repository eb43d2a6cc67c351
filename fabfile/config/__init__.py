"""Cluster config: YAML plus secrets from the environment or .env, validated into frozen objects.

Every check happens here, before any host is touched. The package's rooms:
  model     the frozen objects (Cluster, Node, Vip, ...) and the vocabulary they share
  reader    walking the YAML tree; each problem names its dotted field
  validate  small field checks, composable: each returns why a value is wrong, or None
  secrets   the environment and .env, and when a secret is refused
  cluster, nodes, vip, fencing, service   one reader per config section
  load      one file, every section, every problem reported together
Every text that reaches a node is one line of printable characters without surrounding blanks,
so no value can add a line to a generated file, a pcs argument list or an agent's stdin.
"""

from ..errors import ConfigError
from ..secret import Secret
from .load import load
from .model import (
    AZURE_PROBE_PORT,
    FENCE_PROFILES,
    HAPROXY_AGENT,
    IPMI_PORT,
    OCF_PROVIDER,
    ROUTED_VIPS,
    SECOND_FENCE_PASSWORD,
    SPREAD_SCORE,
    URL_PATH_RE,
    Bmc,
    Cluster,
    Node,
    fence_password_source,
    fence_password_variable,
    fence_profile,
)
from .reader import shown
from .secrets import own_words, parse_env_file, read_secrets, secret_problem
from .validate import SECRET_OPTION_RE, STACK_PORTS, duration_ms, option_key, pacemaker_seconds

__all__ = [
    "AZURE_PROBE_PORT", "FENCE_PROFILES", "HAPROXY_AGENT", "IPMI_PORT", "OCF_PROVIDER",
    "ROUTED_VIPS", "SECOND_FENCE_PASSWORD", "SECRET_OPTION_RE", "SPREAD_SCORE", "STACK_PORTS", "URL_PATH_RE",
    "Bmc", "Cluster", "ConfigError", "Node", "Secret", "duration_ms", "fence_password_source",
    "fence_password_variable", "fence_profile", "load", "option_key", "own_words",
    "pacemaker_seconds", "parse_env_file", "read_secrets", "secret_problem", "shown",
]
