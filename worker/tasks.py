"""Thin tasks: take ids, call one domain function, queue what comes next after the commit."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from flask import current_app

from mailer.db import utcnow
from mailer.mail.smtp import TemporarySMTPError
from mailer.runtime import runtime
from mailer.sending import batch as sending
from mailer.sending import dispatch, ledger
from mailer.sending.pacing import limiter_for
from mailer.subscribers.confirmation import send_confirmation_mail
from worker.celery_app import enqueue

log = logging.getLogger(__name__)


@shared_task(
    name="mailer.send_confirmation",
    autoretry_for=(TemporarySMTPError,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
)
def send_confirmation(subscription_id: int) -> None:
    rt = runtime()
    with rt.db.session() as session:
        send_confirmation_mail(session, rt.settings, rt.tokens, subscription_id)


@shared_task(
    name="mailer.send_data_export",
    autoretry_for=(TemporarySMTPError,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
)
def send_data_export(subscription_id: int) -> None:
    from mailer.subscribers.export import send_export_mail

    rt = runtime()
    with rt.db.session() as session:
        send_export_mail(session, rt.settings, rt.tokens, subscription_id)


@shared_task(name="mailer.cleanup_pending")
def cleanup_pending() -> None:
    """Delete signups nobody confirmed within MAILER_PENDING_DAYS (beat, nightly)."""
    from mailer.subscribers.cleanup import delete_stale_pending

    rt = runtime()
    with rt.db.session() as session:
        result = delete_stale_pending(session, utcnow(), rt.settings.pending_days)
        session.commit()
    log.info("pending clean-up: %s", result)


def queue_issue(issue_id: int, now: datetime, stale_only: bool = False) -> int:
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def hand_over(issue: int, ids: list[int]) -> None:
        enqueue(app, "mailer.send_batch", issue, ids)

    return dispatch.queue_issue(
        runtime().db,
        hand_over,
        issue_id,
        now,
        page_size=sending.BATCH_SIZE,
        stale_only=stale_only,
    )


@shared_task(name="mailer.start_send")
def start_send(issue_id: int) -> None:
    rt = runtime()
    with rt.db.session() as session:
        ledger.create_deliveries(session, issue_id)
        ledger.finish_if_done(session, issue_id)
        session.commit()
    queue_issue(issue_id, utcnow())


_limiter = None


@shared_task(name="mailer.send_batch")
def send_batch(issue_id: int, delivery_ids: list[int]) -> None:
    global _limiter
    rt = runtime()
    if _limiter is None:
        _limiter = limiter_for(rt.settings)
    with rt.db.session() as session:
        result = sending.send_batch(
            session, rt.settings, rt.tokens, issue_id, delivery_ids, limiter=_limiter
        )
    log.info("issue %s batch of %s: %s", issue_id, len(delivery_ids), result)
    if result.paused:
        enqueue(current_app, "mailer.notify_paused", issue_id)


@shared_task(name="mailer.reconcile")
def reconcile() -> None:
    """Repair what a lost broker message or a dead worker left behind; the database decides."""
    reconcile_now(utcnow())


def reconcile_now(now: datetime) -> None:
    """The reconciler with an explicit clock, so tests can step past the leases."""
    rt = runtime()
    with rt.db.session() as session:
        ledger.mark_stale_claims_in_doubt(session, now)
        awaiting = ledger.issues_awaiting_deliveries(session, now)
        sending_ids = ledger.sending_issue_ids(session)
        for issue_id in sending_ids:
            ledger.finish_if_done(session, issue_id)
        session.commit()
    for issue_id in awaiting:
        enqueue(current_app, "mailer.start_send", issue_id)
    for issue_id in sending_ids:
        queue_issue(issue_id, now, stale_only=True)


@shared_task(name="mailer.start_scheduled")
def start_scheduled() -> None:
    """Start the scheduled issues whose time has come (beat, every minute)."""
    start_scheduled_now(utcnow())


def start_scheduled_now(now: datetime) -> list[int]:
    from mailer.issues.scheduling import start_due

    with runtime().db.session() as session:
        started = start_due(session, now)
        session.commit()
    for issue_id in started:
        enqueue(current_app, "mailer.start_send", issue_id)
    return started


@shared_task(name="mailer.notify_paused")
def notify_paused(issue_id: int) -> None:
    from mailer.editors.notifications import notify_editors_paused

    rt = runtime()
    with rt.db.session() as session:
        notify_editors_paused(session, rt.settings, issue_id)


@shared_task(name="mailer.poll_feeds")
def poll_feeds() -> list[int]:
    """One task per feed: each has its own time limit, and one stuck feed holds up no other."""
    from mailer.articles.registry import feed_ids

    with runtime().db.session() as session:
        ids = feed_ids(session)
    for feed_id in ids:
        enqueue(current_app, "mailer.poll_feed", feed_id)
    return ids


@shared_task(name="mailer.poll_feed")
def poll_feed(feed_id: int) -> None:
    # Imported here: the sending processes never need feedparser.
    from mailer.articles.registry import poll_one

    rt = runtime()
    outcome = poll_one(rt.db, rt.settings, feed_id)
    if outcome is not None and outcome.error:
        log.warning("feed %s: %s", outcome.url, outcome.error)


@shared_task(name="mailer.monthly_digest")
def monthly_digest() -> None:
    from mailer.editors.notifications import notify_editors_draft_ready
    from mailer.issues.monthly import draft_monthly

    rt = runtime()
    with rt.db.session() as session:
        outcome = draft_monthly(session, utcnow(), rt.settings.digest_autosend)
    log.info("monthly digest: %s", outcome)
    if outcome.send and outcome.issue_id is not None:
        enqueue(current_app, "mailer.start_send", outcome.issue_id)
    elif outcome.created and outcome.issue_id is not None:
        with rt.db.session() as session:
            notify_editors_draft_ready(session, rt.settings, outcome.issue_id)
