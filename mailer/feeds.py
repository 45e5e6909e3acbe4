"""Fetch, parse and clean a site's RSS/Atom feed into articles. No Flask, no Celery.

An import is all or nothing: every entry is parsed and checked before the
first row is written, and the caller commits once.
"""

from __future__ import annotations

import calendar
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import feedparser
import nh3
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.models import Article, Feed, record_event

MAX_FEED_BYTES = 5 * 1024 * 1024
TIMEOUT_SECONDS = 20
SUMMARY_LENGTH = 400
USER_AGENT = "mailer-feed-reader/0.1 (+newsletter digest)"

# Text a CMS puts where it hides things from us; it means nothing in a digest.
BOILERPLATE = [
    re.compile(
        r"Denne e-postadressen er beskyttet mot programmer som samler e-postadresser\.?"
        r"(\s*Du må aktivere javaskript for å kunne se den\.?)?",
        re.IGNORECASE,
    ),
    re.compile(
        r"This email address is being protected from spambots\.?"
        r"(\s*You need JavaScript enabled to view it\.?)?",
        re.IGNORECASE,
    ),
    re.compile(r"\b(E-?post|E-?mail)\s*:\s*(?=\s|$)", re.IGNORECASE),
]


# Where these tags start or end, the words on either side are separate words.
BLOCK_TAG = re.compile(
    r"<(?=/?(?:p|br|div|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|table|blockquote|pre|hr"
    r"|section|article|header|footer|figure|figcaption)\b)",
    re.IGNORECASE,
)


class FeedError(Exception):
    """The feed could not be read; the message says why, in words an editor understands."""


@dataclass(frozen=True)
class ArticleData:
    guid: str
    url: str
    title: str
    summary: str
    published_at: datetime
    topics: tuple[str, ...] = field(default=())
    image_url: str | None = None


@dataclass
class ImportResult:
    feed_url: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    not_modified: bool = False


def clean_text(raw_html: str) -> str:
    """Plain text from CMS HTML: tags, scripts and boilerplate gone, whitespace folded."""
    text = nh3.clean(BLOCK_TAG.sub(" <", raw_html or ""), tags=set(), attributes={})
    text = html.unescape(text)
    for pattern in BOILERPLATE:
        text = pattern.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


def shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",.;:–- ")
    return f"{cut} …"


def _published(entry: feedparser.FeedParserDict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _image(entry: feedparser.FeedParserDict) -> str | None:
    for media in entry.get("media_content", []) + entry.get("media_thumbnail", []):
        if media.get("url"):
            return str(media["url"])
    for link in entry.get("enclosures", []):
        if str(link.get("type", "")).startswith("image/") and link.get("href"):
            return str(link["href"])
    return None


def parse_feed(content: bytes, url: str) -> list[ArticleData]:
    parsed = feedparser.parse(content)
    if not parsed.get("version"):
        reason = parsed.get("bozo_exception")
        raise FeedError(f"{url} is not an RSS or Atom feed" + (f" ({reason})" if reason else ""))
    articles: list[ArticleData] = []
    for index, entry in enumerate(parsed.entries, start=1):
        link = str(entry.get("link") or "").strip()
        guid = str(entry.get("id") or link).strip()
        title = clean_text(str(entry.get("title") or ""))
        if not guid or not link:
            raise FeedError(f"{url}: entry {index} has neither a guid nor a link")
        if not title:
            raise FeedError(f"{url}: entry {index} ({link}) has no title")
        published = _published(entry)
        if published is None:
            raise FeedError(f"{url}: entry {index} ({link}) has no readable date")
        body = entry.get("summary") or ""
        if entry.get("content"):
            body = entry["content"][0].get("value") or body
        articles.append(
            ArticleData(
                guid=guid[:2000],
                url=link[:2000],
                title=title[:500],
                summary=shorten(clean_text(str(body))),
                published_at=published,
                topics=tuple(
                    str(t.get("term")).strip()
                    for t in entry.get("tags", [])
                    if t.get("term") and str(t.get("term")).strip()
                ),
                image_url=_image(entry),
            )
        )
    return articles


def fetch(url: str, etag: str | None, last_modified: str | None) -> requests.Response | None:
    """The feed's bytes, or None when the server says nothing changed (304)."""
    headers = {"User-Agent": USER_AGENT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        response = requests.get(url, headers=headers, timeout=TIMEOUT_SECONDS, stream=True)
    except requests.RequestException as exc:
        raise FeedError(f"cannot fetch {url}: {exc}") from exc
    with response:
        if response.status_code == 304:
            return None
        if response.status_code != 200:
            raise FeedError(f"{url} answered HTTP {response.status_code}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_FEED_BYTES:
                raise FeedError(f"{url} is larger than {MAX_FEED_BYTES // (1024 * 1024)} MB")
            chunks.append(chunk)
        response._content = b"".join(chunks)
    return response


def store_articles(session: Session, source: str, articles: list[ArticleData]) -> ImportResult:
    result = ImportResult(feed_url=source)
    seen: set[str] = set()
    for data in articles:
        if data.guid in seen:
            continue
        seen.add(data.guid)
        article = session.scalar(
            select(Article).where(Article.source == source, Article.guid == data.guid)
        )
        fields = {
            "url": data.url,
            "title": data.title,
            "summary": data.summary,
            "published_at": data.published_at,
            "topics": list(data.topics),
            "image_url": data.image_url,
        }
        if article is None:
            session.add(Article(source=source, guid=data.guid, **fields))
            result.new += 1
        elif any(getattr(article, k) != v for k, v in fields.items()):
            for key, value in fields.items():
                setattr(article, key, value)
            result.updated += 1
        else:
            result.unchanged += 1
    return result


def import_feed(session: Session, url: str) -> ImportResult:
    """Fetch and store one feed. On FeedError nothing is stored but the error on the feed row."""
    feed = session.scalar(select(Feed).where(Feed.url == url))
    if feed is None:
        feed = Feed(url=url)
        session.add(feed)
    feed.last_polled_at = utcnow()
    try:
        response = fetch(url, feed.etag, feed.last_modified)
        if response is None:
            feed.last_error = None
            return ImportResult(feed_url=url, not_modified=True)
        articles = parse_feed(response.content, url)
    except FeedError as exc:
        feed.last_error = str(exc)
        raise
    result = store_articles(session, url, articles)
    feed.etag = response.headers.get("ETag")
    feed.last_modified = response.headers.get("Last-Modified")
    feed.last_error = None
    record_event(session, "feed.imported", data={"url": url, "new": result.new})
    return result
