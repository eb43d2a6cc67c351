"""The Vagrant lab: the Vagrantfile is valid and agrees with configs/vagrant.yaml."""

import re
import shutil
import subprocess

import pytest

from .conftest import CONFIGS, ROOT, load_example


def test_vagrant_nodes_match_the_config():
    text = (ROOT / "Vagrantfile").read_text()
    declared = dict(re.findall(r'"(node\d)" => "([0-9.]+)"', text))
    cluster = load_example("vagrant.yaml")
    assert declared == {n.name: n.address for n in cluster.nodes}
    assert (CONFIGS / "vagrant.yaml").exists()


def test_vagrant_fencing_names_each_vm():
    cluster = load_example("vagrant.yaml")
    assert cluster.fencing.agent == "fence_virsh"
    assert [n.bmc.plug for n in cluster.nodes] == ["halb_node1", "halb_node2"]


@pytest.mark.skipif(not shutil.which("vagrant"), reason="vagrant is not installed (make test installs it)")
def test_vagrantfile_validates(tmp_path):
    result = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
                                 "VAGRANT_CHECKPOINT_DISABLE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout
