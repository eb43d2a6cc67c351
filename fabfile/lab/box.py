"""The Vagrant lab's box, built here from Debian's packages only and cached per release.

It starts from the container lab's node image of the same release (fabfile/lab/image.py: the
base system, its apt pointing at the lab's mirror) and adds what a VM needs that a container
does not: Debian's kernel and an initramfs (virtio disk and NIC drivers are modules), sudo,
and a `vagrant` user whose key halb generates. The root file system becomes an ext4 disk
(mkfs.ext4 -d: no loop device, no partition table) in qcow2; the box boots its kernel directly
(libvirt's <kernel>, <initrd>, <cmdline>), so the kernel and initramfs stay here, beside the box,
readable by QEMU.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass

from ..errors import UserError
from . import image as node_image
from . import settings as s

BOXES = s.STATE / "boxes"
VAGRANT_STATE = s.STATE / "vagrant"
# The key the box's `vagrant` user accepts; the box's own Vagrantfile names it.
BOX_KEY = VAGRANT_STATE / "id_ed25519"
# What a VM adds to the container image: a kernel that boots under QEMU, and sudo for Vagrant.
# Debian's generic kernel, not the cloud one: only it has the driver of the VMs' watchdog
# (i6300esb), the device that resets a machine whose systemd stopped answering.
VM_PACKAGES = ("linux-image-amd64", "initramfs-tools", "udev", "kmod", "sudo", "e2fsprogs")
DISK_GIB = 8
# net.ifnames=0: the NICs are eth0 (Vagrant's management network) and eth1 (the cluster's),
# the name configs/vagrant.yaml gives the VIP. A crashed kernel stays down (panic=0) until
# fencing powers the VM off, as a real machine would.
KERNEL_ARGS = "root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=0"


@dataclass(frozen=True)
class Box:
    release: str

    @property
    def name(self):
        return f"halb/{self.release}"

    @property
    def dir(self):
        return BOXES / self.release

    @property
    def rootfs(self):
        return self.dir / "rootfs"

    @property
    def file(self):
        return self.dir / f"halb-{self.release}.box"

    @property
    def kernel(self):
        return self.dir / "vmlinuz"

    @property
    def initrd(self):
        return self.dir / "initrd.img"

    @property
    def image(self):
        return s.Image(self.release)


def recipe_id(box):
    recipe = (f"{node_image.recipe_id(box.image)} {VM_PACKAGES} {KERNEL_ARGS} {DISK_GIB} "
              f"{_public_key()} v3")
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def _public_key():
    path = BOX_KEY.with_suffix(".pub")
    return path.read_text().strip() if path.exists() else ""


def ensure_key():
    VAGRANT_STATE.mkdir(parents=True, exist_ok=True)
    if not BOX_KEY.exists():
        # Ed25519: Debian 12's Vagrant (net-ssh 7.0 on OpenSSL 3) cannot load an RSA key in
        # OpenSSH's own format.
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        "halb-vagrant", "-f", str(BOX_KEY)], check=True)


def vagrant(*argv, check=True, capture=True, timeout=None, env=None):
    return subprocess.run(["vagrant", *argv], cwd=s.ROOT, capture_output=capture, text=True,
                          check=check, timeout=timeout, env=env)


def is_added(box):
    listed = vagrant("box", "list", "--machine-readable", check=False)
    names = {line.split(",")[3] for line in listed.stdout.splitlines()
             if line.count(",") >= 3 and line.split(",")[2] == "box-name"}
    return box.name in names


def is_current(box):
    stamp = box.dir / "stamp"
    return (stamp.is_file() and stamp.read_text().strip() == recipe_id(box)
            and box.kernel.is_file() and box.initrd.is_file())


def ensure(release, say=print):
    """Build the release's box unless the cached one matches its recipe, and add it to Vagrant
    under halb/<release> unless it is there already. True when anything was done."""
    box = Box(release)
    ensure_key()
    node_image.ensure_ssh_key()
    node_image.build(box.image, say)
    built = False
    if not is_current(box):
        build(box, say)
        built = True
    if built or not is_added(box):
        say(f"vagrant lab: adding the box {box.name}")
        done = vagrant("box", "add", "--force", "--name", box.name, str(box.file), check=False)
        if done.returncode != 0:
            raise UserError(f"vagrant box add {box.file} failed: {_last_line(done)}")
        return True
    return built


def build(box, say=print):
    started = time.monotonic()
    if box.dir.exists():
        shutil.rmtree(box.dir)
    box.dir.mkdir(parents=True)
    box.dir.chmod(0o755)  # QEMU (libvirt-qemu) reads the kernel and initramfs from here
    say(f"vagrant lab: building the {box.release} box from the node image and Debian's kernel")
    subprocess.run(["cp", "-a", "--reflink=auto", str(box.image.rootfs), str(box.rootfs)],
                   check=True)
    root = box.rootfs
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    # The kernel's postinst builds the initramfs; no service starts in the chroot.
    try:
        with node_image.installing_in(root, f"deb {s.MIRROR} {box.release} main"):
            _chroot(root, "apt-get", "update", "-q")
            _chroot(root, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                    *VM_PACKAGES)
    finally:
        (root / "etc/resolv.conf").write_text("")
    node_image.forget_package_lists(root)
    _configure(root)
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    initrds = sorted((root / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise UserError(f"vagrant lab: no kernel or initramfs in {root / 'boot'} after installing "
                        "linux-image-amd64")
    shutil.copy(kernels[-1], box.kernel)
    shutil.copy(initrds[-1], box.initrd)
    for path in (box.kernel, box.initrd):
        path.chmod(0o644)
    raw = box.dir / "box.raw"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-L", "root", "-d", str(root), str(raw),
                    f"{DISK_GIB}G"], check=True, stdout=subprocess.DEVNULL)
    qcow = box.dir / "box.img"
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(qcow)], check=True)
    raw.unlink()
    (box.dir / "metadata.json").write_text(json.dumps(
        {"provider": "libvirt", "format": "qcow2", "virtual_size": DISK_GIB}) + "\n")
    (box.dir / "Vagrantfile").write_text(_box_vagrantfile(box))
    with tarfile.open(box.file, "w") as tar:
        for name in ("metadata.json", "Vagrantfile", "box.img"):
            tar.add(box.dir / name, arcname=name)
    qcow.unlink()
    shutil.rmtree(root)
    (box.dir / "stamp").write_text(recipe_id(box) + "\n")
    say(f"vagrant lab: {box.release} box built in {time.monotonic() - started:.0f}s "
        f"({box.file.stat().st_size / 2**20:.0f} MiB)")


def _box_vagrantfile(box):
    """The box's own Vagrantfile: its key and how libvirt boots it."""
    return f"""# halb's {box.release} box: direct kernel boot, the `vagrant` user's key is halb's.
Vagrant.configure("2") do |config|
  config.ssh.private_key_path = "{BOX_KEY}"
  config.ssh.insert_key = false
  config.vm.provider "libvirt" do |lv|
    lv.kernel = "{box.kernel}"
    lv.initrd = "{box.initrd}"
    lv.cmd_line = "{KERNEL_ARGS}"
    lv.disk_bus = "virtio"
  end
end
"""


