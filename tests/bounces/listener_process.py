"""`mailer bounces serve` as its own process, exactly as Procfile's `bounces` line runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.harness.processes import ROOT, free_port, wait_until


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.partition(":")[2].strip()
    raise AssertionError(f"no {name} process in Procfile")


class ListenerProcess:
    def __init__(self, env: dict[str, str], log_path: Path, protocol: str = "smtp") -> None:
        self.port = free_port()
        self.env = {
            **env,
            "MAILER_BOUNCE_LISTEN": f"127.0.0.1:{self.port}",
            "MAILER_BOUNCE_PROTOCOL": protocol,
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ListenerProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", "exec " + procfile_command("bounces")],
                env={**self.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_until(lambda: _listening(self.port) or self.proc.poll() is not None, "listener")
        assert self.proc.poll() is None, self.log_path.read_text()
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
