"""Every pcs spelling and package-manager command, per platform and pcs generation.

pcs 0.9 (CentOS/RHEL 7) differs from pcs 0.10 (EL8) and 0.11+ (EL9, Debian 12, Ubuntu) in how
nodes are authenticated, how a cluster is named at setup and how fence_ipmilan options are
called. Nothing outside this module spells a pcs command.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from .commands import _WRITE_FILE, MANIFEST, run
from .errors import UserError
from .secret import Secret

# Default pcs generation and package manager of each platform, used until pcs is installed
# and can tell its own version.
PLATFORM_DEFAULTS = {
    "centos7": ((0, 9), "yum"),
    "el8": ((0, 10), "dnf"),
    "el9": ((0, 11), "dnf"),
    "debian11": ((0, 10), "apt"),
    "debian12": ((0, 11), "apt"),
    "debian13": ((0, 12), "apt"),
    "ubuntu": ((0, 11), "apt"),
}
# Repository that carries pacemaker/pcs on RHEL rebuilds (disabled by default there).
DNF_HA_REPO = {"el8": "ha", "el9": "highavailability"}

FENCE_AGENT = "<the fence agent's packages>"  # stands in CLUSTER_PACKAGES for fence_packages()
CLUSTER_PACKAGES = {
    # The runbook's first line; its second line lost its "yum -y install" and started with "pcs".
    "yum": ("pacemaker", "corosync", "pcs", FENCE_AGENT, "resource-agents"),
    "dnf": ("pacemaker", "corosync", "pcs", FENCE_AGENT, "resource-agents"),
    # Debian splits crm_mon (needed by pcs) into pacemaker-cli-utils.
    "apt": ("pacemaker", "pacemaker-cli-utils", "corosync", "pcs", FENCE_AGENT, "resource-agents"),
}
# Platforms that ship each fence agent in a package of its own, fence-agents-<name> (EL does too);
# Debian up to 12 ships them all in fence-agents, with what each agent calls only recommended
# (the install step installs no recommends): that is added here.
SPLIT_FENCE_AGENTS = {"debian13"}
ONE_PACKAGE_AGENT_NEEDS = {"fence_aws": ("python3-boto3",), "fence_gce": ("python3-googleapi",),
                           "fence_azure_arm": ("python3-azure",)}
# Agents outside fence-agents everywhere.
OWN_PACKAGE_AGENTS = {"fence_xvm": ("fence-virt",)}
# A quorum device: the qdevice daemon on the nodes, qnetd and pcs on the arbiter host.
QDEVICE_PACKAGES = {m: ("corosync-qdevice",) for m in ("yum", "dnf", "apt")}
ARBITER_PACKAGES = {"yum": ("pcs", "corosync-qnetd"), "dnf": ("pcs", "corosync-qnetd"),
                    # Debian's pcsd needs the hacluster user and haclient group, which come with
                    # pacemaker-common (on the nodes, pacemaker pulls it in).
                    "apt": ("pcs", "corosync-qnetd", "pacemaker-common")}
# What the cloud VIP agents call: the AWS CLI (aws-vpc-move-ip, awsvip, awseip), Google's API
# client for Python (gcp-vpc-move-vip; EL ships it with the agent in resource-agents-gcp), and
# nc for azure-lb's probe listener.
CLOUD_VIP_PACKAGES = {
    "aws-route": {"apt": ("awscli",), "dnf": ("awscli",), "yum": ("awscli",)},
    "aws-eip": {"apt": ("awscli",), "dnf": ("awscli",), "yum": ("awscli",)},
    "gcp-alias": {"apt": ("python3-googleapi",), "dnf": ("resource-agents-gcp",),
                  "yum": ("resource-agents-gcp",)},
    "azure-lb": {"apt": ("netcat-openbsd",), "dnf": ("nmap-ncat",), "yum": ("nmap-ncat",)},
}
# ClusterLabs' hacluster exporter (metrics.exporter): packaged by Debian and Ubuntu only, with
# its settings in one YAML file and its own unit. Its address and port keys are read by every
# packaged version (1.2 to 1.4; 1.3 renamed them to web.listen-address but still reads them).
EXPORTER_PACKAGES = {"apt": ("prometheus-hacluster-exporter",)}
EXPORTER_UNIT = "ha_cluster_exporter"
EXPORTER_CONFIG = "/etc/ha_cluster_exporter.yaml"
# HAProxy, and curl for the OCF agent's status URL check (in the base system of EL).
HAPROXY_PACKAGES = {"yum": ("haproxy",), "dnf": ("haproxy",), "apt": ("haproxy", "curl")}
# What installing the packages does by itself: Debian's packages start their daemons (corosync
# and pacemaker as a one-node cluster named "debian", haproxy, qnetd with its certificate
# database); EL's start nothing. A runbook planned before the install step must expect it.
PACKAGES_START_SERVICES = {"apt": True, "yum": False, "dnf": False}
PACKAGED_CLUSTER_NAME = {"apt": "debian"}
WAIT_SECONDS = 120
# apt waits for dpkg's lock instead of failing at once: an install that an interrupted run
# started goes on on the host after its controller died, and the next run's waits for it.
APT_WAIT = ("-o", "DPkg::Lock::Timeout=300")
# An install whose controller died is cut off by SIGPIPE at its next line of output, dpkg with
# it, and apt then refuses to go on until `dpkg --configure -a` ran: a failed apt-get runs that
# and tries once more. "$@" is the apt-get command.
_APT_AGAIN = ('if ! "$@"; then echo "halb: apt-get failed; dpkg --configure -a, then once more" >&2; '
              'dpkg --configure -a && "$@"; fi')


def _apt(*args, why):
    apt = ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", *APT_WAIT, *args)
    return run("sh", "-c", _APT_AGAIN, "sh", *apt, why=why,
               shown=f"{shlex.join(apt)} (once more after dpkg --configure -a if it fails)")


PCSD_STOP_GRACE_S = 5  # a stop that does not deadlock takes under a second
# pcsd before 0.11.8 can deadlock on SIGTERM (its multiprocessing pool, pcs issue 780) and then
# holds a restart, or a reboot, for systemd's 90 s stop timeout: after a grace, what is left of
# it is killed. pcsd-ruby (pcs 0.10+) is PartOf pcsd, so a stop takes it along; pcs 0.10's pcsd
# does not Require it, so a start must name it.
_STOP_PCSD = ('units=pcsd.service; '
              'systemctl cat pcsd-ruby.service >/dev/null 2>&1 && units="$units pcsd-ruby.service"; '
              'timeout "$1" systemctl stop $units || systemctl kill --signal=SIGKILL $units; ')
_RESTART_PCSD = _STOP_PCSD + 'systemctl reset-failed $units 2>/dev/null; systemctl start $units'
_REBOOT = _STOP_PCSD + "systemctl reboot"


def reboot_soon():
    """Reboot in 2 s, from a timer, so that the SSH command returns before the connection goes
    down (a transient timer may fire up to a minute late: AccuracySec defaults to 1min). pcsd
    is stopped first, with its grace: a deadlocked one held reboots past a minute."""
    return run("systemd-run", "--on-active=2", "--timer-property=AccuracySec=100ms",
               "sh", "-c", _REBOOT, "sh", str(PCSD_STOP_GRACE_S),
               why="reboot in 2 s (the node leaves the cluster cleanly: nobody fences it)",
               shown=f"systemd-run --on-active=2 systemctl reboot (pcsd stopped first; a stop "
                     f"that hangs is killed after {PCSD_STOP_GRACE_S} s)")
COROSYNC_CONF = "/etc/corosync/corosync.conf"
CIB_XML = "/var/lib/pacemaker/cib/cib.xml"
# The first CIB of a node that has none ($1), holding dc-deadtime=$2: an empty CIB from
# cibadmin, the property set in it offline (CIB_file), owned as Pacemaker writes it. A node
# that has a CIB keeps it.
_SEED_CIB = ('cib=$1; [ -e "$cib" ] && exit 0; t=$(mktemp) || exit 1; '
             'cibadmin --empty > "$t" && '
             'CIB_file="$t" crm_attribute --type crm_config --name dc-deadtime --update "$2" && '
             'install -o hacluster -g haclient -m 0600 "$t" "$cib"; rc=$?; rm -f "$t"; exit $rc')
# "$@" is the pcs authentication command; its exit status is replaced by whether every cluster
# node now answers with the tokens it saved.
_AUTH_THEN_CHECK = '"$@" || pcs status pcsd'

# The package's own cluster, holding nothing: a stop of a freshly started Pacemaker waits until
# its controller has elected itself (dc-deadtime, 20 s), so it is killed instead. The stop job
# is queued first so that systemd does not restart what the kill ends.
# "$@" is the destroy command.
_KILL_EMPTY_CLUSTER = ('systemctl stop --no-block pacemaker.service; '
                       'systemctl kill --signal=SIGKILL pacemaker.service; '
                       'systemctl stop pacemaker.service corosync.service; "$@"')

# Changing totem timings on a running cluster reloads corosync, and a reload can drop a node
# out of the membership for a moment: with STONITH on, the peer fences it. So the change runs
# in a window with resources held in place (maintenance-mode) and fencing off, waits until every
# node has been joined for `settle` seconds in a row, then puts both properties back as they
# were, whatever happened in between. A node counts once Pacemaker's controller has finished
# its join (crm_mon: online, not pending), not merely once it is in corosync's membership: a
# reload while a node is still joining has left that node pending, running nothing, for
# minutes (Pacemaker 2.1.5). So the window opens only when every node has joined, and changes
# nothing otherwise. Values arrive as positional parameters ($5: crm_mon's XML flag); "$@" is
# the command that writes the new totem options on every node.
_TOTEM_WINDOW = r"""stonith=$1; maintenance=$2; members=$3; settle=$4; xml=$5; shift 5
trap '' HUP PIPE
joined() { crm_mon -1 "$xml" 2>/dev/null | grep ' online="true"' | grep -c ' pending="false"'; }
waited=0
until [ "$(joined)" -ge "$members" ]; do
  if [ "$waited" -ge 120 ]; then
    echo "nothing changed: $members nodes were not all online and joined (crm_mon: a node offline or pending) within 120 s" >&2
    exit 6
  fi
  sleep 1; waited=$((waited + 1))
