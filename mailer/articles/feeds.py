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
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import feedparser
import nh3
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.models import Article, Feed, record_event

if TYPE_CHECKING:
    import requests

MAX_FEED_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT_SECONDS = 20
SUMMARY_LENGTH = 400
CAPTION_LENGTH = 1000
ALT_LENGTH = 500
URL_LENGTH = 2000
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


# A paragraph of CMS HTML: up to its end tag, the next paragraph or the end of its block.
PARAGRAPH = re.compile(
    r"<p\b[^>]*>(.*?)(?:</p\s*>|(?=<p\b)"
    r"|(?=</(?:div|section|article|header|footer|figure|blockquote|li|td|th|body)\b)|\Z)",
    re.IGNORECASE | re.DOTALL,
)
# "Foto: Ola Nordmann" under a picture: a credit or caption, not the article's text.
CAPTION_PREFIX = re.compile(r"^(?:foto|photo)\s*:\s*", re.IGNORECASE)


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
    image_alt: str | None = None
    image_caption: str | None = None


@dataclass(frozen=True)
class CleanBody:
    """What an article's HTML gives a digest: plain summary, caption and first image."""

    summary: str
    image_caption: str | None = None
    image_url: str | None = None
    image_alt: str | None = None


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


def web_url(value: str, base: str = "") -> str | None:
    """``value`` as an absolute http(s) URL (resolved against ``base``), else None."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        url = urljoin(base, value) if base else value
        parts = urlsplit(url)
    except ValueError:  # e.g. a broken IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if len(url) > URL_LENGTH or any(c.isspace() for c in url):
        return None
    return url


class _FirstImage(HTMLParser):
    """The first <img> whose src is (or resolves to) an http(s) URL, and its alt text."""

    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.url: str | None = None
        self.alt: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.url is not None or tag != "img":
            return
        values = dict(attrs)
        url = web_url(values.get("src") or "", self.base)
        if url is not None:
            self.url = url
            # The parser already decoded the entities: fold the whitespace, nothing more.
            self.alt = _short_text(values.get("alt") or "", ALT_LENGTH)


def _short_text(text: str, limit: int) -> str | None:
    """Plain text with its whitespace folded, at most ``limit`` characters; None if empty."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = shorten(text, limit - 2)  # the cut text plus " …" fits in the limit
    return text or None


def first_image(body_html: str, base: str) -> tuple[str | None, str | None]:
    """(url, alt) of the first usable <img> in the HTML; relative URLs resolved on ``base``."""
    finder = _FirstImage(base)
    try:
        finder.feed(body_html or "")
        finder.close()
    except Exception:  # broken markup in one article is no reason to fail the feed
        pass
    return finder.url, finder.alt


def split_captions(body_html: str) -> tuple[str, str | None]:
    """The HTML without its "Foto: …" paragraphs, and the first one's text as a caption."""
    captions: list[str] = []

    def replace(match: re.Match[str]) -> str:
        text = clean_text(match.group(1))
        if not CAPTION_PREFIX.match(text):
            return match.group(0)
        captions.append(CAPTION_PREFIX.sub("", text, count=1))
        return " "

    rest = PARAGRAPH.sub(replace, body_html or "")
    caption = next((c for c in captions if c), None)
    return rest, (_short_text(caption, CAPTION_LENGTH) if caption else None)


def clean_body(body_html: str, link: str) -> CleanBody:
    """Summary, caption and image from an article's HTML, the same for feeds and the API."""
    image_url, image_alt = first_image(body_html, link)
    rest, caption = split_captions(body_html)
    return CleanBody(
        summary=shorten(clean_text(rest)),
        image_caption=caption,
        image_url=image_url,
        image_alt=image_alt,
    )


def _media_image(entry: feedparser.FeedParserDict, link: str) -> str | None:
    for media in entry.get("media_content", []) + entry.get("media_thumbnail", []):
        url = web_url(str(media.get("url") or ""), link)
        if url:
            return url
    for enclosure in entry.get("enclosures", []):
        if str(enclosure.get("type", "")).startswith("image/"):
            url = web_url(str(enclosure.get("href") or ""), link)
            if url:
                return url
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
        cleaned = clean_body(str(body), link)
        image_url, image_alt = cleaned.image_url, cleaned.image_alt
        media = _media_image(entry, link)
        if media is not None and media != image_url:
            image_url, image_alt = media, None  # the alt text belongs to another picture
        articles.append(
            ArticleData(
                guid=guid[:2000],
                url=link[:2000],
                title=title[:500],
                summary=cleaned.summary,
                published_at=published,
                topics=tuple(
                    str(t.get("term")).strip()
                    for t in entry.get("tags", [])
                    if t.get("term") and str(t.get("term")).strip()
                ),
                image_url=image_url,
                image_alt=image_alt,
                image_caption=cleaned.image_caption,
            )
        )
    return articles


def fetch(url: str, etag: str | None, last_modified: str | None) -> requests.Response | None:
    """The feed's bytes, or None when the server says nothing changed (304)."""
    import requests  # here, not at the top: a sending worker never loads it (~5 MB)

    headers = {"User-Agent": USER_AGENT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    with requests.Session() as http:
        http.max_redirects = MAX_REDIRECTS
        try:
            response = http.get(url, headers=headers, timeout=TIMEOUT_SECONDS, stream=True)
            return _read(url, response)
        except requests.TooManyRedirects as exc:
            raise FeedError(
                f"cannot fetch {url}: too many redirects (more than {MAX_REDIRECTS})"
            ) from exc
        except requests.RequestException as exc:
            raise FeedError(f"cannot fetch {url}: {exc}") from exc


def _read(url: str, response: requests.Response) -> requests.Response | None:
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
            "image_alt": data.image_alt,
            "image_caption": data.image_caption,
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
