"""From bare nodes, setup-cluster converges to a fenced two-node HAProxy cluster."""

import json
import re

from fabfile.lab import settings as s

from .conftest import TIMINGS, crm_mon, http_via_vip, inv, run_in, secrets, vip_holders


def test_nodes_start_bare(bare_nodes):
    assert bare_nodes == {"node1": [], "node2": []}


def test_preflight_on_bare_nodes_asks_the_bmcs_from_here_and_finds_the_vip_free(bare_nodes):
    rc, out, took = inv("preflight", "--json", "--config", "configs/lab.yaml")
    assert rc == 0, out
    checks = {c["name"]: c for c in json.loads(out[out.index("{"):])["checks"]}
    assert "pcs not installed" in checks["ssh node1"]["detail"]
    # No fence agent on the peers yet: the BMCs are asked over IPMI from this machine.
    assert "from this machine (ipmitool" in checks["bmc of node1"]["detail"]
    assert "Chassis Power is on" in checks["bmc of node2"]["detail"]
    assert checks["vip"]["detail"].endswith("is free (no ARP answer)")
    assert "not listening yet" in checks["node1 -> node2:2224"]["detail"]
    assert "needs 500 MB" in checks["disk node1"]["detail"]
    TIMINGS["inv preflight on bare nodes"] = f"{took:.1f}s"


def test_both_nodes_online(converged):
    assert crm_mon("node1")["online"] == {"node1", "node2"}


def test_stonith_enabled_with_a_device_per_node_started_on_the_peer(converged):
    props = run_in("node1", "crm_attribute", "--type", "crm_config", "--name", "stonith-enabled",
                   "--query").stdout
    assert "value=true" in props
    resources = crm_mon("node1")["resources"]
    for node in ("node1", "node2"):
        peer = "node2" if node == "node1" else "node1"
        device = resources[f"{node}-fence"]
        assert device["agent"] == "stonith:fence_ipmilan"
        assert device["active"] and device["nodes"] == [peer]
        attrs = run_in("node1", "pcs", "stonith", "config", f"{node}-fence").stdout
        assert f"pcmk_host_list={node}" in attrs


def test_vip_and_haproxy_together_on_exactly_one_node(converged):
    holders = vip_holders()
    assert len(holders) == 1
    resources = crm_mon("node1")["resources"]
    assert resources["vip"]["nodes"] == holders
    assert resources["haproxy"]["nodes"] == holders
    assert resources["haproxy"]["agent"] == "ocf:halb:haproxy"


def test_http_through_the_vip_reaches_both_backends(converged):
    answers = {http_via_vip()[1] for _ in range(6)}
    assert answers == {"backend1", "backend2"}


def test_no_failed_actions(converged):
    assert crm_mon("node1")["failures"] == []


def test_secrets_stay_out_of_the_cib_output_and_log(converged):
    values = [v for k, v in secrets().items()
              if k in ("HACLUSTER_PASSWORD", "FENCE_PASSWORD")
              or k.startswith(("FENCE_PASSWORD_", "ALERT_TOKEN_"))]
    assert any(k.startswith("ALERT_TOKEN_") for k in secrets())  # the lab's webhook token
    cib = run_in("node1", "cibadmin", "--query").stdout
    log_path = re.search(r"log (\S+\.log)", converged).group(1)
    log_text = open(log_path).read()
    for value in values:
        assert value not in cib
        assert value not in converged
        assert value not in log_text
    assert "password_script" in cib and "/etc/halb/fence/" in cib


def test_second_run_changes_nothing(converged):
    rc, out, took = inv("setup-cluster", "--config", "configs/lab.yaml")
    TIMINGS["setup-cluster on a converged cluster"] = f"{took:.1f}s"
    assert rc == 0, out
    assert "0 change(s) made" in out
    rows = re.findall(r"^(\S+)\s+(node\d)\s+(changed|unchanged|failed)\s", out, re.M)
    assert len(rows) >= 7 and {r[2] for r in rows} == {"unchanged"}
    # Every step tells why it did nothing.
    for step in ("install", "auth", "setup", "fence", "vip", "haproxy", "enable-stonith"):
        section = out.split(f"== {step}\n", 1)[1].split("\n== ", 1)[0]
        assert "nothing to do, because" in section


def test_unknown_host_keys_are_refused_by_default(converged, tmp_path):
    def strict(data):
        data["ssh"]["known_hosts"] = str(tmp_path / "known_hosts")
        data["ssh"]["accept_unknown_host_keys"] = False
    (tmp_path / "known_hosts").write_text("")
    path = s.config_variant(strict, tmp_path / "strict.yaml")
    rc, out, _ = inv("install", "--config", str(path))
    assert rc == 1
    assert "host key unknown" in out and "ssh.accept_unknown_host_keys" in out
    assert "Traceback" not in out


def test_dry_run_on_the_converged_lab_plans_nothing(converged):
    rc, out, _ = inv("setup-cluster", "--dry-run")
    assert rc == 0, out
    assert "0 change(s) planned" in out
