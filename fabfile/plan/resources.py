"""Shared by the vip and haproxy steps: one primitive in the group, created or brought in line."""

from ..config import duration_ms
from ..errors import UserError
from . import option_changes


def ensure_grouped_resource(plan, cluster, dialect, cib, resource, agent, options, monitor, phase):
    primary = cluster.primary.name
    primitives = cib.primitives if cib else {}
    current = primitives.get(resource)
    if current is None:
        plan.add(primary, dialect.create_resource(
            resource, agent, options, monitor, cluster.group,
            f"create {resource} ({agent}) in group {cluster.group}"), phase=phase)
    else:
        if current.agent != agent:
            raise UserError(f"step '{plan.step}': resource {resource} exists as {current.agent}, "
                            f"the config wants {agent}; remove it first "
                            f"('pcs resource delete {resource}')")
        changes = option_changes(options, current.attributes)
        # The resource is halb's (its id is the config's): a parameter the config no longer
        # names goes with the next run. pcs removes an instance attribute given an empty value.
        wanted = {name for name, _ in options}
        changes += [(name, "") for name in sorted(current.attributes) if name not in wanted]
        if changes:
            plan.add(primary, dialect.update_resource(resource, changes,
                                                      f"bring {resource} in line with the config"),
                     phase=phase)
        if not _same_interval(current.monitor_interval, monitor):
            plan.add(primary, dialect.update_monitor(resource, monitor,
                                                     f"monitor {resource} every {monitor}"),
                     phase=phase)
        if not changes and _same_interval(current.monitor_interval, monitor):
            plan.unchanged(primary, f"{resource} is configured as {agent}")
    if current is None:
        return
    if current.group != cluster.group:
        plan.add(primary, dialect.add_to_group(cluster.group, resource), phase=phase)
    else:
        plan.unchanged(primary, f"{resource} is in group {cluster.group}")


def _same_interval(a, b):
    return duration_ms(a, bare="s") == duration_ms(b, bare="s")
