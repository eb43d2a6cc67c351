"""The Vagrant lab's host-side services, one process: the lab's package mirror and the two HTTP
backends, on the VMs' host-only network (the halb-lab libvirt network's bridge). Power, BMCs and
the hypervisor are the real ones here: libvirtd, and sshd for fence_virsh.

Run by `inv lab.vagrant-up` as `python -m fabfile.lab.vmhost RELEASE`.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading

from . import settings as s
from .daemon import Backend, LabHttpServer, Quiet, log, serve


def main(release):
    servers = [serve(LabHttpServer((s.HOST_ADDRESS, s.REPO_PORT),
                                   functools.partial(Quiet, directory=str(s.Image(release).repo))))]
    for name, address, port in s.BACKENDS:
        handler = type(f"Backend_{name}", (Backend,), {"name": name})
        servers.append(serve(LabHttpServer((address, port), handler)))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    log(f"vmhost ready: {release} mirror on {s.HOST_ADDRESS}:{s.REPO_PORT}, backends "
        + ", ".join(f"{a}:{p}" for _, a, p in s.BACKENDS))
    stopping.wait()
    for server in servers:
        server.shutdown()
    log("vmhost stopped")


if __name__ == "__main__":
    main(sys.argv[1])
