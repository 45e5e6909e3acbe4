"""A real Postfix (Debian's package) as the benchmark's SMTP server: accepts everything on
a loopback port, offers PIPELINING like any Postfix, and discards every mail.

Its own config directory, its queue on tmpfs (/dev/shm: no disk, so Postfix's fsync of
each queue file costs nothing), ``postfix start-fg`` as the bench's child in a process
group of its own; stopped with ``postfix stop``, then the whole group killed, so nothing
is left behind (see /work/shared/notes/postfix-private-instance.md for the pitfalls of a
private instance).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.harness.postfix import POSTFIX, master_cf, private_main_cf, run_postfix
from tests.harness.processes import free_port, pid_alive


class PostfixSink:
    def __init__(self, base: Path = Path("/dev/shm")) -> None:
        self.port = free_port()
        # Every directory above the queue must be searchable by the postfix user.
        self.dir = Path(tempfile.mkdtemp(prefix="mailer-bench-postfix-", dir=base))
        os.chmod(self.dir, 0o755)
        self.config = self.dir / "config"
        self.log = self.dir / "postfix.log"
        self.proc: subprocess.Popen[bytes] | None = None
        (self.dir / "bench.pid").write_text(str(os.getpid()))

    def _main_cf(self) -> str:
        head = private_main_cf(self.dir, self.log, "sink.mailer-bench.example")
        return (
            head
            + """smtpd_peername_lookup = no
default_transport = discard:benchmark sink
relay_transport = discard:benchmark sink
smtp_dns_support_level = disabled
smtputf8_enable = yes
# A benchmark sink: never slow the client down because the queue manager is behind.
in_flow_delay = 0
"""
        )

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_postfix(self.config, *args)

    def start(self) -> PostfixSink:
        self.config.mkdir()
        (self.config / "main.cf").write_text(self._main_cf())
        (self.config / "master.cf").write_text(master_cf(self.port))
        for sub in ("queue", "data"):
            (self.dir / sub).mkdir()
        shutil.chown(self.dir / "data", "postfix", "postfix")
        result = self._postfix("set-permissions")
        if result.returncode != 0:
            raise RuntimeError(f"postfix set-permissions failed: {result.stdout}{result.stderr}")
        check = self._postfix("check")
        if check.returncode != 0:
            raise RuntimeError(f"postfix check failed: {check.stdout}{check.stderr}")
        self.proc = subprocess.Popen(
            [POSTFIX, "-c", str(self.config), "start-fg"],
            stdin=subprocess.DEVNULL,
            stdout=open(self.dir / "start-fg.out", "wb"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills all of it
        )
        deadline = time.monotonic() + 60
        while not self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = (self.dir / "start-fg.out").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"postfix start-fg failed: {out}{self.log_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def accepted(self) -> int:
        """Mails Postfix took in (one queue id per accepted message in the log)."""
        return self.log_text().count("status=sent (benchmark sink)")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        try:
            master = int((self.dir / "queue" / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            master = 0
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._postfix("stop")
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
            # Whatever is left of the group (master, smtpd, qmgr, …) goes now.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        if master and pid_alive(master):
            # Its children notice the master's end and exit on their own.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(master, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def sweep_stale(base: Path = Path("/dev/shm")) -> int:
    """Stop what a bench killed without a chance to clean up (SIGKILL) left: instances
    whose bench is gone. Returns how many were stopped."""
    stopped = 0
    for directory in base.glob("mailer-bench-postfix-*"):
        try:
            owner = int((directory / "bench.pid").read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(owner):
            continue  # another bench's, running
        try:
            master = int((directory / "queue" / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            master = 0
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                [POSTFIX, "-c", str(directory / "config"), "stop"],
                capture_output=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
        if master and pid_alive(master):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(master, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)
        stopped += 1
    return stopped
