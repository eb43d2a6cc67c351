"""The soak's host-side watch: ARP frames and where each HAProxy runs, from a fake /proc."""

import socket

from fabfile.lab.watch import _ARP, _ETHER, ETH_P_ARP, arp_reply, arp_request, haproxy_by_config, mac_bytes


def reply_frame(sender_ip, sender_mac, op=2):
    return (_ETHER.pack(mac_bytes("02:68:61:6c:62:00"), mac_bytes(sender_mac), ETH_P_ARP)
            + _ARP.pack(1, 0x0800, 6, 4, op, mac_bytes(sender_mac), socket.inet_aton(sender_ip),
                        mac_bytes("02:68:61:6c:62:00"), socket.inet_aton("192.168.56.1")))


def test_a_request_asks_for_the_address_from_the_host_in_a_broadcast():
    frame = arp_request("02:68:61:6c:62:00", "192.168.56.1", "192.168.56.100")
    dst, src, kind = _ETHER.unpack_from(frame)
    assert dst == b"\xff" * 6 and src == mac_bytes("02:68:61:6c:62:00") and kind == ETH_P_ARP
    fields = _ARP.unpack_from(frame, _ETHER.size)
    assert fields[4] == 1  # a request
    assert socket.inet_ntoa(fields[6]) == "192.168.56.1"
    assert socket.inet_ntoa(fields[8]) == "192.168.56.100"


def test_a_reply_gives_its_sender_and_anything_else_is_ignored():
    assert arp_reply(reply_frame("192.168.56.100", "0a:1b:2c:3d:4e:5f")) == \
        ("192.168.56.100", "0a:1b:2c:3d:4e:5f")
    assert arp_reply(reply_frame("192.168.56.100", "0a:1b:2c:3d:4e:5f", op=1)) is None
    assert arp_reply(b"\0" * 20) is None
    ipv4 = bytearray(reply_frame("192.168.56.100", "0a:1b:2c:3d:4e:5f"))
    ipv4[12:14] = b"\x08\x00"
    assert arp_reply(bytes(ipv4)) is None


def process(proc, pid, comm, argv, cgroup):
    folder = proc / str(pid)
    folder.mkdir()
    (folder / "comm").write_text(comm + "\n")
    (folder / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (folder / "cgroup").write_text(f"0::{cgroup}\n")


def test_each_haproxy_config_is_placed_on_the_nodes_that_run_it(tmp_path):
    web = ["/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/haproxy.cfg", "-p", "/run/h.pid"]
    process(tmp_path, 10, "haproxy", web, "/halb-lab/node1/payload/system.slice/x.service")
    process(tmp_path, 11, "haproxy", web, "/halb-lab/node1/payload/system.slice/x.service")
    process(tmp_path, 20, "haproxy", ["/usr/sbin/haproxy", "-f", "/etc/halb/web-b.cfg"],
            "/halb-lab/node2")
    process(tmp_path, 30, "sshd", ["sshd"], "/halb-lab/node2/payload")
    process(tmp_path, 40, "haproxy", web, "/system.slice/haproxy.service")  # the host's own
    process(tmp_path, 41, "haproxy", web, "/halb-lab-b/node2/payload")  # a lane's lab beside
    process(tmp_path, 42, "haproxy", [], "/halb-lab/node2/payload")  # exited, not reaped yet
    process(tmp_path, 43, "haproxy", ["/usr/sbin/haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"],
            "/halb-lab/node2/payload")  # a config check
    (tmp_path / "self").mkdir()
    assert haproxy_by_config(tmp_path) == {"/etc/haproxy/haproxy.cfg": {"node1"},
                                           "/etc/halb/web-b.cfg": {"node2"}}
    process(tmp_path, 50, "haproxy", web, "/halb-lab/node2/payload")
    assert haproxy_by_config(tmp_path)["/etc/haproxy/haproxy.cfg"] == {"node1", "node2"}
