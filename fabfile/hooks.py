"""What a test bed may add to halb without halb knowing it.

A test bed (the embedded lab, a VM lab) registers here when it is imported: guards that refuse to
send a packet where it would leave the machine, and fault injectors that `inv drill` uses on the
machines it runs. halb itself registers nothing; on a real cluster both lists are empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

# guard(addresses) raises UserError when something must not be sent to one of them.
_reach_guards: list[Callable[[Iterable[str]], None]] = []
# Classes with serves(cluster) -> bool and crash/freeze/thaw/power_on(name): see drill.Drill.
_fault_injectors: list[type] = []


def add_reach_guard(guard):
    if guard not in _reach_guards:
        _reach_guards.append(guard)


def check_reach(addresses):
    """Every registered guard looks at the addresses before the first packet is sent."""
    addresses = list(addresses)
    for guard in _reach_guards:
        guard(addresses)


def add_fault_injector(injector):
    if injector not in _fault_injectors:
        _fault_injectors.append(injector)


def fault_injector_for(cluster):
    """The registered test bed that runs this cluster's machines, or None (a real cluster)."""
    return next((injector() for injector in _fault_injectors if injector.serves(cluster)), None)
