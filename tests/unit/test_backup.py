"""CIB backups: what a restore would change, and backups that are refused."""

import xml.etree.ElementTree as ET

import pytest

from fabfile import backup
from fabfile.errors import UserError

from .conftest import load_example

CIB = """<cib epoch="{epoch}"><configuration><crm_config><cluster_property_set id="opts">
<nvpair id="opts-name" name="cluster-name" value="{name}"/>
<nvpair id="opts-stonith" name="stonith-enabled" value="{stonith}"/></cluster_property_set>
</crm_config><resources>{resources}</resources><constraints/></configuration><status/></cib>"""

def cib(name="lb-debian", stonith="true", resources='<primitive id="vip" class="ocf"/>',
        epoch=5):
    return CIB.format(name=name, stonith=stonith, resources=resources, epoch=epoch)


def test_differences_name_what_a_restore_adds_removes_and_changes():
    now = ET.fromstring(cib()).find("configuration")
    then = ET.fromstring(cib(stonith="false", resources='<primitive id="old" class="ocf"/>'))\
        .find("configuration")
    assert backup.differences(now, then) == [
        "remove primitive vip",
        "add primitive old (class=ocf)",
        "change nvpair opts-stonith: value true -> false",
    ]
    assert backup.differences(now, now) == []


def test_a_backup_of_another_cluster_or_no_cib_is_refused(tmp_path):
    cluster = load_example("example-debian12.yaml")
    path = tmp_path / "b.xml"
    path.write_text(cib(name="elsewhere"))
    with pytest.raises(UserError, match="a CIB of cluster 'elsewhere', not 'lb-debian'"):
        backup.read(path, cluster)
    path.write_text("<html/>")
    with pytest.raises(UserError, match="not a CIB"):
        backup.read(path, cluster)
    path.write_text("not xml at all")
    with pytest.raises(UserError, match="not XML"):
        backup.read(path, cluster)
    with pytest.raises(UserError, match="cannot read it"):
        backup.read(tmp_path / "missing.xml", cluster)
    path.write_text(cib(epoch=1))
    assert backup.read(path, cluster).tag == "configuration"
