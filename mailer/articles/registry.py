"""The site feeds the digest is made from: add, remove, list with their last error, poll one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.articles.feeds import URL_LENGTH, FeedError, ImportResult, import_feed, web_url
from mailer.models import Article, Feed, record_event
from mailer.subscribers.subscriptions import ValidationFailed

NOT_A_URL = "Skriv en fullstendig adresse som begynner med http:// eller https://."
TOO_LONG = "Adressen er for lang."
ALREADY_THERE = "Denne strømmen er allerede lagt inn."


class FeedNotFound(LookupError):
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


def add_feed(session: Session, raw_url: str) -> Feed:
    url = raw_url.strip()
    if len(url) > URL_LENGTH:
        raise ValidationFailed({"url": TOO_LONG})
    if web_url(url) != url:
        raise ValidationFailed({"url": NOT_A_URL})
    if session.scalar(select(Feed.id).where(Feed.url == url)) is not None:
        raise ValidationFailed({"url": ALREADY_THERE})
    feed = Feed(url=url)
    try:
        with session.begin_nested():
            session.add(feed)
    except IntegrityError as exc:  # added by someone else a moment ago
        raise ValidationFailed({"url": ALREADY_THERE}) from exc
    record_event(session, "feed.added", data={"url": url})
    return feed


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


def poll_feed(session: Session, feed_id: int) -> ImportResult:
    """Import the feed now. A FeedError is kept on the row; the caller commits either way."""
    return import_feed(session, _feed(session, feed_id).url)


__all__ = ["FeedError", "FeedNotFound", "FeedRow", "add_feed", "feed_rows", "poll_feed"]
