"""The SMTP sink (aiosmtpd on a free loopback port) that tests and bench/ send to.

One handler, two ways to run it: ``SMTPSink`` in a thread of the test process keeps
every mail and can hold or refuse; ``SinkProcess`` runs it in a process of its own that
only counts mails and bytes, so that the bench's sink neither shares a GIL with the
bench nor keeps a million messages. ``LoopbackSMTP`` is the part both share with the
scriptable server of the fault tests (tests.harness.smtp_faults).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import multiprocessing as mp
import signal
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from multiprocessing.connection import Connection
from typing import Any, Protocol

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.harness.processes import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return str(part.get_content())
        raise AssertionError(f"no {content_type} part")


class Number(Protocol):
    value: int


@dataclass
class LocalNumber:
    value: int = 0


class OffersPipelining:
    """Makes an aiosmtpd handler offer PIPELINING (RFC 2920) in its EHLO reply when
    ``pipelining`` is set. aiosmtpd reads commands one line at a time from its stream, so
    it takes a pipelined flight as it comes; it only never says it does."""

    pipelining = False

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when no hook is set
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses


class SinkHandler(OffersPipelining):
    """Accepts everything unless told otherwise; counts mails and bytes, keeps the mails
    when ``keep``, and wakes waiters on each accepted one."""

    def __init__(
        self,
        keep: bool = True,
        count: Number | None = None,
        nbytes: Number | None = None,
        pipelining: bool = False,
    ) -> None:
        self.pipelining = pipelining
        self.keep = keep
        self.count: Number = count if count is not None else LocalNumber()
        self.nbytes: Number = nbytes if nbytes is not None else LocalNumber()
        self.messages: list[Received] = []
        self.cond = threading.Condition()
        self.reject: dict[str, str] = {}  # recipient → SMTP reply for RCPT
        # Cleared by a test that needs a send to stay in flight: RCPT waits until it is set.
        self.gate = threading.Event()
        self.gate.set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if not self.gate.is_set():
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait)
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or b""
        with self.cond:
            self.count.value += 1
            self.nbytes.value += len(data)
            if self.keep:
                self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data))
            self.cond.notify_all()
        return "250 Message accepted"


class LoopbackSMTP:
    """An aiosmtpd server on 127.0.0.1:<free port> (or ``host``), run by a thread of this
    process."""

    def __init__(self, handler: Any, host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.host = host
        self.handler = handler
        self.controller = Controller(handler, hostname=host, port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class SMTPSink(LoopbackSMTP):
    handler: SinkHandler

    def __init__(self) -> None:
        super().__init__(SinkHandler())

    def stop(self) -> None:
        self.release()
        super().stop()

    @property
    def messages(self) -> list[Received]:
        with self.handler.cond:
            return list(self.handler.messages)

    def clear(self) -> None:
        with self.handler.cond:
            self.handler.messages.clear()
            self.handler.reject.clear()
        self.handler.gate.set()

    def hold(self) -> None:
        """Hold every SMTP transaction at RCPT until release(): a send stays in flight."""
        self.handler.gate.clear()

    def release(self) -> None:
        self.handler.gate.set()

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        """Block until at least ``count`` mails have arrived (woken by each arrival)."""
        with self.handler.cond:
            ok = self.handler.cond.wait_for(lambda: len(self.handler.messages) >= count, timeout)
            got = list(self.handler.messages)
        if not ok:
            raise AssertionError(f"expected {count} mails within {timeout}s, got {len(got)}")
        return got

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


def _serve_counting(
    conn: Connection, count: Number, nbytes: Number, hostname: str, pipelining: bool
) -> None:
    """The body of SinkProcess: the sink handler on its own event loop, counting only."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    handler = SinkHandler(keep=False, count=count, nbytes=nbytes, pipelining=pipelining)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(handler, hostname=hostname, loop=loop), "127.0.0.1", 0)
    )
    conn.send(server.sockets[0].getsockname()[1])
    conn.close()
    loop.run_forever()


class SinkProcess:
    """The sink in a spawned process of its own that only counts mails and bytes."""

    def __init__(self, hostname: str = "sink.bench", pipelining: bool = False) -> None:
        ctx = mp.get_context("spawn")
        # Written by the sink's one event-loop thread only; aligned 8-byte ints read whole.
        self._count = ctx.RawValue("q", 0)
        self._bytes = ctx.RawValue("q", 0)
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_serve_counting,
            args=(child, self._count, self._bytes, hostname, pipelining),
            name="smtp-sink",
        )
        self.proc.start()
        if not parent.poll(30):
            raise RuntimeError("the SMTP sink did not start")
        self.port: int = parent.recv()

    @property
    def count(self) -> int:
        return int(self._count.value)

    @property
    def nbytes(self) -> int:
        return int(self._bytes.value)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the sink process has used so far."""
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def reset(self) -> None:
        """Only between phases, when no client is connected."""
        self._count.value = 0
        self._bytes.value = 0

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()
