"""inv haproxy-config under steady HTTP load: zero lost requests; a bad config changes nothing."""

import urllib.request

import pytest

from fabfile.facts import haproxy_node_config
from fabfile.lab import settings as s
from fabfile.plan.haproxy import config_checksum

from .conftest import (
    TIMINGS,
    Load,
    add_frontend,
    config_with,
    crm_mon,
    http_via_vip,
    inv,
    run_in,
    vip_holders,
)


def unresolvable_server(data):
    add_frontend(data)
    data["haproxy"]["backends"][0]["servers"][0]["address"] = "no-such-host.invalid"




def config_digests():
    return {name: run_in(name, "sha256sum", "/etc/haproxy/haproxy.cfg").stdout.split()[0]
            for name in ("node1", "node2")}


def alt_answers():
    try:
        with urllib.request.urlopen(f"http://{s.vip()}:8081/", timeout=3) as reply:
            return reply.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def restore_original(converged):
    yield
    rc, out, _ = inv("haproxy-config", "--config", str(s.LAB_CONFIG))
    assert rc == 0, out


def test_rollout_under_load_loses_no_request(converged, restore_original, tmp_path):
    active = vip_holders()[0]
    pid_before = run_in(active, "cat", "/run/resource-agents/haproxy-haproxy.pid").stdout.strip()
    changed = config_with(tmp_path, add_frontend, "lab-alt.yaml")
    assert not alt_answers()
    with Load() as load:
        load.answers()
        rc, out, took = inv("haproxy-config", "--config", str(changed))
        load.answers()
    assert rc == 0, out
    TIMINGS["rollout under load"] = (f"{load.ok} requests answered, {len(load.failed)} lost; "
                                     f"inv haproxy-config took {took:.1f}s")
    assert load.failed == [], load.failed[:5]
    assert load.ok > 50
    # Standby first, active last: the order the plan printed.
    standby = "node2" if active == "node1" else "node1"
    assert out.index(f"[{standby}] write-file /etc/haproxy") < out.index(f"[{active}] write-file /etc/haproxy")
    # The new config is live on the same node, served by a new process: a reload, not a move.
    assert alt_answers()
    assert vip_holders() == [active]
    pid_after = run_in(active, "cat", "/run/resource-agents/haproxy-haproxy.pid").stdout.strip()
    assert pid_after != pid_before
    digests = config_digests()
    assert len(set(digests.values())) == 1, "both nodes hold the same file"
    # The resource's checksum is that of the shared file and each node's own part as they are
    # on the nodes: the reload that just happened is for these files.
    node_part = haproxy_node_config(s.lab_cluster().haproxy)
    wanted = config_checksum(run_in(active, "cat", "/etc/haproxy/haproxy.cfg").stdout,
                             {name: run_in(name, "cat", node_part).stdout for name in digests})
    cib = run_in(active, "cibadmin", "--query").stdout
    assert f'name="config_checksum" value="{wanted}"' in cib
    assert crm_mon(active)["failures"] == []


def test_a_refused_config_changes_nothing_and_haproxy_keeps_serving(converged, restore_original,
                                                                    tmp_path):
    before = config_digests()
    bad = config_with(tmp_path, unresolvable_server, "lab-bad.yaml")
    rc, out, _ = inv("haproxy-config", "--config", str(bad))
    assert rc != 0
    # This machine checks the syntax only; the first node's haproxy -c refuses the name, with
    # haproxy's own reason, before its file is replaced.
    assert "haproxy -c" in out and "no-such-host" in out
    assert "Traceback" not in out
    assert config_digests() == before
    assert http_via_vip()[0] == 200
