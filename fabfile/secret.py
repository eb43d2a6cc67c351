"""A secret value that prints as its name, never as its value."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    name: str
    value: str = field(repr=False)

    def __str__(self):
        return f"<secret {self.name}>"


def secret_content_digest(secret):
    """The sha256 of the file halb writes for a secret (its value and a newline), as the
    nodes' sha256sum reports it: whether a node's copy is current, without reading it."""
    return hashlib.sha256((secret.value + "\n").encode()).hexdigest()
