"""One changing run at a time: a lock on every host of the cluster, held for the whole run.

Each host holds the lock in a small bash process that the run keeps talking to over its own
SSH channel: flock(1) on /run/lock/halb.lock, with the holder's name written in the file. The
lock lives exactly as long as that process, so a run that is killed, or whose connection is
cut, loses it by itself (the process stops on end of input, or when the run has not been heard
from for HOLD_SILENCE_S); its name stays in the file, and the next run says whose lock it takes
over. Read-only tasks and dry runs never take it.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import threading
from datetime import UTC, datetime

import paramiko

from .commands import run
from .errors import UserError

LOCK_FILE = "/run/lock/halb.lock"
HOLD_SILENCE_S = 60  # the holder sends a line every KEEPALIVE_S; silence this long ends it
KEEPALIVE_S = 10
ANSWER_TIMEOUT_S = 30

# $1 the lock file, $2 this run's name, $3 the silence that ends the hold. Prints "busy" and
# the holder, or "held" and the name a holder that vanished left behind; then holds the lock
# until it reads "release" (the name is cleared) or its input ends or falls silent (the name
# stays: the next run reports it as taken over).
_HOLD = r"""f=$1; me=$2; silence=$3
exec 9<>"$f" || exit 70
if ! flock -n 9; then echo busy; head -n 1 "$f"; exit 75; fi
left=$(head -n 1 "$f")
printf '%s\n' "$me" > "$f"
echo "held${left:+ $left}"
while read -r -t "$silence" line; do
  if [ "$line" = release ]; then : > "$f"; exit 0; fi
done
exit 0
"""


def holder_name(task):
    """Who holds the lock, as one line: task, user@host, pid and since when (UTC)."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = (f"task {task} by {getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()}) "
            f"since {since}")
    return re.sub(r"[^\w@.:()\- ]", "_", name)


def hold_command(name):
    return run("bash", "-c", _HOLD, "bash", LOCK_FILE, name, str(HOLD_SILENCE_S),
               why="hold the cluster's run lock for this run")


class ClusterLock:
    """The lock on every host, taken in a fixed order (so of two runs that start together the
    one that gets the first host gets them all), released when the run ends."""

    def __init__(self, executor, hosts, task, say):
        self.executor = executor
        self.hosts = sorted(hosts, key=lambda host: host.name)
        self.name = holder_name(task)
        self.say = say
        self.channels = {}
        self.stop = threading.Event()
        self.keepalive = None

    def take(self):
        """Lock every host that answers; one that does not (powered off, the arbiter down) is
        named and skipped: no run can change it now, and a run that needs it fails there."""
        try:
            with self.executor.single_attempt():
                for host in self.hosts:
                    try:
                        conn = self.executor.connection(host)
                    except UserError as exc:
                        self.say(f"{host.name}: run lock not taken, the host does not answer "
                                 f"({exc})")
                        continue
                    self._take(host, conn)
        except BaseException:
            self.release()
            raise
        self.keepalive = threading.Thread(target=self._keep_alive, daemon=True)
        self.keepalive.start()

    def _take(self, host, conn):
        channel = conn.client.get_transport().open_session()
        channel.settimeout(ANSWER_TIMEOUT_S)
        channel.exec_command(self.executor.remote_line(hold_command(self.name)))
        answer = channel.makefile("r")
        try:
            first = answer.readline().rstrip("\n")
            if first == "busy":
                holder = answer.readline().strip() or "a run that did not leave its name"
                channel.close()
                raise UserError(
                    f"another halb run is changing this cluster: {holder} (lock on "
                    f"{host.name}, {LOCK_FILE}); nothing was changed. Run again once it ends; "
                    "the lock goes with that run's SSH connection")
        except (OSError, paramiko.SSHException) as exc:  # socket.timeout included
            channel.close()
            raise UserError(f"{host.name}: could not take the run lock ({LOCK_FILE}): "
                            f"{exc or type(exc).__name__}") from None
        if not first.startswith("held"):
            channel.close()
            raise UserError(f"{host.name}: could not take the run lock ({LOCK_FILE}): "
                            f"{first or 'no answer'} (it needs bash and flock on the host)")
        self.channels[host.name] = channel
        left = first[len("held"):].strip()
        if left:
            self.say(f"{host.name}: run lock taken over from {left}, which ended without "
                     "releasing it")

    def _keep_alive(self):
        while not self.stop.wait(KEEPALIVE_S):
            for channel in list(self.channels.values()):
                try:
                    channel.sendall(b"alive\n")
                except (OSError, paramiko.SSHException):
                    pass  # the host rebooted or went away: its lock went with it

    def release(self):
        self.stop.set()
        for name, channel in list(self.channels.items()):
            try:
                channel.sendall(b"release\n")
                channel.shutdown_write()
                channel.status_event.wait(5)  # the name is cleared before the lock is let go
            except (OSError, paramiko.SSHException):
                pass
            channel.close()
            del self.channels[name]
