"""A private Postfix (Debian's package, no system-wide configuration) on a loopback port,
with its own config and queue directories, for tests and bench/.

It relays everything to ``relay_port`` (an aiosmtpd sink) and routes mail for the domains
in ``transports`` to their own loopback ports (the bounce listener): a port number means
SMTP, a string is the transport itself (``lmtp:inet:127.0.0.1:PORT``). With
``maximal_queue_lifetime = 0`` and ``bounce_queue_lifetime = 0`` a 4xx answer turns into
a DSN at once, so Postfix itself writes the bounces (see
/work/shared/notes/postfix-private-instance.md for what a first attempt tripped on).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.harness.processes import free_port, pid_alive, wait_until

POSTFIX = "/usr/sbin/postfix"
_SERVICE_LINE = re.compile(r"^(\S+)(\s+)(\S+)(\s+)(\S+)(\s+)(\S+)(\s+)(\S+)(\s+)(.*)$")


def master_cf(port: int) -> str:
    """Debian's master.cf with smtpd on our loopback port and nothing chrooted."""
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        match = _SERVICE_LINE.match(line)
        if line and not line[0].isspace() and not line.startswith("#") and match:
            fields = list(match.groups())
            if fields[0] == "smtp" and fields[2] == "inet":
                fields[0] = f"127.0.0.1:{port}"
            if fields[2] in ("inet", "unix", "fifo", "unix-dgram", "pass"):
                fields[8] = "n"  # chroot column
            line = "".join(fields)
        lines.append(line)
    return "\n".join(lines) + "\n"


def private_main_cf(directory: Path, log: Path, hostname: str) -> str:
    """The main.cf lines every private instance needs (Debian's own programs, its queue
    and log under ``directory``, loopback only, no local delivery); each user adds its
    transports."""
    domain = hostname.split(".", 1)[1]
    return f"""compatibility_level = 3.6
queue_directory = {directory}/queue
data_directory = {directory}/data
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
daemon_directory = /usr/lib/postfix/sbin
command_directory = /usr/sbin
mail_owner = postfix
setgid_group = postdrop
maillog_file = {log}
maillog_file_prefixes = {directory}
myhostname = {hostname}
mydomain = {domain}
myorigin = $myhostname
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
"""


def run_postfix(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``postfix -c CONFIG ARGS``. Postfix reports start-up errors only to a terminal or
    syslog: `script` gives it one."""
    command = " ".join([POSTFIX, "-c", str(config), *args])
    return subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def _transport(target: int | str) -> str:
    return target if isinstance(target, str) else f"smtp:[127.0.0.1]:{target}"


class PrivatePostfix:
    def __init__(self, relay_port: int, transports: dict[str, int | str]) -> None:
        self.port = free_port()
        self.relay_port = relay_port
        self.transports = transports
        # Every directory above the queue must be searchable by the postfix user: not
        # under pytest's private tmp.
        self.dir = Path(tempfile.mkdtemp(prefix="mailer-postfix-"))
        os.chmod(self.dir, 0o755)
        self.config = self.dir / "config"
        self.log = self.dir / "postfix.log"

    def _main_cf(self) -> str:
        head = private_main_cf(self.dir, self.log, "mx.mailer-test.example")
        return (
            head
            + f"""relayhost = [127.0.0.1]:{self.relay_port}
transport_maps = texthash:{self.config}/transport
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtputf8_enable = yes
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
"""
        )

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_postfix(self.config, *args)

    def start(self) -> PrivatePostfix:
        self.config.mkdir()
        (self.config / "main.cf").write_text(self._main_cf())
        (self.config / "transport").write_text(
            "".join(f"{d} {_transport(t)}\n" for d, t in self.transports.items())
        )
        (self.config / "master.cf").write_text(master_cf(self.port))
        for sub in ("queue", "data"):
            (self.dir / sub).mkdir()
        shutil.chown(self.dir / "data", "postfix", "postfix")
        result = self._postfix("set-permissions")
        if result.returncode != 0:
            raise RuntimeError(f"postfix set-permissions failed: {result.stdout}{result.stderr}")
        result = self._postfix("start")
        if result.returncode != 0:
            raise RuntimeError(f"postfix start failed: {result.stdout}{result.stderr}")
        wait_until(self._listening, f"postfix on 127.0.0.1:{self.port}")
        return self

    def _listening(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _master_pid(self) -> int | None:
        pid_file = self.dir / "queue" / "pid" / "master.pid"
        try:
            return int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        pid = self._master_pid()
        self._postfix("stop")
        if pid is not None:
            wait_until(lambda: not pid_alive(pid), "postfix to stop", timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
