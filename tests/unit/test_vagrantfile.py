"""The Vagrant lab: the Vagrantfile is valid with any box, and agrees with the configs of both
providers (libvirt: configs/vagrant.yaml, VirtualBox: configs/vagrant-virtualbox.yaml)."""

import re
import shutil
import subprocess

import pytest

from .conftest import ROOT, load_example

PROVIDERS = {"vagrant.yaml": "fence_virsh", "vagrant-virtualbox.yaml": "fence_vbox"}


@pytest.mark.parametrize("name", PROVIDERS)
def test_vagrant_nodes_match_the_config(name):
    text = (ROOT / "Vagrantfile").read_text()
    declared = dict(re.findall(r'"(node\d)" => "([0-9.]+)"', text))
    cluster = load_example(name)
    assert declared == {n.name: n.address for n in cluster.nodes}
    # The platform is read from the VMs: any box (HALB_VAGRANT_BOX) works unedited.
    assert cluster.platform is None


@pytest.mark.parametrize("name, agent", PROVIDERS.items())
def test_vagrant_fencing_names_each_vm_as_the_vagrantfile_does(name, agent):
    cluster = load_example(name)
    assert cluster.fencing.agent == agent
    text = (ROOT / "Vagrantfile").read_text()
    # libvirt: default_prefix + machine name; VirtualBox: vb.name
    assert 'lv.default_prefix = "halb_"' in text and 'vb.name = "halb_#{name}"' in text
    assert [n.bmc.plug for n in cluster.nodes] == ["halb_node1", "halb_node2"]


@pytest.mark.skipif(not shutil.which("vagrant"), reason="vagrant is not installed (make test installs it)")
@pytest.mark.parametrize("box", [None, "centos/7", "generic/rocky9"])
def test_vagrantfile_validates_with_any_box(tmp_path, box):
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
           "VAGRANT_CHECKPOINT_DISABLE": "1"}
    if box:
        env["HALB_VAGRANT_BOX"] = box
    result = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


@pytest.mark.skipif(not shutil.which("vagrant"), reason="vagrant is not installed (make test installs it)")
def test_vagrantfile_validates_with_the_labs_settings(tmp_path):
    """What `inv lab.vagrant-up` passes: halb's box, TCG, the isolated networks, the host key
    for fence_virsh, console logs and the disk cache."""
    from fabfile.lab import vagrantlab

    key = tmp_path / "host.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake x\n")
    env = {k: v for k, v in vagrantlab.vagrant_env("bookworm", "qemu").items()
           if k.startswith(("HALB_", "VAGRANT_"))}
    env.update({"HOME": str(tmp_path), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
                "HALB_VAGRANT_HOST_KEY": str(key)})
    result = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_vagrantfile_keeps_the_cluster_network_host_only():
    text = (ROOT / "Vagrantfile").read_text()
    assert 'libvirt__forward_mode: "none"' in text
    assert 'management_network_mode = "none"' in text
    assert 'lv.watchdog model: "i6300esb", action: "reset"' in text
