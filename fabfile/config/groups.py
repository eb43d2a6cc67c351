"""Section groups: several service groups, each with its own VIP and HAProxy instance.

The single form (vip, service, haproxy and group at the top level) is one group. The first
group of a list keeps the single form's defaults (resources vip and haproxy, haproxy.cfg, the
admin socket), so a cluster grows from one group to several without renaming what runs; every
further group's defaults come from its name.
"""

from __future__ import annotations

from .model import ServiceGroup
from .service import read_haproxy, read_service
from .validate import check_resource_id
from .vip import read_vip

SINGLE_FORM = ("vip", "service", "haproxy", "group")
GROUP_FIELDS = ("name", "vip", "service", "haproxy")
MAX_GROUPS = 8


def read_single_group(r, data, nodes, arbiter):
    """The top-level vip, service, haproxy and group: one group."""
    vip = r.section(read_vip, data, nodes, arbiter) if nodes else None
    name = r.section(lambda r: r.get(data, "group", "", str, default="halb",
                                     check=check_resource_id))
    service = r.section(read_service, data)
    haproxy = None
    if service and service.is_haproxy:
        haproxy = r.section(read_haproxy, data, vip, nodes or ())
    elif service and data.get("haproxy") is not None:
        r.note("haproxy", f"is only used when service.agent is 'haproxy' (it is {service.agent!r})")
    if None in (vip, name, service) or (service.is_haproxy and haproxy is None):
        return ()
    return (ServiceGroup(name, vip, service, haproxy),)


def read_groups(r, data, nodes, arbiter):
    """groups: a list of 1 to MAX_GROUPS groups, instead of the single form."""
    if given := [k for k in SINGLE_FORM if k in data]:
        r.fail(given[0], "goes inside each item of groups when the config has groups (a "
               "config uses either groups or the single vip/service/haproxy/group form)")
    items = r.get(data, "groups", "", list)
    if not 1 <= len(items) <= MAX_GROUPS:
        r.fail("groups", f"has {len(items)} groups: 1 to {MAX_GROUPS} are supported")
    groups = []
    for i, item in enumerate(items):
        g = r.scoped(f"groups[{i}]")
        if g.section(lambda g, item=item: g.mapping(item, "", GROUP_FIELDS)) is None:
            continue
        name = g.section(lambda g, item=item: g.get(item, "name", "", str,
                                                    check=check_resource_id))
        if name is None:
            continue
        first = i == 0
        vip = g.section(read_vip, item, nodes, arbiter, "vip" if first else f"{name}-vip") \
            if nodes else None
        service = g.section(read_service, item, "haproxy" if first else f"{name}-haproxy")
        if service and not service.is_haproxy:
            g.note("service.agent", f"is {service.agent!r}: each group of a list runs halb's "
                   "HAProxy (another service runs in the single form)")
            continue
        haproxy = g.section(read_haproxy, item, vip, nodes or (),
                            "/etc/haproxy/haproxy.cfg" if first else f"/etc/haproxy/{name}.cfg",
                            "/run/haproxy/admin.sock" if first else f"/run/haproxy/{name}.sock")
        if vip and service and haproxy:
            groups.append((i, ServiceGroup(name, vip, service, haproxy)))
    _check_apart(r, groups)
    return tuple(group for _, group in groups)


def _check_apart(r, groups):
    """No two groups share a name, a VIP, a config file, a stats socket or a health port."""
    seen = {}
    for i, group in groups:
        hp = group.haproxy
        for field, value in (("name", group.name), ("vip.ip", group.vip.ip),
                             ("haproxy.config_path", hp.config_path),
                             ("haproxy.stats_socket", hp.stats_socket),
                             ("haproxy.health_port", hp.health_port)):
            if value is None:
                continue
            other = seen.setdefault((field, value), i)
            if other != i:
                r.note(f"groups[{i}].{field}", f"{value} is also groups[{other}]'s: each "
                       "group needs its own")
