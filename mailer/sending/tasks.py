"""Celery tasks of the sending domain: start a send, send a batch, dispatch, reconcile."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task

from mailer.config import Settings
from mailer.db import utcnow
from mailer.mail import smtp
from mailer.runtime import runtime
from mailer.sending import batch, dispatch, ledger
from mailer.sending.pacing import RateLimiter, limiter_for

log = logging.getLogger(__name__)

# What one mail may take on a slow but working SMTP server, pacing aside.
SECONDS_PER_MAIL = 0.5


def batch_time_limits(send_rate: float, batch_size: int) -> tuple[float, float]:
    """(soft, hard) seconds for one send batch: twice what its mails take at the send rate,
    plus a stuck connect and reply. The soft limit ends the batch like a crash would (at most
    one claimed group in doubt), so it must never cut a healthy batch short."""
    pacing = batch_size / send_rate if send_rate > 0 else 0.0
    soft = 2 * (pacing + batch_size * SECONDS_PER_MAIL) + 2 * smtp.TIMEOUT_SECONDS
    return soft, soft + smtp.TIMEOUT_SECONDS


def time_limits(settings: Settings) -> dict[str, tuple[float, float]]:
    return {
        "mailer.send_batch": batch_time_limits(settings.send_rate, batch.BATCH_SIZE),
        # Writes a delivery row per subscriber and queues the batches: large lists take a while.
        "mailer.start_send": (1800.0, 1860.0),
        "mailer.dispatch": (1800.0, 1860.0),
        "mailer.reconcile": (300.0, 330.0),
        "mailer.notify_paused": (smtp.TIMEOUT_SECONDS + 30, smtp.TIMEOUT_SECONDS + 60),
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {"reconcile-sends": {"task": "mailer.reconcile", "schedule": timedelta(minutes=1)}}


def queue_issue(issue_id: int, now: datetime, stale_only: bool = False) -> int:
    return dispatch.queue_issue(
        runtime().db, issue_id, now, page_size=batch.BATCH_SIZE, stale_only=stale_only
    )


@shared_task(name="mailer.start_send")
def start_send(issue_id: int) -> None:
    rt = runtime()
    with rt.db.session() as session:
        ledger.create_deliveries(session, issue_id)
        ledger.finish_if_done(session, issue_id)
        session.commit()
    queue_issue(issue_id, utcnow())


@shared_task(name="mailer.dispatch")
def dispatch_issue(issue_id: int) -> None:
    """Hand the rows still queued to the broker (after a resume or a resend)."""
    queue_issue(issue_id, utcnow())


_limiter: RateLimiter | None = None


@shared_task(name="mailer.send_batch")
def send_batch(issue_id: int, delivery_ids: list[int]) -> None:
    global _limiter
    rt = runtime()
    if _limiter is None:
        _limiter = limiter_for(rt.settings)
    with rt.db.session() as session:
        result = batch.send_batch(
            session, rt.settings, rt.tokens, issue_id, delivery_ids, limiter=_limiter
        )
    log.info("issue %s batch of %s: %s", issue_id, len(delivery_ids), result)


@shared_task(name="mailer.reconcile")
def reconcile() -> None:
    """Repair what a lost broker message or a dead worker left behind; the database decides."""
    reconcile_now(utcnow())


def reconcile_now(now: datetime) -> None:
    """The reconciler with an explicit clock, so tests can step past the leases."""
    with runtime().db.session() as session:
        sending_ids = ledger.reconcile(session, now)
        session.commit()
    for issue_id in sending_ids:
        queue_issue(issue_id, now, stale_only=True)


@shared_task(name="mailer.notify_paused")
def notify_paused(issue_id: int) -> None:
    from mailer.editors.notifications import notify_editors_paused  # worker memory: rare

    rt = runtime()
    with rt.db.session() as session:
        notify_editors_paused(session, rt.settings, issue_id)
