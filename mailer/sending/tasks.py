"""Celery tasks of the sending domain: start a send, send a batch, dispatch, reconcile."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from mailer.config import Settings
from mailer.db import utcnow
from mailer.logs import log_context
from mailer.mail import smtp
from mailer.metrics import MAIL_OUTCOMES, instruments
from mailer.queue import enqueue
from mailer.runtime import runtime
from mailer.sending import batch, dispatch, ledger, recovery, service
from mailer.sending.pacing import RateLimiter, limiter_for

log = logging.getLogger(__name__)

# What one mail may take on a slow but working SMTP server, pacing aside.
SECONDS_PER_MAIL = 0.5


def batch_time_limits(
    send_rate: float, batch_size: int, smtp_timeout: float
) -> tuple[float, float]:
    """(soft, hard) seconds for one send batch: twice what its mails take at the send rate,
    plus a stuck connect and reply. The soft limit ends the batch like a crash would (at most
    one claimed group in doubt), so it must never cut a healthy batch short."""
    pacing = batch_size / send_rate if send_rate > 0 else 0.0
    soft = 2 * (pacing + batch_size * SECONDS_PER_MAIL) + 2 * smtp_timeout
    return soft, soft + smtp_timeout


def time_limits(settings: Settings) -> dict[str, tuple[float, float]]:
    timeout = settings.network.smtp_timeout_seconds
    return {
        "mailer.send_batch": batch_time_limits(settings.send_rate, batch.BATCH_SIZE, timeout),
        # Writes a delivery row per subscriber and queues the batches: large lists take a while.
        "mailer.start_send": (1800.0, 1860.0),
        "mailer.dispatch": (1800.0, 1860.0),
        "mailer.reconcile": (300.0, 330.0),
        "mailer.notify_paused": (timeout + 30, timeout + 60),
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    every = timedelta(seconds=settings.reconcile_interval_seconds)
    return {"reconcile-sends": {"task": "mailer.reconcile", "schedule": every}}


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
        # A batch that starts first replays the journals of runs on this host that have
        # ended without finishing (a pool child killed, a batch that failed): their rows
        # go back to the queue at once, the rest of the reconciler's work to its task.
        if recovery.recover(session, rt.settings, utcnow(), here_only=True).runs:
            enqueue(session, "mailer.reconcile")
            session.commit()
        with log_context(issue_id=issue_id):
            try:
                result = batch.send_batch(
                    session, rt.settings, rt.tokens, issue_id, delivery_ids, limiter=_limiter
                )
            except smtp.SMTPFailure as exc:
                # No connection at all (refused, greeting 421, TLS or AUTH failed).
                _count_smtp_error(exc)
                raise
            _count(result)
            log.info("issue %s batch of %s: %s", issue_id, len(delivery_ids), result)


def _count(result: batch.BatchResult) -> None:
    found = instruments()
    for outcome in MAIL_OUTCOMES:
        n = getattr(result, outcome)
        if n:
            found.mails.labels(outcome=outcome).inc(n)
    for error_class, n in result.smtp_errors.items():
        found.smtp_errors.labels(error_class).inc(n)


def _count_smtp_error(exc: smtp.SMTPFailure) -> None:
    if isinstance(exc, smtp.PermanentSMTPError):
        error_class = "permanent"
    elif isinstance(exc, smtp.InDoubtSMTPError):
        error_class = "in_doubt"
    else:
        error_class = "unavailable"
    instruments().smtp_errors.labels(error_class).inc()


@shared_task(name="mailer.reconcile")
def reconcile(at_start: bool = False) -> None:
    """Repair what a lost broker message or a stopped worker left; the database decides."""
    repaired = reconcile_now(utcnow())
    if repaired.runs or repaired.waiting:
        log.warning("reconciler: %s", repaired)
    if at_start:
        # Run in the worker's main process before it forks any more pool children: they
        # must not inherit its database connections.
        runtime().db.engine.dispose()


def reconcile_now(now: datetime) -> recovery.Repaired:
    """The reconciler with an explicit clock, so tests can step past the leases."""
    rt = runtime()
    return service.reconcile(rt.db, rt.settings, now)


@worker_ready.connect
def _reconcile_at_start(**_: object) -> None:
    """A worker that starts repairs at once what stopped workers on this host left (their
    journals are here), and the rest as the beat would: no waiting for a lease."""
    outcome = reconcile.apply(kwargs={"at_start": True})
    if outcome.failed():
        log.error("reconciling at worker start failed (the beat tries again): %s", outcome.result)


@shared_task(name="mailer.notify_paused")
def notify_paused(issue_id: int) -> None:
    from mailer.editors.notifications import notify_editors_paused  # worker memory: rare

    rt = runtime()
    with rt.db.session() as session:
        notify_editors_paused(session, rt.settings, issue_id)
