"""A scriptable SMTP server for the fault tests (Mailman's outgoing-runner tests do the
same): it answers 4xx/5xx on the nth command, hangs up after a message, holds the reply to
a chosen message until the test releases it, and logs every message it took in full.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.harness.processes import TIMEOUT
from tests.harness.smtp import LoopbackSMTP, OffersPipelining


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
    # With ``host``: the nth message of a connection from that address (the first there).
    host: str | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    recipient: str = ""
    peer: tuple[str, int] | None = None
    # Touched only on the server's event loop:
    released: bool = False
    event: asyncio.Event | None = None

    def matches(self, seq: int, connection: int, on_connection: int, peer_host: str) -> bool:
        if self.host is not None:
            return (self.host, self.nth) == (peer_host, on_connection)
        if self.connection is None:
            return self.nth == seq
        return (self.connection, self.nth) == (connection, on_connection)


_headers = email.parser.BytesHeaderParser(policy=email.policy.default)
_RCPT = re.compile(rb"RCPT TO:<([^>]*)>", re.IGNORECASE)


def _ahead(server: Any) -> bytes:
    """What the client sent that the server has received and not read yet."""
    reader = getattr(server, "_reader", None)
    return bytes(getattr(reader, "_buffer", b""))


def _close_after_reply(server: Any) -> None:
    # RFC 5321 3.8: a server that answers 421 closes the channel. The reply is written
    # before the next loop turn, and close() flushes it first.
    transport = server.transport
    if transport is not None:
        asyncio.get_running_loop().call_soon(transport.close)


class FaultHandler(OffersPipelining):
    """Accepts mail unless told otherwise; logs every message it received in full (and
    takes pipelined commands when ``pipelining`` is set)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.log: list[Logged] = []
        self.refused: list[tuple[str, int, str, str]] = []  # (command, n, address, reply)
        self.mail_count = 0
        self.rcpt_count = 0
        self.data_count = 0
        self.connections = 0
        self.pipelined_flights = 0  # MAIL commands that came with their RCPT behind them
        # Per message received: its recipient, and the recipient of the next mail's
        # envelope when that came right behind its content (announced, RFC 2920), or None.
        self.flights: list[tuple[str, str | None]] = []
        self.mail_replies: dict[int, str] = {}  # n-th MAIL command → a refusal
        self.rcpt_replies: dict[int, str] = {}  # n-th RCPT command → a refusal
        self.reject_mail: dict[str, str] = {}  # sender → refusal at MAIL, every time
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
        # A client that waits for each reply never has its next command in our buffer when
        # MAIL is handled; one that pipelines has RCPT and DATA there already.
        ahead = _ahead(server)
        with self.cond:
            if ahead.upper().startswith(b"RCPT"):
                self.pipelined_flights += 1
            if not hasattr(session, "fault_connection"):
                self.connections += 1
                session.fault_connection, session.fault_messages = self.connections, 0
            self.mail_count += 1
            n = self.mail_count
            reply = self.mail_replies.get(n) or self.reject_mail.get(address)
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
        # Not answered yet: a client that waits for this reply has sent nothing more.
        announced = _RCPT.search(_ahead(server))
        with self.cond:
            self.flights.append((recipient, announced[1].decode() if announced else None))
            self.data_count += 1
            session.fault_messages += 1
            seq = self.data_count
            where = (seq, session.fault_connection, session.fault_messages, session.peer[0])
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


class FaultSMTP(LoopbackSMTP):
    """The loopback SMTP server with the scriptable handler above."""

    handler: FaultHandler

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(FaultHandler(), host)
        self._made: list[Hold] = []

    def stop(self) -> None:
        self.release_all()
        super().stop()

    def hold(self, nth: int, connection: int | None = None, host: str | None = None) -> Hold:
        hold = Hold(nth, connection, host)
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
