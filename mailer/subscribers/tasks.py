"""Celery tasks of the subscriber domain: thin shells that take ids and call one function."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.schedules import crontab

from mailer.config import Settings
from mailer.db import utcnow
from mailer.mail.smtp import TemporarySMTPError
from mailer.runtime import runtime
from mailer.subscribers.confirmation import (
    CHUNK,
    LOST_SWEEP_MINUTES,
    queue_lost,
    send_confirmation_mail,
    send_confirmation_mails,
)

log = logging.getLogger(__name__)

# A one-off mail waits out a server that answers 4xx or is down: up to 8 tries, backing
# off from 5 s to 10 min.
RETRY_WHILE_SMTP_IS_DOWN: dict[str, Any] = {
    "autoretry_for": (TemporarySMTPError,),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "max_retries": 8,
}


def time_limits(settings: Settings) -> dict[str, tuple[float, float]]:
    # A one-off mail: a slow but working SMTP server, twice, then the slot is freed.
    timeout = settings.network.smtp_timeout_seconds
    one_mail = (timeout + 30.0, timeout + 60.0)
    return {
        "mailer.send_confirmation": one_mail,
        # A chunk's mails share one connection: each a second at most on a working server,
        # with room for one slow answer.
        "mailer.send_confirmations": (one_mail[0] + CHUNK, one_mail[1] + CHUNK),
        "mailer.send_data_export": (one_mail[0] + 30, one_mail[1] + 30),
        "mailer.send_welcome": one_mail,
        "mailer.cleanup_pending": (600.0, 660.0),
        "mailer.queue_lost_confirmations": (120.0, 150.0),
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    # Unconfirmed signups older than MAILER_PENDING_DAYS, every night; confirmation mails
    # whose task was lost, every few minutes.
    return {
        "cleanup-pending": {
            "task": "mailer.cleanup_pending",
            "schedule": crontab(hour=3, minute=30),
        },
        "queue-lost-confirmations": {
            "task": "mailer.queue_lost_confirmations",
            "schedule": LOST_SWEEP_MINUTES * 60.0,
        },
    }


@shared_task(
    name="mailer.send_confirmation",
    **RETRY_WHILE_SMTP_IS_DOWN,
)
def send_confirmation(subscription_id: int) -> None:
    rt = runtime()
    with rt.db.session() as session:
        send_confirmation_mail(session, rt.settings, rt.tokens, subscription_id)


@shared_task(
    name="mailer.send_confirmations",
    **RETRY_WHILE_SMTP_IS_DOWN,
)
def send_confirmations(subscription_ids: list[int]) -> None:
    """An import's confirmation mails, a chunk of readers a task; retried whole after a
    temporary SMTP error, which skips the readers already mailed."""
    rt = runtime()
    with rt.db.session() as session:
        send_confirmation_mails(session, rt.settings, rt.tokens, subscription_ids)


@shared_task(
    name="mailer.send_data_export",
    **RETRY_WHILE_SMTP_IS_DOWN,
)
def send_data_export(subscription_id: int) -> None:
    from mailer.subscribers.export import send_export_mail  # worker memory: rare

    rt = runtime()
    with rt.db.session() as session:
        send_export_mail(session, rt.settings, rt.tokens, subscription_id)


@shared_task(
    name="mailer.send_welcome",
    **RETRY_WHILE_SMTP_IS_DOWN,
)
def send_welcome(subscription_id: int) -> None:
    from mailer.subscribers.welcome import send_welcome_mail  # worker memory: optional mail

    rt = runtime()
    with rt.db.session() as session:
        send_welcome_mail(session, rt.settings, rt.tokens, subscription_id)


@shared_task(name="mailer.cleanup_pending")
def cleanup_pending() -> None:
    """Delete signups nobody confirmed within MAILER_PENDING_DAYS (beat, nightly)."""
    from mailer.subscribers.cleanup import delete_stale_pending  # worker memory: nightly

    rt = runtime()
    with rt.db.session() as session:
        result = delete_stale_pending(session, utcnow(), rt.settings.pending_days)
        session.commit()
    log.info("pending clean-up: %s", result)


@shared_task(name="mailer.queue_lost_confirmations")
def queue_lost_confirmations() -> None:
    """Confirmation mails whose task never ran (beat): queued again."""
    rt = runtime()
    with rt.db.session() as session:
        queue_lost(session, utcnow())
        session.commit()
