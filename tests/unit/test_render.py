"""templates/haproxy.cfg.j2: rendered configs pass haproxy -c; a broken variable fails loudly."""

import shutil
import subprocess

import jinja2
import pytest

from fabfile import config
from fabfile.errors import UserError
from fabfile.plan.haproxy import check_rendered_config, without_host_names
from fabfile.render import TEMPLATES, render_haproxy_config

from .conftest import SECRETS, load_example

HAPROXY_CONFIGS = ["example-centos7.yaml", "example-el9.yaml", "example-debian12.yaml", "lab.yaml"]
needs_haproxy = pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy is not installed "
                                   "(make host-deps installs it)")


def haproxy_check(text, tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    return subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)


@needs_haproxy
@pytest.mark.parametrize("name", HAPROXY_CONFIGS)
def test_rendered_config_passes_haproxy_check(name, tmp_path):
    cluster = load_example(name)
    result = haproxy_check(render_haproxy_config(cluster), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", HAPROXY_CONFIGS)
def test_frontends_bind_the_vip_and_backends_are_checked(name):
    cluster = load_example(name)
    text = render_haproxy_config(cluster)
    for frontend in cluster.haproxy.frontends:
        assert f"bind {cluster.vip.ip}:{frontend.port}" in text
    for backend in cluster.haproxy.backends:
        for server in backend.servers:
            assert f"server {server.name} {server.address}:{server.port} check" in text
    assert f"stats socket {cluster.haproxy.stats_socket}" in text
    assert "expose-fd listeners" in text  # what a seamless reload hands sockets over with


def test_broken_template_variable_fails_loudly(tmp_path):
    broken = (TEMPLATES / "haproxy.cfg.j2").read_text().replace("{{ vip.ip }}", "{{ vip.addr }}")
    (tmp_path / "haproxy.cfg.j2").write_text(broken)
    with pytest.raises(jinja2.UndefinedError, match="addr"):
        render_haproxy_config(load_example("lab.yaml"), directory=tmp_path)


@needs_haproxy
def test_a_config_haproxy_refuses_is_stopped_before_any_node_with_haproxys_reason(
        write_config, tmp_path, monkeypatch):
    cluster = config.load(write_config(), env=SECRETS)
    broken = render_haproxy_config(cluster).replace("    mode http", "    mode nonsense-mode", 1)
    monkeypatch.setattr("fabfile.plan.haproxy.render_haproxy_config", lambda _: broken)
    with pytest.raises(UserError, match="refused by haproxy -c; no node was changed: .*nonsense-mode"):
        check_rendered_config(cluster, print)


@needs_haproxy
def test_the_controller_never_resolves_backend_host_names(write_config, tmp_path):
    """A dry run, even offline, must not send DNS queries for the backends; the nodes resolve."""
    def named(data):
        data["haproxy"]["backends"][0]["servers"][0]["address"] = "no-such-host.invalid"
    cluster = config.load(write_config(named), env=SECRETS)
    said = []
    check_rendered_config(cluster, said.append)  # haproxy -c would refuse the name if it tried to resolve it
    assert any("resolved only by haproxy -c on each node" in line for line in said)
    offline, moved = without_host_names(cluster)
    assert moved == 1 and "no-such-host" not in render_haproxy_config(offline)
    assert "no-such-host.invalid" in render_haproxy_config(cluster)