done
pcs property set maintenance-mode=true || exit 1
rc=1
if pcs property set stonith-enabled=false && "$@" && pcs cluster reload corosync; then
  rc=5; stable=0; waited=0
  while [ "$waited" -lt 120 ]; do
    if [ "$(joined)" -ge "$members" ]; then
      stable=$((stable + 1)); else stable=0; fi
    if [ "$stable" -ge "$settle" ]; then rc=0; break; fi
    sleep 1; waited=$((waited + 1))
  done
  [ "$rc" -eq 0 ] || echo "corosync reloaded, but $members nodes were not online and joined for $settle s in a row within 120 s" >&2
fi
if ! { pcs property set stonith-enabled="$stonith" && pcs property set maintenance-mode="$maintenance"; }; then
  echo "could not end the window: set stonith-enabled=$stonith and maintenance-mode=$maintenance by hand" >&2
  exit 4
fi
exit "$rc"
"""
# pcs 0.9 has no `cluster config update`: the new corosync.conf comes on stdin, pcs syncs it.
_REPLACE_COROSYNC_CONF = ('p=$1; t=$(mktemp -- "$p.XXXXXXXXXX") && { cat > "$t" && '
                          'chmod 0644 "$t" && mv -f -- "$t" "$p" || { rm -f -- "$t"; exit 1; }; } && '
                          'pcs cluster sync')
# pcsd's environment file with PCSD_BIND_ADDR set to $2 (other lines kept), written through the
# safe write ($4, with the manifest $3); the package owns the file, so its original is kept.
_BIND_PCSD = ('f=$1; v=$2; man=$3; write=$4; '
              '{ if [ -f "$f" ]; then grep -v -e "^[[:space:]]*PCSD_BIND_ADDR=" '
              '-e "(set by halb)\\$" "$f" || :; fi; '
              'echo "# pcsd listens on the cluster address and loopback only (set by halb)"; '
              'printf "PCSD_BIND_ADDR=%s\\n" "$v"; } | sh -c "$write" sh "$f" 0644 pcs "$man" true')


def platform_from_os_release(info):
    """Map /etc/os-release fields to one of the supported platforms, or None."""
    os_id = info.get("ID", "")
    like = info.get("ID_LIKE", "").split()
    major = info.get("VERSION_ID", "").split(".")[0]
    if os_id == "debian" and major in ("11", "12", "13"):
        return f"debian{major}"
    if os_id == "ubuntu":
        return "ubuntu"
    if os_id in ("centos", "rhel", "rocky", "almalinux", "ol") or "rhel" in like or "fedora" in like:
        return {"7": "centos7", "8": "el8", "9": "el9"}.get(major)
    return None


def parse_pcs_version(text):
    """'0.11.5' or '0.9.169' -> (0, 11, 5); None when pcs is not there."""
    parts = (text or "").strip().split()
    if not parts:
        return None
    try:
        return tuple(int(p) for p in parts[0].split("+")[0].split(".")[:3])
    except ValueError:
        return None


@dataclass(frozen=True)
class Dialect:
    platform: str
    pcs_version: tuple[int, ...]
    package_manager: str
    # cluster.pcs_request_timeout: seconds pcs waits for another node's pcsd; None: pcs's own.
    request_timeout: int | None = None

    def _pcsd(self, *argv):
        """A pcs command that asks other nodes' pcsd, with the cluster's request timeout."""
        return (*argv, f"--request-timeout={self.request_timeout}") if self.request_timeout else argv

    @classmethod
    def for_platform(cls, platform, pcs_version=None):
        if platform not in PLATFORM_DEFAULTS:
            raise UserError(f"unsupported platform {platform!r}")
        default_pcs, manager = PLATFORM_DEFAULTS[platform]
        return cls(platform, tuple(pcs_version or default_pcs), manager)

    @property
    def legacy(self):
        """pcs 0.9: `pcs cluster auth`, `setup --name`, fence options ipaddr/login/passwd."""
        return self.pcs_version[:2] < (0, 10)

    @property
    def label(self):
        return f"{self.platform}, pcs {'.'.join(map(str, self.pcs_version))}"

    # --- packages -----------------------------------------------------------------------
    @property
    def packages_start_services(self):
        return PACKAGES_START_SERVICES[self.package_manager]

    @property
    def packaged_cluster_name(self):
        """The cluster the corosync package configures on its own, or None."""
        return PACKAGED_CLUSTER_NAME.get(self.package_manager)

    def fence_packages(self, agent):
        """The packages that bring one fence agent and what it calls."""
        if agent in OWN_PACKAGE_AGENTS:
            return OWN_PACKAGE_AGENTS[agent]
        # fence_ipmilan drives ipmitool, which Debian's packages only recommend.
        ipmitool = ("ipmitool",) if agent == "fence_ipmilan" and self.package_manager == "apt" \
            else ()
        if self.package_manager != "apt" or self.platform in SPLIT_FENCE_AGENTS:
            return (f"fence-agents-{agent.removeprefix('fence_').replace('_', '-')}", *ipmitool)
        return ("fence-agents", *ipmitool, *ONE_PACKAGE_AGENT_NEEDS.get(agent, ()))

    def node_packages(self, cluster):
        """Everything the install step puts on a node for this cluster config."""
        cloud = cluster.vip.cloud
        return self.cluster_packages(cluster.service.is_haproxy,
                                     cluster.extra_packages + cluster.service.packages,
                                     qdevice=cluster.quorum_device is not None,
                                     cloud_vip=cloud.provider if cloud else None,
                                     fence_agent=cluster.fencing.agent,
                                     exporter=cluster.metrics.exporter_port is not None,
                                     second_fence_agent=cluster.fencing.second_level.agent
                                     if cluster.fencing.second_level else None)

    def cluster_packages(self, haproxy=True, extra=(), qdevice=False, cloud_vip=None,
                         fence_agent="fence_ipmilan", second_fence_agent=None, exporter=False):
        found = ()
        for package in CLUSTER_PACKAGES[self.package_manager]:
            if package != FENCE_AGENT:
                found += (package,)
                continue
            found += self.fence_packages(fence_agent)
            if second_fence_agent:
                found += self.fence_packages(second_fence_agent)
        if cloud_vip:
            found += CLOUD_VIP_PACKAGES[cloud_vip][self.package_manager]
        if haproxy:
            found += HAPROXY_PACKAGES[self.package_manager]
        if qdevice:
            found += QDEVICE_PACKAGES[self.package_manager]
        if exporter:
            found += self.exporter_packages()
        return tuple(dict.fromkeys(found + tuple(extra)))

    def exporter_packages(self):
        """The exporter's packages; none where the platform packages no exporter (the install
        step refuses metrics.exporter there)."""
        return EXPORTER_PACKAGES.get(self.package_manager, ())

    def arbiter_packages(self):
        return ARBITER_PACKAGES[self.package_manager]

    def query_packages(self, packages):
        if self.package_manager == "apt":
            # dpkg-query exits 1 when a package is unknown: that is the answer.
            return run("dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *packages,
                       accept_codes=(0, 1))
        # rpm -q exits with the number of packages that are not installed.
        return run("rpm", "-q", "--qf", "%{NAME} installed\\n", *packages,
                   accept_codes=tuple(range(len(packages) + 1)))

    def install_packages(self, packages, repo=None):
        why = "install the cluster packages"
        if self.package_manager == "apt":
            return [run("apt-get", "update", "-q", why="refresh the package index"),
                    _apt("install", "-y", "-q", "--no-install-recommends", *packages, why=why)]
        if self.package_manager == "dnf":
            repo = repo or DNF_HA_REPO.get(self.platform)
            enable = (f"--enablerepo={repo}",) if repo else ()
            return [run("dnf", "-y", *enable, "install", *packages, why=why)]
        enable = (f"--enablerepo={repo}",) if repo else ()
        return [run("yum", "-y", *enable, "install", *packages, why=why)]

    # --- services -----------------------------------------------------------------------
    def enable_units(self, units, start=False):
        return run("systemctl", "enable", *(("--now",) if start else ()), *units,
                   why=f"enable {' '.join(units)} at boot" + (" and start now" if start else ""))

    def mask_unit(self, unit, why):
        """A unit that cannot start, even when its package's install starts it."""
        return run("systemctl", "mask", f"{unit}.service", why=why)

    def restart_unit(self, unit, why):
        """Unmasked, enabled at boot, and (re)started now to read its settings."""
        return run("sh", "-c", 'systemctl unmask "$1" && systemctl enable "$1" && '
                   'systemctl restart "$1"', "sh", f"{unit}.service", why=why,
                   shown=f"systemctl unmask, enable and restart {unit}.service")

    def disable_unit(self, unit, why):
        return run("systemctl", "disable", "--now", unit, why=why)

    # --- hacluster user and pcsd authentication -----------------------------------------
    def set_hacluster_password(self, secret):
        # chpasswd reads "user:password" on stdin.
        return run("chpasswd", why="set the hacluster password (on stdin)",
                   stdin=Secret(secret.name, f"hacluster:{secret.value}"))

    @property
    def pcsd_settings_file(self):
        """pcsd's environment file (PCSD_BIND_ADDR and the like), as each family packages it."""
        return "/etc/default/pcsd" if self.package_manager == "apt" else "/etc/sysconfig/pcsd"

    def bind_pcsd(self, addresses):
        """PCSD_BIND_ADDR in pcsd's environment file, the package's other settings kept; the
        file is replaced through the safe write (its original kept for teardown)."""
        value = ",".join(addresses)
        return run("sh", "-c", _BIND_PCSD, "sh", self.pcsd_settings_file, value, MANIFEST,
                   _WRITE_FILE, why=f"pcsd listens on {value} only (PCSD_BIND_ADDR), not on "
                   "every address", shown=f"set PCSD_BIND_ADDR={value} in {self.pcsd_settings_file}")

    def restart_pcsd(self):
        return run("sh", "-c", _RESTART_PCSD, "sh", str(PCSD_STOP_GRACE_S),
                   why="pcsd reads PCSD_BIND_ADDR at start", retry_transient=True,
                   shown="systemctl restart pcsd (a stop that hangs is killed after "
                         f"{PCSD_STOP_GRACE_S} s)")

    @property
    def pcsd_auth_file(self):
        return "/var/lib/pcsd/tokens" if self.legacy else "/var/lib/pcsd/known-hosts"

    def auth_nodes(self, nodes, secret, why=None):
        """Authenticate pcsd on every node; pcs reads the password on stdin when it is no tty."""
        if self.legacy:
            argv = ("pcs", "cluster", "auth", *(n.name for n in nodes), "-u", "hacluster", "--force")
        else:
            argv = ("pcs", "host", "auth",
                    *(w for n in nodes for w in (n.name, f"addr={n.address}")), "-u", "hacluster")
        return run(*self._pcsd(*argv),
                   why=why or "authenticate pcsd on all nodes (password on stdin)",
                   stdin=secret,
                   retry_transient=True)

    def auth_replaced_nodes(self, nodes, secret, replaced):
        """Authenticate from a member again after `replaced` got new machines. pcs then pushes
        its known-hosts to every node in corosync.conf, and a new machine, in no cluster yet,
        refuses that push: pcs exits 1 although the tokens are saved. So the exit that counts
        is `pcs status pcsd`'s, which asks every cluster node with the tokens just saved."""
        auth = self.auth_nodes(nodes, secret)
        return run("sh", "-c", _AUTH_THEN_CHECK, "sh", *auth.argv, stdin=secret,
                   why=f"authenticate pcsd again: {', '.join(replaced)} "
                       f"{'is a new machine' if len(replaced) == 1 else 'are new machines'}",
                   shown=f"{auth.shell_line()} (then pcs status pcsd: the push of known-hosts to "
                         "the new machine fails until it joins)",
                   retry_transient=True)

    # --- cluster ------------------------------------------------------------------------
    def setup_cluster(self, name, nodes, failover):
        if self.legacy:
            # pcs 0.9 (corosync 2) sets up corosync without authentication or encryption
            # unless asked; pcs 0.10+ (knet) turns both on by default.
            argv = ("pcs", "cluster", "setup", "--enable", "--name", name,
                    *(n.name for n in nodes), "--token", str(failover.token_ms),
                    "--consensus", str(failover.consensus_ms), "--encryption", "1")
        else:
            argv = ("pcs", "cluster", "setup", name,
                    *(w for n in nodes for w in (n.name, f"addr={n.address}")),
                    "totem", f"token={failover.token_ms}", f"consensus={failover.consensus_ms}",
                    "--enable")
        # No --request-timeout: pcs 0.10 to 0.12 refuse it here, and wait at most 60 s for
        # each node's pcsd (its cluster destroy, which setup sends first, included).
        # Not --start: each node's first CIB is written before the cluster starts (seed_cib).
        quorum = "corosync two_node quorum" if len(nodes) == 2 else "quorum by majority"
        return run(*argv, why=f"create cluster {name} ({len(nodes)} nodes, {quorum}, "
                   f"{failover.profile} failover timings), to start at boot",
                   retry_transient=True)

    def seed_cib(self, dc_deadtime_s):
        """A new cluster's first CIB, written before Pacemaker first starts, with dc-deadtime
        set: a controller that starts with no CIB waits Pacemaker's default 20 s before it
        holds the election that makes a DC, and nothing starts until then."""
        return run("sh", "-c", _SEED_CIB, "sh", CIB_XML, f"{dc_deadtime_s}s",
                   why=f"the new cluster elects its controller after {dc_deadtime_s} s at start "
                       "(Pacemaker's default dc-deadtime is 20 s)",
                   shown=f"write {CIB_XML} if absent: an empty CIB with "
                         f"dc-deadtime={dc_deadtime_s}s (cibadmin --empty, crm_attribute on it)")

    def change_totem(self, failover, properties, members, settle, new_corosync_conf=None):
        """Change token and consensus on a running cluster without fencing anyone; `settle`
        seconds of stable membership end the window."""
        if self.legacy:
            update = ("sh", "-c", _REPLACE_COROSYNC_CONF, "sh", COROSYNC_CONF)
        else:
            update = ("pcs", "cluster", "config", "update", "totem",
                      f"token={failover.token_ms}", f"consensus={failover.consensus_ms}")
        stonith = properties.get("stonith-enabled", "true")
        maintenance = properties.get("maintenance-mode", "false")
        return run("sh", "-c", _TOTEM_WINDOW, "sh", stonith, maintenance, str(members), str(settle),
                   self._crm_mon_xml_flag, *update,
                   stdin=new_corosync_conf, stdin_label="the new corosync.conf",
                   why=f"corosync token {failover.token_ms} ms, consensus {failover.consensus_ms} ms "
                       f"({failover.profile} profile), once {members} nodes have joined: "
                       f"resources held and fencing paused while corosync reloads, until they "
                       f"stay joined for {settle} s",
                   shown=f"totem-window stonith-enabled={stonith} maintenance-mode={maintenance} "
                         f"-- {' '.join(update[:2]) if self.legacy else ' '.join(update)}"
                         + (" (corosync.conf on stdin, pcs cluster sync)" if self.legacy else "")
                         + " && pcs cluster reload corosync")

    def destroy_cluster(self, why):
        return run("pcs", "cluster", "destroy", why=why)

    def discard_empty_cluster(self, why):
        """`pcs cluster destroy` of a cluster whose CIB holds no resource, its daemons killed
        first rather than stopped (a stop would wait out the controller's election)."""
        destroy = self.destroy_cluster(why).argv
        return run("sh", "-c", _KILL_EMPTY_CLUSTER, "sh", *destroy, why=why,
                   shown="pcs cluster destroy (Pacemaker and corosync killed first: "
                         "nothing runs in this cluster)")

    def stop_whole_cluster(self, why):
        """Stop Pacemaker (and so the resources), then corosync, on every node; fails when a
        node cannot be stopped. `pcs cluster destroy --all` stops first too, but ignores a node
        whose stop failed and then kills its daemons, which leaves its VIP and service running."""
        return run(*self._pcsd("pcs", "cluster", "stop", "--all"), why=why, retry_transient=True)

    def destroy_whole_cluster(self, why):
        """Remove the cluster's configuration on every node (pcsd to pcsd)."""
        return run(*self._pcsd("pcs", "cluster", "destroy", "--all"), why=why,
                   retry_transient=True)

    def query_cib(self):
        return run("cibadmin", "--query")

    def replace_cib_configuration(self, configuration_xml, why):
        """The whole configuration section at once, on stdin; Pacemaker bumps the epoch itself,
        so an older backup is accepted (as `pcs cluster cib-push --config` pushes it)."""
        return run("cibadmin", "--replace", "--scope", "configuration", "--xml-pipe", why=why,
                   stdin=configuration_xml, stdin_label="the backup's configuration section",
                   retry_transient=True)

    def start_cluster(self):
        return run(*self._pcsd("pcs", "cluster", "start", "--all", f"--wait={WAIT_SECONDS}"),
                   why="start the cluster on all nodes", retry_transient=True)

    def add_node(self, node, why=None):
        """A node joins the running cluster: pcs writes the new corosync.conf on every node,
        copies the keys to the new one, and starts it."""
        if self.legacy:
            argv = ("pcs", "cluster", "node", "add", node.name, "--start", "--enable")
        else:
            argv = ("pcs", "cluster", "node", "add", node.name, f"addr={node.address}",
                    "--start", "--enable", f"--wait={WAIT_SECONDS}")
        return run(*self._pcsd(*argv),
                   why=why or f"{node.name} joins the cluster (and starts at boot)",
                   retry_transient=True)

    def remove_node(self, name, why=None):
        """A node leaves: pcs stops its cluster services (its resources move first, as on a
        planned stop), removes it from every node's corosync.conf and destroys its own."""
        return run(*self._pcsd("pcs", "cluster", "node", "remove", name),
                   why=why or f"{name} leaves the cluster: its resources move to the other nodes",
                   retry_transient=True)

    def enable_cluster(self):
        return run(*self._pcsd("pcs", "cluster", "enable", "--all"),
                   why="start corosync and pacemaker at boot",
                   retry_transient=True)

    def set_property(self, name, value, why):
        return run("pcs", "property", "set", f"{name}={value}", why=why, retry_transient=True)

    def unset_property(self, name, why):
        if self.legacy:
            return run("pcs", "property", "unset", name, why=why, retry_transient=True)
        return run("pcs", "property", "set", f"{name}=", why=why, retry_transient=True)

    # --- quorum device -------------------------------------------------------------------
    def setup_qnetd(self):
        return run("pcs", "qdevice", "setup", "model", "net", "--enable", "--start",
                   why="set qnetd up (its certificate authority) and start it at boot",
                   retry_transient=True)

    def add_quorum_device(self, host, algorithm, tie_breaker, timeout_ms, heuristics=None):
        extra = ("heuristics", *_pairs(heuristics.items())) if heuristics else ()
        return run(*self._pcsd("pcs", "quorum", "device", "add", f"timeout={timeout_ms}", "model",
                               "net", f"host={host}", f"algorithm={algorithm}",
                               f"tie_breaker={tie_breaker}", *extra),
                   why=f"a third vote from qnetd on {host} ({algorithm}); corosync-qdevice starts "
                       "on every node", retry_transient=True)

    @staticmethod
    def service_heuristics(script, resource_id, arbiter, vip):
        """qdevice heuristics that pass on the side that should keep the service: halb's
        script (fabfile/agents/quorum_heuristic.py) checks where `resource_id` runs and pings
        `arbiter` and `vip` to tell a lossy link from a cut one. They run at each membership
        change only (mode sync), and a check that hangs fails after 2 s rather than hold up
        the vote. qdevice splits the command on blanks: none of its words has one."""
        return {"mode": "sync", "sync_timeout": "2000",
                "exec_serving": f"{script} {resource_id} {arbiter} {vip}"}

    def update_quorum_device_heuristics(self, heuristics, stale=()):
        # pcs removes an option given an empty value.
        return run("pcs", "quorum", "device", "update", "heuristics",
                   *_pairs([*heuristics.items(), *((key, "") for key in stale)]),
                   why="in an even split, the side that runs the service keeps quorum",
                   retry_transient=True)

    def remove_quorum_device_heuristics(self, why):
        return run("pcs", "quorum", "device", "heuristics", "remove", why=why,
                   retry_transient=True)

    def update_quorum_device_timeout(self, timeout_ms):
        return run("pcs", "quorum", "device", "update", f"timeout={timeout_ms}",
                   why=f"qdevice timeout {timeout_ms} ms (failover profile); qdevice restarts",
                   retry_transient=True)

    def remove_quorum_device(self, why):
        return run("pcs", "quorum", "device", "remove", why=why, retry_transient=True)

    # --- fencing ------------------------------------------------------------------------
    # --- alerts -------------------------------------------------------------------------
    # pcs's alert commands cannot write Pacemaker's event selection (<select>), so an alert
    # goes into the CIB whole, as XML on cibadmin's stdin, and is replaced whole.
    def create_alert(self, alert_id, alert_xml, section_exists, why):
        if section_exists:
            return run("cibadmin", "--create", "--scope", "alerts", "--xml-pipe", why=why,
                       stdin=alert_xml, stdin_label=f"the <alert> element {alert_id}",
                       retry_transient=True)
        return run("cibadmin", "--create", "--scope", "configuration", "--xml-pipe", why=why,
                   stdin=f"<alerts>{alert_xml}</alerts>",
                   stdin_label=f"an <alerts> section holding {alert_id}", retry_transient=True)

    def replace_alert(self, alert_id, alert_xml, why):
        return run("cibadmin", "--replace", "--xpath", _alert_xpath(alert_id), "--xml-pipe",
                   why=why, stdin=alert_xml, stdin_label=f"the <alert> element {alert_id}",
                   retry_transient=True)

    def delete_alert(self, alert_id, why):
        return run("cibadmin", "--delete", "--xpath", _alert_xpath(alert_id), why=why,
                   retry_transient=True)

    def fence_option(self, logical):
        """fence_ipmilan renamed its options: ipaddr/login/passwd_script became ip/username/..."""
        if self.legacy:
            return {"ip": "ipaddr", "username": "login", "password_script": "passwd_script",
                    "password": "passwd",
                    "plug": "port"}.get(logical, logical)
        return logical

    def create_stonith(self, device, agent, options, monitor):
        return run("pcs", "stonith", "create", device, agent, *_pairs(options),
                   "op", "monitor", f"interval={monitor}",
                   why=f"create fence device {device}", retry_transient=True)

    def add_fence_level(self, level, node, device):
        return run("pcs", "stonith", "level", "add", str(level), node, device,
                   why=f"fencing level {level} of {node}: {device}", retry_transient=True)

    def clear_fence_levels(self, node, why):
        # pcs 0.11 names the target with a keyword; older pcs takes the node alone.
        target = ("target", node) if self.pcs_version[:2] >= (0, 11) else (node,)
        return run("pcs", "stonith", "level", "clear", *target, why=why, retry_transient=True)

    def delete_stonith(self, device, why):
        return run("pcs", "stonith", "delete", device, why=why, retry_transient=True)

    def update_stonith(self, device, options, why):
        return run("pcs", "stonith", "update", device, *_pairs(options), why=why,
                   retry_transient=True)

    def avoid_node(self, resource, node):
        return run("pcs", "constraint", "location", resource, "avoids", node,
                   why=f"{resource} never runs on {node}, the node it fences", retry_transient=True)

    def keep_apart(self, resource, other, score, why):
        """A colocation of negative `score`: `resource` prefers a node without `other`. pcs
        0.12 takes the score as score=, earlier ones as a word after the resources."""
        words = (f"score={score}",) if self.pcs_version[:2] >= (0, 12) else (str(score),)
        return run("pcs", "constraint", "colocation", "add", resource, "with", other, *words,
                   why=why, retry_transient=True)

    # --- resources ----------------------------------------------------------------------
    def create_resource(self, resource, agent, options, monitor, group, why):
        # Created straight into the group: never started alone on a node without the VIP.
        return run("pcs", "resource", "create", resource, agent, *_pairs(options),
                   "op", "monitor", f"interval={monitor}", "--group", group, why=why,
                   retry_transient=True)

    def update_resource(self, resource, options, why):
        return run("pcs", "resource", "update", resource, *_pairs(options), why=why,
                   retry_transient=True)

    def update_monitor(self, resource, monitor, why):
        return run("pcs", "resource", "update", resource, "op", "monitor", f"interval={monitor}",
                   why=why, retry_transient=True)

    def delete_group(self, group, why):
        """pcs stops a group and deletes it with its resources and their constraints."""
        return run("pcs", "resource", "delete", group, why=why, retry_transient=True)

    def set_meta(self, resource, name, value, why):
        return run("pcs", "resource", "meta", resource, f"{name}={value}", why=why,
                   retry_transient=True)

    def stop_resource(self, resource, why):
        """Stop a resource (a group: all of it) through the cluster and wait until it is
        stopped everywhere."""
        return run("pcs", "resource", "disable", resource, f"--wait={WAIT_SECONDS}", why=why,
                   retry_transient=True)

    def add_to_group(self, group, resource):
        return run("pcs", "resource", "group", "add", group, resource,
                   why=f"{resource} joins group {group}: same node, started in group order",
                   retry_transient=True)

    # --- status and drills (read-only, or the planned faults of `inv drill`) ---------------
    @property
    def _crm_mon_xml_flag(self):
        # Pacemaker 1.1 (pcs 0.9) spells XML output --as-xml; 2.0 and later --output-as=xml.
        return "--as-xml" if self.legacy else "--output-as=xml"

    def cluster_status_xml(self):
        # 102/107: not connected, while Pacemaker is stopped or starting; the caller retries.
        return run("crm_mon", "-1", self._crm_mon_xml_flag, accept_codes=(0, 1, 102, 107))

    def node_clock(self):
        return run("date", "+%s")

    def fencer_log(self, since):
        # The fencer's journal identifier: stonith-ng in Pacemaker 1.1, pacemaker-fenced after.
        # Each line stamped with the node's clock where journalctl can (short-unix: systemd 231
        # and later; EL7's 219 cannot).
        ident = "stonith-ng" if self.legacy else "pacemaker-fenced"
        return _journal(ident, since, "cat" if self.legacy else "short-unix")

    def controller_log(self, since):
        """The controller's journal since `since` (node clock), each line stamped: where the
        drill reads when a resource's start finished. None on Pacemaker 1.1 (other wording,
        no short-unix)."""
        if self.legacy:
            return None
        return _journal("pacemaker-controld", since, "short-unix")

    def standby(self, node, on=True):
        verb = ("" if on else "un") + "standby"
        if self.legacy:
            return run("pcs", "cluster", verb, node, why=f"{verb} {node}")
        return run("pcs", "node", verb, node, why=f"{verb} {node}")

    def upgrade_packages(self):
        if self.package_manager == "apt":
            # Config files changed by hand stay as they are (confold) rather than stop the run.
            return [run("apt-get", "update", "-q", why="refresh the package index"),
                    _apt("-y", "-q", "-o", "Dpkg::Options::=--force-confdef",
                         "-o", "Dpkg::Options::=--force-confold", "upgrade",
                         why="upgrade the installed packages")]
        return [run(self.package_manager, "-y", "update", why="upgrade the installed packages")]

    def boot_id(self):
        return run("cat", "/proc/sys/kernel/random/boot_id")

    def reboot_soon(self):
        return reboot_soon()

    def move_group(self, group, node):
        return run("pcs", "resource", "move", group, node, why=f"move {group} to {node}")

    def clear_group(self, group):
        # pcs 0.11 removes the constraint a move made by itself; older pcs leaves it.
        return run("pcs", "resource", "clear", group, accept_codes=(0, 1),
                   why=f"drop the constraints a move of {group} left")

    def fence_node(self, node):
        return run("pcs", "stonith", "fence", node, why=f"fence {node}")

    def refresh_node(self, node_name, why):
        """Forget every resource's history on one node and probe them there again."""
        return run("crm_resource", "--refresh", "--node", node_name, why=why,
                   retry_transient=True)

    def cleanup_resources(self):
        return run("pcs", "resource", "cleanup", why="forget failed operations")

    def wait_settled(self, timeout_s):
        # Pacemaker's own wait (every generation since 1.1): no action pending in the
        # transition, probes of a node that just rejoined included.
        return run("crm_resource", "--wait", f"--timeout={timeout_s}s",
                   why="wait until the cluster has no pending action")


def _alert_xpath(alert_id):
    # Ids are NAME_RE words (config/model.py): no quote can end the predicate.
    return f"/cib/configuration/alerts/alert[@id='{alert_id}']"


def _journal(ident, since, output):
    """One daemon's journal since `since` (node clock, epoch seconds); exit 1 is an empty one."""
    return run("journalctl", "-t", ident, f"--since=@{since}", "-o", output, "--no-pager",
               accept_codes=(0, 1))


def _pairs(options):
    return [f"{k}={v}" for k, v in options]
