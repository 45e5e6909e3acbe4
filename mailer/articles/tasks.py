"""Celery tasks of the articles domain: the hourly feed poll, one task per feed."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task

from mailer.config import Settings
from mailer.metrics import instruments
from mailer.queue import enqueue
from mailer.runtime import runtime

log = logging.getLogger(__name__)


def time_limits(settings: Settings) -> dict[str, tuple[float, float]]:
    # A feed's fetch ends at its deadline; DNS and storing the articles get the margin.
    feed = settings.feed_deadline_seconds + 30
    return {"mailer.poll_feeds": (60.0, 90.0), "mailer.poll_feed": (feed, feed + 30)}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {"poll-feeds": {"task": "mailer.poll_feeds", "schedule": timedelta(hours=1)}}


@shared_task(name="mailer.poll_feeds")
def poll_feeds() -> list[int]:
    """One task per feed: each has its own time limit, and one stuck feed holds up no other."""
    # Worker memory: the sending processes never load the feed code (feedparser).
    from mailer.articles.registry import feed_ids

    with runtime().db.session() as session:
        ids = feed_ids(session)
        for feed_id in ids:
            enqueue(session, "mailer.poll_feed", feed_id)
        session.commit()
    return ids


@shared_task(name="mailer.poll_feed")
def poll_feed(feed_id: int) -> None:
    # Worker memory: the sending processes never load the feed code (feedparser).
    from mailer.articles.registry import poll_one

    rt = runtime()
    outcome = poll_one(rt.db, rt.settings, feed_id)
    if outcome is not None and outcome.error:
        instruments().feed_poll_failures.inc()
        log.warning("feed %s: %s", outcome.url, outcome.error, extra={"feed_id": feed_id})
