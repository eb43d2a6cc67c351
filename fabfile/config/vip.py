"""Section vip: the floating address, on a local subnet or through a cloud's API."""

from __future__ import annotations

import ipaddress
import re

from .model import AZURE_PROBE_PORT, ROUTED_VIPS, CloudVip, Vip
from .reader import shown
from .validate import (
    check_address,
    check_interface,
    check_monitor_interval,
    check_name,
    check_port,
    check_resource_id,
    one_of,
)


def vip_address_problem(vip, prefix):
    """Why a floating address cannot work in its subnet, or None."""
    if vip.is_unspecified or vip.is_multicast or vip.is_loopback:
        kind = "unspecified" if vip.is_unspecified else "multicast" if vip.is_multicast else "loopback"
        return f"{vip} is a {kind} address: other hosts could not reach the VIP"
    if vip.is_link_local:
        return f"{vip} is link-local: not routed beyond the segment, and not for a service address"
    if vip.version == 4 and vip.is_reserved:
        return f"{vip} is in the reserved range 240.0.0.0/4"
    subnet = ipaddress.ip_network(f"{vip}/{prefix}", strict=False)
    if subnet.num_addresses > 2:  # /31 and /32 (/127, /128) have no network or broadcast address
        if vip == subnet.network_address:
            return (f"{vip} is the network address of {subnet}"
                    + (" (the subnet-router anycast address)" if vip.version == 6 else ""))
        if vip.version == 4 and vip == subnet.broadcast_address:
            return f"{vip} is the broadcast address of {subnet}"
    return None


AWS_ID = r"[0-9a-f]{8}([0-9a-f]{9})?"


def is_ipv4(value):
    try:
        return ipaddress.ip_address(value).version == 4
    except ValueError:
        return False
# vip.cloud.provider -> {field: (required, check)}; what each field becomes is the vip step's.
VIP_PROVIDERS = {
    # aws-vpc-move-ip: the VPC route tables send the address (outside the VPC's CIDR) to the
    # node that holds it.
    "aws-route": {
        "routing_table": (True, lambda v: None if re.fullmatch(
            rf"rtb-{AWS_ID}(,rtb-{AWS_ID})*", v) else
            f"{shown(v)} is not a route table id (rtb-..., several comma-separated)"),
        "region": (False, lambda v: None if re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", v) else
                   f"{shown(v)} is not an AWS region (e.g. eu-west-1)"),
        "profile": (False, check_name),
    },
    # awsvip moves a secondary private address between the instances' interfaces, awseip the
    # Elastic IP that points at it.
    "aws-eip": {
        "elastic_ip": (True, lambda v: None if is_ipv4(v) else
                       f"{shown(v)} is not an IPv4 address in dotted decimal"),
        "allocation_id": (True, lambda v: None if re.fullmatch(rf"eipalloc-{AWS_ID}", v) else
                          f"{shown(v)} is not an allocation id (eipalloc-...)"),
        # awsvip and awseip take no region: it comes from the AWS CLI profile.
        "profile": (False, check_name),
    },
    # gcp-vpc-move-vip moves an alias IP range (the VIP/32) to the node's interface.
    "gcp-alias": {
        "alias_range_name": (False, check_name),
    },
    # azure-lb answers the Azure load balancer's health probe on the node that holds the VIP.
    "azure-lb": {
        "probe_port": (False, None),
    },
}
def read_cloud_vip(r, raw):
    data = r.get(raw, "cloud", "vip", dict, default=None)
    if data is None:
        return None
    provider = r.get(data, "provider", "vip.cloud", str,
                     check=one_of(tuple(VIP_PROVIDERS), "a cloud VIP provider"))
    fields = VIP_PROVIDERS[provider]
    r.mapping(data, "vip.cloud", ["provider", *fields])
    settings = []
    for key, (required, check) in fields.items():
        if key == "probe_port":
            value = r.get(data, key, "vip.cloud", int, default=AZURE_PROBE_PORT, check=check_port)
        else:
            value = r.get(data, key, "vip.cloud", str, default=... if required else None,
                          check=check)
        if value is not None:
            settings.append((key, str(value)))
    return CloudVip(provider, tuple(settings))


def read_vip(r, data, nodes, arbiter, default_id="vip"):
    raw = r.mapping(r.get(data, "vip", "", dict), "vip",
                    ["ip", "cidr_netmask", "nic", "resource_id", "monitor_interval", "cloud"])
    cloud = read_cloud_vip(r, raw)
    ip = r.get(raw, "ip", "vip", str)
    try:
        if "%" in ip:
            raise ValueError
        address = ipaddress.ip_address(ip)
    except ValueError:
        r.fail("vip.ip", f"{shown(ip)} is not an IP address (without scope id)")
    if problem := check_address(ip):
        r.fail("vip.ip", problem)
    ip = str(address)
    longest = 32 if address.version == 4 else 128
    prefix = r.get(raw, "cidr_netmask", "vip", int,
                   check=lambda v: None if 1 <= v <= longest else
                   f"{v} is not a prefix length for IPv{address.version} (1-{longest})")
    if problem := vip_address_problem(address, prefix):
        r.fail("vip.ip", problem)
    subnet = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    others = [(f"node {n.name}", n.address) for n in nodes]
    others += [(f"the SSH address of {n.name}", n.ssh_address) for n in nodes if n.ssh_address]
    others += [(f"the BMC of {n.name}", n.bmc.address) for n in nodes if n.bmc.address]
    others += [(f"the arbiter {arbiter.name}", arbiter.address)] if arbiter else []
    for what, other in others:
        try:
            if ipaddress.ip_address(other) == address:
                r.fail("vip.ip", f"{ip} is also the address of {what}")
        except ValueError:
            continue  # a host name
    for node in nodes:
        try:
            node_address = ipaddress.ip_address(node.address)
        except ValueError:
            continue  # a host name: its subnet is only known once resolved
        # A route table sends an overlay address from outside the VPC's CIDR, and a GCP alias is
        # routed to the instance as a /32: neither shares a subnet with the node.
        if node_address not in subnet and not (cloud and cloud.provider in ROUTED_VIPS):
            r.fail("vip.ip", f"{ip}/{prefix} is not in the subnet of node {node.name} "
                   f"({node.address}): the VIP could not be raised on its interface")
    return Vip(
        ip=ip, cidr_netmask=prefix,
        nic=r.get(raw, "nic", "vip", str, default=None, check=check_interface),
        resource_id=r.get(raw, "resource_id", "vip", str, default=default_id,
                          check=check_resource_id),
        monitor_interval=r.get(raw, "monitor_interval", "vip", str, default="10s",
                               check=check_monitor_interval),
        cloud=cloud,
    )
