"""`mailer bounces serve` as its own process, as Procfile runs it."""

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
                [sys.executable, "-m", "mailer", "bounces", "serve"],
                env=self.env,
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
