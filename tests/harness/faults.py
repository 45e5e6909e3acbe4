"""Real parts to break on purpose: a scriptable SMTP server, Celery workers that can be
killed, a private redis-server and a throwaway PostgreSQL cluster.

Nothing here sleeps: every wait is on an event or condition, or polls a condition
against a hard deadline (``wait_until``).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
from aiosmtpd.controller import Controller

from tests.harness.servers import ROOT, celery_worker_command, free_port

TIMEOUT = 60.0

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], what: str, timeout: float = TIMEOUT, interval: float = 0.05
) -> T:
    """Check ``condition`` until it is truthy; fail once ``timeout`` has passed.

    Synchronisation with another process, not a timing assertion: the deadline only
    turns a hang into a clear failure.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}")
        pause.wait(interval)


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class Logged:
    """One message the server received in full (the client sent the final dot)."""

    seq: int
    peer: tuple[str, int]
    recipient: str
    message_id: str
    reply: str
    # The server took it: answered 250, or hung up / lost the client after the final
    # dot, when a real MTA has already queued it. Such a copy may be in the mailbox.
    delivered: bool


@dataclass
class Hold:
    """Keeps the reply to the ``nth`` message back until the test releases it: the nth
    the server received, or with ``connection`` the nth on that connection (numbered in
    the order of their first MAIL)."""

    nth: int
    connection: int | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    recipient: str = ""
    peer: tuple[str, int] | None = None
    # Touched only on the server's event loop:
    released: bool = False
    event: asyncio.Event | None = None

    def matches(self, seq: int, connection: int, on_connection: int) -> bool:
        if self.connection is None:
            return self.nth == seq
        return (self.connection, self.nth) == (connection, on_connection)


_headers = email.parser.BytesHeaderParser(policy=email.policy.default)


def _close_after_reply(server: Any) -> None:
    # RFC 5321 3.8: a server that answers 421 closes the channel. The reply is written
    # before the next loop turn, and close() flushes it first.
    transport = server.transport
    if transport is not None:
        asyncio.get_running_loop().call_soon(transport.close)


