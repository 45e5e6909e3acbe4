"""The site feeds the digest is made from: add, remove, list with their last error, poll one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.articles.feeds import (
    POLL_FAILED,
    URL_LENGTH,
    FeedError,
    ImportResult,
    import_feed,
    web_url,
)
from mailer.articles.models import Article, Feed
from mailer.config import Settings
from mailer.db import Database
from mailer.errors import NotFound, ValidationFailed
from mailer.events import record_event
from mailer.i18n import N_
from mailer.outbound.policy import FetchError, Refused, check_url, policy_for

NOT_A_URL = N_("Skriv en fullstendig adresse som begynner med http:// eller https://.")
TOO_LONG = N_("Adressen er for lang.")
ALREADY_THERE = N_("Denne strømmen er allerede lagt inn.")
PRIVATE_ADDRESS = N_("Denne adressen er på et privat nett, og strømmer hentes ikke derfra.")

log = logging.getLogger(__name__)


class FeedNotFound(NotFound):
    pass


@dataclass(frozen=True)
class FeedRow:
    id: int
    url: str
    last_polled_at: datetime | None
    last_error: str | None
    articles: int


def feed_rows(session: Session) -> list[FeedRow]:
    count = func.count(Article.id)
    rows = session.execute(
        select(Feed.id, Feed.url, Feed.last_polled_at, Feed.last_error, count)
        .outerjoin(Article, Article.source == Feed.url)
        .group_by(Feed.id, Feed.url, Feed.last_polled_at, Feed.last_error)
        .order_by(Feed.id)
    ).all()
    return [FeedRow(*row) for row in rows]


def add_feed(session: Session, settings: Settings, raw_url: str) -> Feed:
    """The one door for a new feed (admin, CLI, API): a web URL outside our own networks."""
    url = _new_feed_url(session, settings, raw_url)
    feed = Feed(url=url)
    try:
        with session.begin_nested():
            session.add(feed)
    except IntegrityError as exc:  # added by someone else a moment ago
        raise ValidationFailed({"url": ALREADY_THERE}) from exc
    record_event(session, "feed.added", data={"url": url})
    return feed


def _new_feed_url(session: Session, settings: Settings, raw_url: str) -> str:
    """The URL a new feed may have; ValidationFailed naming ``url`` otherwise."""
    url = raw_url.strip()
    if len(url) > URL_LENGTH:
        raise ValidationFailed({"url": TOO_LONG})
    if web_url(url) != url:
        raise ValidationFailed({"url": NOT_A_URL})
    try:
        check_url(url, policy_for(settings))
    except Refused as exc:
        raise ValidationFailed({"url": PRIVATE_ADDRESS}) from exc
    except FetchError as exc:
        raise ValidationFailed({"url": NOT_A_URL}) from exc
    if session.scalar(select(Feed.id).where(Feed.url == url)) is not None:
        raise ValidationFailed({"url": ALREADY_THERE})
    return url


def add_and_import(session: Session, settings: Settings, raw_url: str) -> ImportResult:
    """Add a feed and import it at once: what is not a feed we can read is refused here,
    with the reason in the editor's words, and nothing is added (the caller rolls back)."""
    url = _new_feed_url(session, settings, raw_url)
    # import_feed inserts the feed row itself (a plain INSERT, no savepoint: on SQLite a
    # savepoint opened before any write commits on release, and the caller's rollback
    # would then leave a refused feed behind).
    try:
        result = import_feed(session, settings, url)
    except FeedError as exc:
        raise ValidationFailed({"url": exc.reason}) from exc
    except IntegrityError as exc:  # added by someone else a moment ago
        raise ValidationFailed({"url": ALREADY_THERE}) from exc
    record_event(session, "feed.added", data={"url": url})
    return result


def _feed(session: Session, feed_id: int) -> Feed:
    feed = session.get(Feed, feed_id)
    if feed is None:
        raise FeedNotFound(f"no feed with id {feed_id}")
    return feed


def remove_feed(session: Session, feed_id: int) -> str:
    """Stop polling the feed; the articles it brought stay (issues may hold them)."""
    feed = _feed(session, feed_id)
    url = feed.url
    session.delete(feed)
    record_event(session, "feed.removed", data={"url": url})
    return url


def poll_feed(session: Session, settings: Settings, feed_id: int) -> ImportResult:
    """Import the feed now. A FeedError is kept on the row; the caller commits either way."""
    return import_feed(session, settings, _feed(session, feed_id).url)


def feed_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Feed.id).order_by(Feed.id)))


@dataclass(frozen=True)
class PollOutcome:
    url: str
    result: ImportResult | None = None
    error: str | None = None


def poll_one(db: Database, settings: Settings, feed_id: int) -> PollOutcome | None:
    """Poll one feed in its own transaction, so that nothing about it stops the next one.

    None when the feed was removed meanwhile. Whatever fails is recorded on this feed's row:
    the import's own FeedError, or (a bug) any other error, logged with its traceback."""
    with db.session() as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            return None
        url = feed.url
        try:
            result = import_feed(session, settings, url)
        except FeedError as exc:
            session.commit()  # keeps the error on the feed row; no article was added
            return PollOutcome(url, error=str(exc))
        except Exception:
            log.exception("polling feed %s failed", url)
            session.rollback()
        else:
            session.commit()
            return PollOutcome(url, result=result)
    with db.session() as session:
        feed = session.get(Feed, feed_id)
        if feed is not None:
            feed.last_error = POLL_FAILED
            session.commit()
    return PollOutcome(url, error=POLL_FAILED)


__all__ = [
    "FeedError",
    "FeedNotFound",
    "FeedRow",
    "PollOutcome",
    "add_and_import",
    "add_feed",
    "feed_ids",
    "feed_rows",
    "poll_feed",
    "poll_one",
]
