"""The SMTP / LMTP listener the bounce domain's MTA hands returned mail to.

It stores each report (committed, its processing queued) before it answers 250; when it
cannot store, it answers 451 so that its own MTA keeps the mail and tries again: never a
5xx for a report it could not keep (only for one over the size cap). Parsing happens later
in the worker (mailer.bounces.tasks), so no mail, however malformed, can crash it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession

from mailer.bounces.service import store_report
from mailer.config import Settings
from mailer.db import Database

log = logging.getLogger(__name__)

OK = "250 2.0.0 report stored"
CANNOT_STORE = "451 4.3.0 cannot store the report now, try again later"
SLOW_DOWN = "451 4.7.1 too many reports from this host, try again later"
# Per sending host: a burst of this many reports, then this many a second. Our own MTA
# after a large send stays well inside; a flood is told to come back later (4xx).
BURST = 500
PER_SECOND = 100.0
# Stores at once: each takes a database connection from the pool.
MAX_CONCURRENT_STORES = 4

Store = Callable[[bytes, str], None]


def database_store(db: Database, settings: Settings, source: str) -> Store:
    def store(raw: bytes, envelope_to: str) -> None:
        with db.session() as session:
            store_report(session, settings, source, raw, envelope_to=envelope_to)

    return store


class PeerLimiter:
    """A token bucket per peer address (the listener is an asyncio loop: no lock needed)."""

    def __init__(
        self,
        burst: int = BURST,
        rate: float = PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.rate = rate
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, peer: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(peer, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if len(self._buckets) > 10_000:
            self._buckets.clear()  # a scan from many addresses must not grow memory
        if tokens < 1.0:
            self._buckets[peer] = (tokens, now)
            return False
        self._buckets[peer] = (tokens - 1.0, now)
        return True


class ReportHandler:
    def __init__(
        self, store: Store, lmtp: bool = False, limiter: PeerLimiter | None = None
    ) -> None:
        self.store = store
        self.lmtp = lmtp
        self.limiter = limiter or PeerLimiter()
        self._slots: asyncio.Semaphore | None = None

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SMTPSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= 100:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def _store_one(self, raw: bytes, envelope_to: str) -> str:
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_CONCURRENT_STORES)
        async with self._slots:
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, self.store, raw, envelope_to)
            except Exception:
                log.exception("could not store a bounce report for %s", envelope_to[:100])
                return CANNOT_STORE
        return OK

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        if not self.limiter.allow(peer):
            return SLOW_DOWN
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        recipients = [r for r in envelope.rcpt_tos] or [""]
        statuses = [await self._store_one(raw, rcpt) for rcpt in recipients]
        if self.lmtp:
            # LMTP answers once per recipient, in order (RFC 2033).
            return "\r\n".join(statuses)
        return CANNOT_STORE if CANNOT_STORE in statuses else OK


class ReportListener(Controller):
    def __init__(
        self,
        store: Store,
        host: str,
        port: int,
        *,
        lmtp: bool = False,
        max_bytes: int,
        limiter: PeerLimiter | None = None,
    ) -> None:
        self.lmtp = lmtp
        self.max_bytes = max_bytes
        super().__init__(ReportHandler(store, lmtp, limiter), hostname=host, port=port)

    def factory(self) -> SMTP:
        options: dict[str, Any] = {
            "data_size_limit": self.max_bytes,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "hostname": "mailer-bounces",
        }
        if self.lmtp:
            return LMTP(self.handler, **options)
        return SMTP(self.handler, **options)


def listener_for(db: Database, settings: Settings) -> ReportListener:
    protocol = settings.bounces.protocol
    return ReportListener(
        database_store(db, settings, protocol),
        settings.bounces.listen_host,
        settings.bounces.listen_port,
        lmtp=protocol == "lmtp",
        max_bytes=settings.bounces.max_bytes,
    )
