"""The node image (a Debian 12 base system) and the lab's package mirror, built once and cached.

The mirror holds exactly what the install step needs beyond the base system: the packages are
resolved by apt inside the image itself (download only), then the image forgets Debian's mirror
and points at the lab's own.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time

from ..dialects import ARBITER_PACKAGES, CLUSTER_PACKAGES, HAPROXY_PACKAGES, QDEVICE_PACKAGES
from . import settings as s

MIRROR_PACKAGES = tuple(dict.fromkeys(CLUSTER_PACKAGES["apt"] + HAPROXY_PACKAGES["apt"]
                                      + QDEVICE_PACKAGES["apt"] + ARBITER_PACKAGES["apt"]))
RECIPE = f"{s.SUITE} {s.BASE_PACKAGES} {MIRROR_PACKAGES} {s.REPO_PORT} v3"
STAMP = s.IMAGE / "stamp"


def recipe_id():
    return hashlib.sha256(RECIPE.encode()).hexdigest()[:16]


def is_current():
    return STAMP.is_file() and STAMP.read_text().strip() == recipe_id()


def sh(*argv, **kw):
    return subprocess.run([str(a) for a in argv], check=True, **kw)


def chroot(*argv):
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "LC_ALL": "C"}
    return sh("chroot", s.ROOTFS, *argv, env=env)


def build(say=print):
    """Build the image and mirror unless the cached ones match the recipe."""
    if is_current():
        return False
    started = time.monotonic()
    if s.IMAGE.exists():
        shutil.rmtree(s.IMAGE)
    s.IMAGE.mkdir(parents=True)
    say(f"lab: building the node image with debootstrap ({s.SUITE}) in {s.ROOTFS}")
    # debootstrap's resolver skips virtual packages: bootstrap a small base, apt does the rest.
    sh("debootstrap", "--variant=minbase", f"--include={','.join(s.BASE_PACKAGES)}",
       s.SUITE, s.ROOTFS, s.MIRROR, stdout=subprocess.DEVNULL)
    shutil.copy("/etc/resolv.conf", s.ROOTFS / "etc/resolv.conf")
    say("lab: resolving the cluster packages into the lab mirror")
    chroot("apt-get", "update", "-q")
    chroot("apt-get", "install", "-y", "-q", "--download-only", "--no-install-recommends",
           *MIRROR_PACKAGES)
    s.REPO.mkdir()
    archives = s.ROOTFS / "var/cache/apt/archives"
    for deb in archives.glob("*.deb"):
        shutil.move(str(deb), s.REPO / deb.name)
    index = subprocess.run(["apt-ftparchive", "packages", "."], cwd=s.REPO, check=True,
                           capture_output=True, text=True).stdout
    (s.REPO / "Packages").write_text(index)
    _configure_image()
    STAMP.write_text(recipe_id() + "\n")
    count = len(list(s.REPO.glob("*.deb")))
    say(f"lab: image and mirror ({count} packages) built in {time.monotonic() - started:.0f}s")
    return True


def _configure_image():
    root = s.ROOTFS
    chroot("apt-get", "clean")
    for lists in (root / "var/lib/apt/lists").glob("*"):
        if lists.is_file():
            lists.unlink()
    # Only the lab's mirror: the nodes reach nothing outside the lab network.
    (root / "etc/apt/sources.list").write_text(
        f"deb [trusted=yes] http://{s.HOST_ADDRESS}:{s.REPO_PORT}/ ./\n")
    for extra in (root / "etc/apt/sources.list.d").glob("*"):
        extra.unlink()
    (root / "etc/resolv.conf").write_text("")
    # Each node gets its own machine id and host keys at first boot, not the image's.
    (root / "etc/machine-id").write_text("")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    unit = root / "etc/systemd/system/halb-ssh-keygen.service"
    unit.write_text("[Unit]\nDescription=Generate SSH host keys\nBefore=ssh.service\n"
                    "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n\n"
                    "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n\n"
                    "[Install]\nWantedBy=multi-user.target\n")
    chroot("systemctl", "enable", "halb-ssh-keygen.service", "systemd-networkd.service",
           "ssh.service")
    # Lab nodes have no consoles to log in on; gettys would only wait for ttys that never come.
    chroot("systemctl", "mask", "console-getty.service", "getty@tty1.service")


def ensure_ssh_key():
    s.STATE.mkdir(parents=True, exist_ok=True)
    if not s.SSH_KEY.exists():
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "halb-lab", "-f", s.SSH_KEY)
