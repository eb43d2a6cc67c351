"""A release's node image (a Debian base system) and the lab's package mirror, built once per
release and cached.

The mirror holds exactly what the install step needs beyond the base system: the packages are
resolved by apt inside the image itself (download only), then the image forgets Debian's mirror
and points at the lab's own.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
import time

from ..dialects import Dialect
from ..errors import UserError
from . import settings as s


def mirror_packages(image):
    """What the install step asks for on this release's nodes and arbiter, as the runbook's own
    dialect names them, and the other service the lab proves (configs/lab-nginx.yaml)."""
    dialect = Dialect.for_platform(image.platform)
    return tuple(dict.fromkeys(dialect.cluster_packages(True, s.OTHER_SERVICE_PACKAGES,
                                                        qdevice=True, exporter=True)
                               + dialect.arbiter_packages()))


def recipe_id(image):
    recipe = f"{image.release} {s.BASE_PACKAGES} {mirror_packages(image)} {s.REPO_PORT} v6"
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def is_current(image):
    stamp = image.dir / "stamp"
    return stamp.is_file() and stamp.read_text().strip() == recipe_id(image)


def sh(*argv, **kw):
    return subprocess.run([str(a) for a in argv], check=True, **kw)


# A command inside a root file system being built: apt asks nothing, the root's own tools.
CHROOT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
              "LC_ALL": "C"}


def chroot(root, *argv, **kw):
    return sh("chroot", root, *argv, env=CHROOT_ENV, **kw)


@contextlib.contextmanager
def installing_in(root, source):
    """apt in a root being built: `source` its only package source, and no service started
    by a package's scripts; the root's own sources back afterwards."""
    sources = root / "etc/apt/sources.list"
    own_sources = sources.read_text()
    policy = root / "usr/sbin/policy-rc.d"
    sources.write_text(source + "\n")
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)
        sources.write_text(own_sources)


def forget_package_lists(root):
    """Drop apt's downloaded archives and package lists: the built root points at the lab's
    mirror, and lists of another source would only be stale."""
    chroot(root, "apt-get", "clean")
    for lists in (root / "var/lib/apt/lists").glob("*"):
        if lists.is_file():
            lists.unlink()


def build(image, say=print):
    """Build the release's image and mirror unless the cached ones match the recipe. One build
    per release at a time: a second one (lab.up while `inv lab.images` builds in the
    background) waits for the first and then finds the image current."""
    if is_current(image):
        return False
    with release_lock(image, say):
        if is_current(image):
            return False
        if s.LANE:
            # A lane's network namespace has no route out to Debian's archive.
            raise UserError(f"lab: the {image.release} image is not built, and lane {s.LANE} "
                            "cannot build it (no route out): run inv lab.images outside the "
                            "lane first")
        return _build(image, say)


@contextlib.contextmanager
def release_lock(image, say):
    """One build per release at a time (its image or a layer on it): a second waits, says so."""
    s.IMAGES.mkdir(parents=True, exist_ok=True)
    with open(s.IMAGES / f"{image.release}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"lab: waiting for another build on the {image.release} image")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(image, say):
    started = time.monotonic()
    if image.dir.exists():
        shutil.rmtree(image.dir)
    image.dir.mkdir(parents=True)
    say(f"lab: building the {image.release} node image with debootstrap in {image.rootfs}")
    # debootstrap's resolver skips virtual packages: bootstrap a small base, apt does the rest.
    sh("debootstrap", "--variant=minbase", f"--include={','.join(s.BASE_PACKAGES)}",
       image.release, image.rootfs, s.MIRROR, stdout=subprocess.DEVNULL)
    shutil.copy("/etc/resolv.conf", image.rootfs / "etc/resolv.conf")
    say("lab: resolving the cluster packages into the lab mirror")
    chroot(image.rootfs, "apt-get", "update", "-q")
    chroot(image.rootfs, "apt-get", "install", "-y", "-q", "--download-only", "--no-install-recommends",
           *mirror_packages(image))
    image.repo.mkdir()
    archives = image.rootfs / "var/cache/apt/archives"
    for deb in archives.glob("*.deb"):
        shutil.move(str(deb), image.repo / deb.name)
    index = subprocess.run(["apt-ftparchive", "packages", "."], cwd=image.repo, check=True,
                           capture_output=True, text=True).stdout
    (image.repo / "Packages").write_text(index)
    _configure_image(image)
    (image.dir / "stamp").write_text(recipe_id(image) + "\n")
    count = len(list(image.repo.glob("*.deb")))
    say(f"lab: {image.release} image and mirror ({count} packages) built in "
        f"{time.monotonic() - started:.0f}s")
    return True


def _configure_image(image):
    root = image.rootfs
    forget_package_lists(root)
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
    chroot(image.rootfs, "systemctl", "enable", "halb-ssh-keygen.service", "systemd-networkd.service",
           "ssh.service")
    # Lab nodes are thrown away, not power-cut mid-install and kept: dpkg need not fsync every
    # file it unpacks, and documentation nobody reads there need not be unpacked at all. The
    # install step's time in the lab is then the packages' own, not the disk's.
    (root / "etc/dpkg/dpkg.cfg.d/halb-lab").write_text(
        "force-unsafe-io\n"
        + "".join(f"path-exclude=/usr/share/{folder}/*\n" for folder in
                  ("doc", "man", "info", "locale", "lintian", "linda"))
        + "path-include=/usr/share/doc/*/copyright\n")
    # Nor need Python's packages be byte-compiled at install: about a fifth of the install
    # step's time on a node (fence-agents pulls in boto3 and the Google API; 15.3 s against
    # 19.6 s for the cluster's packages in a chroot, medians of 4 and 3), spent again on every
    # node of every run. Python compiles what it imports on first use and keeps it (as root),
    # so the nodes run the same code; the lab's install timings leave that fifth out.
    for tool in ("py3compile", "pycompile"):
        chroot(root, "dpkg-divert", "--quiet", "--local", "--rename", "--add", f"/usr/bin/{tool}")
        stub = root / "usr/bin" / tool
        stub.write_text("#!/bin/sh\n# halb lab: no byte-compiling at install (fabfile/lab/image.py)\nexit 0\n")
        stub.chmod(0o755)
    # Lab nodes have no consoles to log in on; gettys would only wait for ttys that never come.
    chroot(image.rootfs, "systemctl", "mask", "console-getty.service", "getty@tty1.service")


def ensure_ssh_key():
    s.STATE.mkdir(parents=True, exist_ok=True)
    if not s.SSH_KEY.exists():
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "halb-lab", "-f", s.SSH_KEY)


def node_layer(image, packages, say=print):
    """An overlay layer on the release's image with `packages` installed from the lab's
    mirror, as the install step installs them: for `lab.up --provisioned`, whose tests are not
    about the install step. Built once per release and package set, then cached; returns the
    layer's directory (an overlay lowerdir above the image's rootfs)."""
    build(image, say)
    key = hashlib.sha256(f"{recipe_id(image)} {sorted(packages)} v1".encode()).hexdigest()[:16]
    layer = image.dir / "layers" / key
    with release_lock(image, say):
        if not (layer / "stamp").is_file():
            started = time.monotonic()
            say(f"lab: installing {len(packages)} packages into a {image.release} node layer")
            _build_layer(image, layer, packages)
            say(f"lab: {image.release} node layer built in {time.monotonic() - started:.0f}s")
    return layer / "upper"


def _build_layer(image, layer, packages):
    if layer.exists():
        shutil.rmtree(layer)
    for sub in ("upper", "work", "root"):
        (layer / sub).mkdir(parents=True)
    root = layer / "root"
    sh("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={image.rootfs},"
       f"upperdir={layer / 'upper'},workdir={layer / 'work'}", root)
    mounts = [root]
    try:
        # The mirror from its folder (the lab's HTTP mirror need not run), /proc and /dev for
        # the maintainer scripts, and no service started inside the build.
        for source, target, how in ((image.repo, "mnt", "--bind"), ("/dev", "dev", "--bind"),
                                    ("proc", "proc", "-tproc")):
            sh("mount", how, source, root / target)
            mounts.append(root / target)
        with installing_in(root, "deb [trusted=yes] file:/mnt ./"):
            chroot(root, "apt-get", "update", "-q", stdout=subprocess.DEVNULL)
            chroot(root, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages,
                   stdout=subprocess.DEVNULL)
        forget_package_lists(root)
        # Each node makes its own machine id at first boot, as from the bare image.
        (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
        (root / "etc/machine-id").write_text("")
    finally:
        for mount in reversed(mounts):
            subprocess.run(["umount", str(mount)], check=False)
    shutil.rmtree(layer / "work")
    (layer / "stamp").write_text(" ".join(packages) + "\n")
