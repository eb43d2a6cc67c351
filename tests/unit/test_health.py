"""Status checks' pure parts: credentials another tool left in the CIB."""

def test_status_names_plain_text_credentials_in_the_cib():
    from fabfile.health import plain_text_credentials
    from fabfile.parsers import parse_cib
    cib = parse_cib("""<cib><configuration><crm_config/><resources>
      <primitive id="old-fence" class="stonith" type="fence_ipmilan"><instance_attributes id="a">
        <nvpair id="a1" name="ipaddr" value="10.0.0.9"/><nvpair id="a2" name="passwd" value="x"/>
        <nvpair id="a3" name="passwd_script" value="cat /etc/x"/></instance_attributes></primitive>
      <primitive id="snmp" class="stonith" type="fence_apc_snmp"><instance_attributes id="b">
        <nvpair id="b1" name="community" value="private"/></instance_attributes></primitive>
      <primitive id="node1-fence" class="stonith" type="fence_ipmilan"><instance_attributes id="c">
        <nvpair id="c1" name="password_script" value="cat /etc/halb/fence/node1.password"/>
      </instance_attributes></primitive>
    </resources><constraints/></configuration><status/></cib>""")
    assert plain_text_credentials(cib) == ["old-fence.passwd", "snmp.community"]
    assert plain_text_credentials(None) == []
