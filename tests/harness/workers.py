"""The one launcher of real `python -m worker` processes (Celery's worker), for tests and bench/.

Each worker runs in a process group of its own, so that a test can kill it whole (main
process and pool children) and nothing it leaves behind outlives the run.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.harness.processes import ROOT, TIMEOUT, die_with_parent
from tests.harness.worker_ready import READY_FD

READY_LOADER = "tests.harness.worker_ready:ReadyLoader"


def end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group's leader and up to 30 s for it to end its own way, then SIGKILL
    to whatever of its process group is left."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(TIMEOUT)


class LogFile:
    """A process's log, read while it runs or after."""

    log_path: Path

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def celery_worker_command(concurrency: int, *options: str, loglevel: str = "INFO") -> list[str]:
    """`python -OO -m worker` (`celery worker` of worker.app), as Procfile runs it, without
    the cluster chatter."""
    return [
        sys.executable,
        "-OO",
        "-m",
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        *options,
    ]


class CeleryWorker(LogFile):
    """A real `celery worker` with the given environment, logging to ``log_path``."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        concurrency: int = 2,
        *,
        name: str | None = None,
        pool: str | None = None,
        loglevel: str = "INFO",
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.name = name
        self.pool = pool
        self.loglevel = loglevel
        self.proc: subprocess.Popen[bytes] | None = None
        self.killed = False
        self._ready_fd: int | None = None

    def command(self) -> list[str]:
        options = [f"--pool={self.pool}"] if self.pool else []
        if self.name:
            options.append(f"--hostname={self.name}@%h")
        return celery_worker_command(self.concurrency, *options, loglevel=self.loglevel)

    def start(self) -> CeleryWorker:
        """Start the worker; ``wait_ready()`` blocks until it takes tasks."""
        read_fd, write_fd = os.pipe()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                # Celery's `--loader`, which `python -m worker` takes from the environment.
                env={**self.env, READY_FD: str(write_fd), "CELERY_LOADER": READY_LOADER},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(write_fd,),
                preexec_fn=die_with_parent,
            )
        os.close(write_fd)
        self._ready_fd = read_fd
        return self

    def wait_ready(self, timeout: float = 120) -> CeleryWorker:
        """Block until the worker's ``worker_ready`` signal has written to our pipe."""
        assert self.proc is not None and self._ready_fd is not None, "start() first"
        deadline = time.monotonic() + timeout
        try:
            while True:
                # Woken by the line (or by EOF if the worker died); the timeout of each
                # select only lets us notice a worker that exited while a child holds the pipe.
                readable, _, _ = select.select([self._ready_fd], [], [], 0.5)
                if readable:
                    if os.read(self._ready_fd, 64):
                        return self
                    raise AssertionError(
                        f"the worker exited before it was ready:\n{self.log_tail()}"
                    )
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"the worker exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"the worker was not ready in {timeout:.0f}s:\n{self.log_tail()}"
                    )
        finally:
            os.close(self._ready_fd)
            self._ready_fd = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []

    def child_talking_from(self, peer: tuple[str, int], smtp_port: int) -> psutil.Process:
        """The pool process whose socket is the SMTP server's peer."""
        for child in self.children():
            try:
                connections = child.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            for conn in connections:
                if conn.raddr and conn.raddr.port == smtp_port and conn.laddr.port == peer[1]:
                    return child
        raise AssertionError(f"no child of worker {self.pid} holds the SMTP connection {peer}")

    def kill_child(self, child: psutil.Process) -> None:
        child.send_signal(signal.SIGKILL)
        child.wait(TIMEOUT)

    def kill_all(self) -> None:
        """kill -9 of the whole worker: the main process and every pool child at once."""
        assert self.proc is not None
        members = [psutil.Process(self.pid), *self.children()]
        self.killed = True
        os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(TIMEOUT)
        _, alive = psutil.wait_procs(members, timeout=TIMEOUT)
        assert not alive, f"still running after SIGKILL: {alive}"

    def stop(self) -> None:
        """SIGTERM to the main process: Celery's warm shutdown, which ends the pool
        children (sent to the whole group, it left a prefork worker with four children
        hanging for 30 s); whatever of the group is left after that, or after 30 s, is
        killed."""
        if self._ready_fd is not None:
            os.close(self._ready_fd)
            self._ready_fd = None
        if self.proc is not None:
            end_group(self.proc)


class CeleryBeat(LogFile):
    """A real `celery -A worker.app beat`, as Procfile runs it, with a schedule file of its
    own (not the one in MAILER_VAR_DIR) and in a process group of its own."""

    def __init__(self, env: dict[str, str], log_path: Path, schedule_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.schedule_path = schedule_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CeleryBeat:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.app",
            "beat",
            "--loglevel=INFO",
            f"--schedule={self.schedule_path}",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            end_group(self.proc)
