"""Celery tasks of the issues domain: scheduled sends and the monthly digest."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from celery.schedules import crontab

from mailer.config import Settings
from mailer.db import utcnow
from mailer.editors.notifications import notify_editors_draft_ready
from mailer.issues.monthly import draft_monthly
from mailer.issues.scheduling import start_due
from mailer.runtime import runtime

log = logging.getLogger(__name__)


def schedule_from_cron(expression: str) -> crontab:
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def time_limits(settings: Settings) -> dict[str, tuple[float, float]]:
    return {"mailer.start_scheduled": (120.0, 150.0), "mailer.monthly_digest": (300.0, 330.0)}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "start-scheduled": {"task": "mailer.start_scheduled", "schedule": timedelta(minutes=1)},
        "monthly-digest": {
            "task": "mailer.monthly_digest",
            "schedule": schedule_from_cron(settings.digest_cron),
        },
    }


@shared_task(name="mailer.start_scheduled")
def start_scheduled() -> None:
    """Start the scheduled issues whose time has come (beat, every minute)."""
    start_scheduled_now(utcnow())


def start_scheduled_now(now: datetime) -> list[int]:
    with runtime().db.session() as session:
        started = start_due(session, now)
        session.commit()
    return started


@shared_task(name="mailer.monthly_digest")
def monthly_digest() -> None:
    rt = runtime()
    with rt.db.session() as session:
        outcome = draft_monthly(session, utcnow(), rt.settings.digest_autosend)
    log.info("monthly digest: %s", outcome)
    if outcome.created and not outcome.send and outcome.issue_id is not None:
        with rt.db.session() as session:
            notify_editors_draft_ready(session, rt.settings, outcome.issue_id)
