"""Thin tasks: take ids, call one domain function, queue what comes next after the commit."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from mailer import sending
from mailer.app import runtime
from mailer.confirmation import send_confirmation_mail
from mailer.feeds import FeedError, import_feed
from mailer.models import Feed
from mailer.smtp import TemporarySMTPError
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


def _queue_batches(issue_id: int, delivery_ids: list[int]) -> None:
    rt = runtime()
    for batch in sending.batches(delivery_ids):
        with rt.db.session() as session:
            sending.mark_enqueued(session, batch)
            session.commit()
        enqueue(current_app, "mailer.send_batch", issue_id, batch)


@shared_task(name="mailer.start_send")
def start_send(issue_id: int) -> None:
    rt = runtime()
    with rt.db.session() as session:
        queued = sending.create_deliveries(session, issue_id)
        sending.finish_if_done(session, issue_id)
        session.commit()
    _queue_batches(issue_id, queued)


@shared_task(name="mailer.send_batch")
def send_batch(issue_id: int, delivery_ids: list[int]) -> None:
    rt = runtime()
    with rt.db.session() as session:
        result = sending.send_batch(session, rt.settings, rt.tokens, issue_id, delivery_ids)
    log.info("issue %s batch: %s", issue_id, result)


@shared_task(name="mailer.reconcile")
def reconcile() -> None:
    """Repair what a lost broker message or a dead worker left behind; the database decides."""
    rt = runtime()
    with rt.db.session() as session:
        sending.mark_stale_claims_in_doubt(session)
        awaiting = sending.issues_awaiting_deliveries(session)
        stale = sending.stale_queued(session)
        session.commit()
    for issue_id in awaiting:
        enqueue(current_app, "mailer.start_send", issue_id)
    for issue_id, ids in stale.items():
        _queue_batches(issue_id, ids)
    with rt.db.session() as session:
        for issue_id in set(stale) | set(awaiting):
            sending.finish_if_done(session, issue_id)
        session.commit()


@shared_task(name="mailer.poll_feeds")
def poll_feeds() -> None:
    rt = runtime()
    with rt.db.session() as session:
        urls = list(session.scalars(Feed.__table__.select().with_only_columns(Feed.url)))
    for url in urls:
        with rt.db.session() as session:
            try:
                import_feed(session, url)
            except FeedError as exc:
                log.warning("feed %s: %s", url, exc)
            session.commit()
