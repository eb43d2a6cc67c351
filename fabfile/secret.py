"""A secret value that prints as its name, never as its value."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    name: str
    value: str = field(repr=False)

    def __str__(self):
        return f"<secret {self.name}>"
