"""Celery tasks of the bounce domain: thin shells over mailer.bounces.service."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.schedules import crontab

from mailer.bounces.alerts import mail_due_alerts, requeue_due_alerts
from mailer.bounces.service import delete_old_unrecognised, process_report, requeue_stored
from mailer.config import Settings
from mailer.db import utcnow
from mailer.runtime import runtime

log = logging.getLogger(__name__)


def time_limits(settings: Settings) -> dict[str, tuple[float, float]]:
    return {
        "mailer.process_bounce_report": (60.0, 90.0),
        "mailer.poll_bounce_mailbox": (600.0, 660.0),
        "mailer.bounces_housekeeping": (300.0, 330.0),
        # One mail per alert and editor language, over SMTP.
        "mailer.mail_bounce_alerts": (120.0, 150.0),
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    schedule: dict[str, dict[str, Any]] = {
        "bounces-housekeeping": {
            "task": "mailer.bounces_housekeeping",
            "schedule": crontab(minute="*/15"),
        }
    }
    if settings.bounces.imap_url:
        schedule["poll-bounce-mailbox"] = {
            "task": "mailer.poll_bounce_mailbox",
            "schedule": float(settings.bounces.imap_interval_seconds),
        }
    return schedule


@shared_task(name="mailer.process_bounce_report")
def process_bounce_report(report_id: int) -> None:
    rt = runtime()
    with rt.db.session() as session:
        process_report(session, rt.settings, rt.tokens, report_id)


@shared_task(name="mailer.poll_bounce_mailbox")
def poll_bounce_mailbox() -> None:
    from mailer.bounces.mailbox import poll_mailbox  # worker memory: only when a box is set

    rt = runtime()
    result = poll_mailbox(rt.db, rt.settings)
    log.info("bounce mailbox: %s", result)


@shared_task(name="mailer.mail_bounce_alerts")
def mail_bounce_alerts(issue_id: int) -> None:
    rt = runtime()
    with rt.db.session() as session:
        mailed = mail_due_alerts(session, rt.settings, issue_id)
    if mailed:
        log.info("issue %d: editors mailed: %s", issue_id, ", ".join(mailed))


@shared_task(name="mailer.bounces_housekeeping")
def bounces_housekeeping() -> None:
    """Queue again reports the broker lost and alert mails that never went out; drop
    unrecognised mail past its keeping time."""
    rt = runtime()
    now = utcnow()
    with rt.db.session() as session:
        requeued = requeue_stored(session, timedelta(minutes=10), now)
        alerts = requeue_due_alerts(session, timedelta(days=2), now)
        dropped = delete_old_unrecognised(session, rt.settings.bounces.keep_unrecognised_days, now)
    log.info(
        "bounces: %d queued again, %d alert mails queued again, %d old unrecognised deleted",
        requeued,
        alerts,
        dropped,
    )