class FaultHandler:
    """Accepts mail unless told otherwise; logs every message it received in full."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.log: list[Logged] = []
        self.refused: list[tuple[str, int, str, str]] = []  # (command, n, address, reply)
        self.mail_count = 0
        self.rcpt_count = 0
        self.data_count = 0
        self.connections = 0
        self.mail_replies: dict[int, str] = {}  # n-th MAIL command → a refusal
        self.rcpt_replies: dict[int, str] = {}  # n-th RCPT command → a refusal
        self.reject_rcpt: dict[str, str] = {}  # address → refusal at RCPT, every time
        self.reject_data: dict[str, str] = {}  # address → reply to its message, every time
        self.drop_after_data: set[str] = set()  # hang up once the message is in
        self.holds: list[Hold] = []

    def _refuse(self, server: Any, command: str, n: int, address: str, reply: str) -> str:
        with self.cond:
            self.refused.append((command, n, address, reply))
            self.cond.notify_all()
        if reply.startswith("421"):
            _close_after_reply(server)
        return reply

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.cond:
            if not hasattr(session, "fault_connection"):
                self.connections += 1
                session.fault_connection, session.fault_messages = self.connections, 0
            self.mail_count += 1
            n = self.mail_count
            reply = self.mail_replies.get(n)
        if reply:
            return self._refuse(server, "MAIL", n, address, reply)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.cond:
            self.rcpt_count += 1
            n = self.rcpt_count
            reply = self.rcpt_replies.get(n) or self.reject_rcpt.get(address)
        if reply:
            return self._refuse(server, "RCPT", n, address, reply)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        [recipient] = envelope.rcpt_tos
        message_id = str(_headers.parsebytes(envelope.original_content)["Message-ID"] or "")
        with self.cond:
            self.data_count += 1
            session.fault_messages += 1
            seq = self.data_count
            where = (seq, session.fault_connection, session.fault_messages)
            hold = next((h for h in self.holds if h.matches(*where)), None)
            if hold is not None:
                self.holds.remove(hold)
        reply = self.reject_data.get(recipient, "250 2.0.0 Message accepted")
        delivered = reply.startswith("250")
        if recipient in self.drop_after_data:
            reply, delivered = "(hung up after the message)", True
            server.transport.close()
        elif hold is not None and not hold.released:
            hold.recipient, hold.peer = recipient, session.peer
            hold.event = asyncio.Event()
            hold.arrived.set()
            try:
                await hold.event.wait()
            except asyncio.CancelledError:
                # The client died while we held the reply; we have the whole message.
                self._log(Logged(seq, session.peer, recipient, message_id, "(client gone)", True))
                hold.done.set()
                raise
        self._log(Logged(seq, session.peer, recipient, message_id, reply, delivered))
        if hold is not None:
            hold.done.set()
        return reply

    def _log(self, entry: Logged) -> None:
        with self.cond:
            self.log.append(entry)
            self.cond.notify_all()


class FaultSMTP:
    def __init__(self) -> None:
        self.port = free_port()
        self.handler = FaultHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._made: list[Hold] = []

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.release_all()
        self.controller.stop()

    def hold(self, nth: int, connection: int | None = None) -> Hold:
        hold = Hold(nth, connection)
        with self.handler.cond:
            self.handler.holds.append(hold)
        self._made.append(hold)
        return hold

    def release(self, hold: Hold, timeout: float = TIMEOUT) -> None:
        """Let the server answer; returns once the answer is decided and logged."""
        self.controller.loop.call_soon_threadsafe(self._release_on_loop, hold)
        if hold.arrived.is_set() and not hold.done.wait(timeout):
            raise AssertionError(f"the held message {hold} was never answered")

    @staticmethod
    def _release_on_loop(hold: Hold) -> None:
        hold.released = True
        if hold.event is not None:
            hold.event.set()

    def release_all(self) -> None:
        """Release every hold, reached or not (a hold released early never holds)."""
        for hold in self._made:
            self.controller.loop.call_soon_threadsafe(self._release_on_loop, hold)

    def logged(self) -> list[Logged]:
        with self.handler.cond:
            return list(self.handler.log)

    def refused(self) -> list[tuple[str, int, str, str]]:
        with self.handler.cond:
            return list(self.handler.refused)

    def delivered(self) -> Counter[str]:
        return Counter(e.recipient for e in self.logged() if e.delivered)

    def seen(self, condition: Callable[[FaultHandler], bool], timeout: float) -> bool:
        """Block up to ``timeout`` until ``condition(handler)`` holds; woken by every event."""
        with self.handler.cond:
            return self.handler.cond.wait_for(lambda: condition(self.handler), timeout)


# --------------------------------------------------------------------------- Celery


class Worker:
    """A real `celery worker` (prefork) in its own process group, which we may kill."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int, name: str) -> None:
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.killed = False

    def start(self) -> Worker:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                celery_worker_command(
                    self.concurrency, "--pool=prefork", f"--hostname={self.name}@%h"
                ),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

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
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of the group, main process or orphaned children
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(TIMEOUT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


# --------------------------------------------------------------------------- Redis


class RedisServer:
    """A private redis-server without persistence: a restart comes back empty."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise AssertionError("redis-server is not installed; the fault tests need it")
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    exe,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        import redis

        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        client = self.client()
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)


# --------------------------------------------------------------------------- PostgreSQL


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parent.parent.name
    return tuple(int(p) for p in part.split(".") if p.isdigit())


class PostgresCluster:
    """A throwaway cluster of its own (initdb in a temporary directory, its own port)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
        if not found:
            raise AssertionError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mailer-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.sockets.mkdir()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            # initdb refuses to run as root: the cluster belongs to the postgres user.
            user = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        self.running = False

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Output to a file, not a pipe: the postmaster outlives pg_ctl and would keep it open.
        with open(self.root / "commands.log", "ab") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=120)
        if done.returncode:
            output = (self.root / "commands.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"{program} {' '.join(args)} failed:\n{output}")

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def create_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