def _configure(root):
    # Installing the kernel in the chroot gave it a machine id: every VM would share it, and
    # with it the DHCP client id (the second VM then takes the first one's lease).
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/fstab").write_text("LABEL=root / ext4 defaults,errors=remount-ro 0 1\n")
    (root / "etc/hostname").write_text("localhost\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
    # The management NIC takes its address from the hypervisor's DHCP; Vagrant writes eth1's.
    (root / "etc/systemd/network/10-eth0.network").write_text(
        "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n")
    _chroot(root, "useradd", "--create-home", "--shell", "/bin/bash", "vagrant")
    ssh_dir = root / "home/vagrant/.ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "authorized_keys").write_text(_public_key() + "\n")
    (ssh_dir / "authorized_keys").chmod(0o600)
    _chroot(root, "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh")
    sudoers = root / "etc/sudoers.d/vagrant"
    sudoers.write_text("vagrant ALL=(ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)
    # A VM has a serial console to log in on; the container image masked the gettys.
    _chroot(root, "systemctl", "unmask", "console-getty.service", "getty@tty1.service")


def _chroot(root, *argv):
    """A command in the box's root; its output goes to the build log, named when it fails."""
    log = root.parent / "build.log"
    with open(log, "a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run(["chroot", str(root), *argv], env=node_image.CHROOT_ENV,
                              stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise UserError(f"vagrant lab: building the box failed at `{' '.join(argv)}` (exit "
                        f"{done.returncode}); see {log}")
    return done


def _last_line(done):
    text = (done.stderr or done.stdout or "").strip().splitlines()
    return text[-1] if text else f"exit {done.returncode}"


def remove(release, say=print):
    """Forget the box in Vagrant and drop its cache."""
    box = Box(release)
    if shutil.which("vagrant") and is_added(box):
        vagrant("box", "remove", "--force", box.name, check=False)
    if box.dir.exists():
        shutil.rmtree(box.dir)
    say(f"vagrant lab: removed the box {box.name} and {box.dir}")


