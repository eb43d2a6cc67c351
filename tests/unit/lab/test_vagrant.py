"""`inv lab.vagrant-config`: `vagrant ssh-config` output -> a config setup-cluster can use as is."""

import pytest

from fabfile import config
from fabfile.errors import UserError
from fabfile.lab import vagrant

from ..conftest import SECRETS

# As Vagrant prints it for VirtualBox (NAT: 127.0.0.1 and a forwarded port per VM).
VIRTUALBOX = """Host node1
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  IdentityFile "/home/an operator/.vagrant.d/insecure_private_key"
  IdentitiesOnly yes

Host node2
  HostName 127.0.0.1
  User vagrant
  Port 2200
  IdentityFile "/home/an operator/.vagrant.d/insecure_private_key"
"""
# libvirt: the VMs' management addresses; the same keywords written with '=' and tabs.
LIBVIRT = """Host node1
\tHostName=192.168.121.45
\tUser=vagrant
\tPort=22
\tIdentityFile=/root/.vagrant.d/insecure_private_key
Host node2
\tHostName=192.168.121.46
\tUser=vagrant
\tPort=22
\tIdentityFile=/root/.vagrant.d/insecure_private_key
"""


def written(tmp_path, provider, text):
    path = tmp_path / "halb.yaml"
    path.write_text(vagrant.config_for(provider, text, "vagrant ssh-config"))
    return config.load(path, env=SECRETS)


@pytest.mark.parametrize("provider, text, hosts, key", [
    ("virtualbox", VIRTUALBOX, [("127.0.0.1", 2222), ("127.0.0.1", 2200)],
     "/home/an operator/.vagrant.d/insecure_private_key"),
    ("libvirt", LIBVIRT, [("192.168.121.45", 22), ("192.168.121.46", 22)],
     "/root/.vagrant.d/insecure_private_key"),
])
def test_each_node_is_reached_where_vagrant_reaches_it(tmp_path, provider, text, hosts, key):
    cluster = written(tmp_path, provider, text)
    assert [(n.ssh_host, n.ssh_port) for n in cluster.nodes] == hosts
    # The cluster itself still runs on the private network the Vagrantfile gives the VMs.
    assert [n.address for n in cluster.nodes] == ["192.168.56.11", "192.168.56.12"]
    assert (cluster.ssh.identity_file, cluster.nodes[0].ssh_user, cluster.ssh.sudo) == (
        key, "vagrant", True)
    assert cluster.fencing.agent == {"virtualbox": "fence_vbox", "libvirt": "fence_virsh"}[provider]


@pytest.mark.parametrize("text, words", [
    (VIRTUALBOX.split("Host node2")[0], "no host 'node2'"),
    (LIBVIRT.replace("IdentityFile=/root/.vagrant.d/insecure_private_key\nHost node2",
                     "IdentityFile=/root/.vagrant.d/other\nHost node2"), "differ in their SSH"),
    (LIBVIRT.replace("Port=22", "Port=ssh", 1), "Port 'ssh' is not a number"),
])
def test_what_cannot_be_used_is_named(text, words):
    with pytest.raises(UserError, match=words):
        vagrant.config_for("libvirt", text, "vagrant ssh-config")


def test_the_task_reads_a_saved_output_and_refuses_an_unknown_provider(tmp_path):
    saved = tmp_path / "ssh-config"
    saved.write_text(LIBVIRT)
    out = vagrant.write("libvirt", tmp_path / "out" / "halb.yaml", saved, say=lambda _: None)
    assert config.load(out, env=SECRETS).nodes[1].ssh_host == "192.168.121.46"
    with pytest.raises(UserError, match="--provider must be one of libvirt, virtualbox"):
        vagrant.write("hyperv", tmp_path / "x.yaml", saved)
