"""Fetch, parse and clean a site's RSS/Atom feed into articles. No Flask, no Celery.

An import is all or nothing for a feed that is broken (an entry without a
title, a date or an id): every entry is parsed and checked before the first
row is written, and the caller commits once. An entry whose link is not
http(s) is different: that is one article we refuse, not a feed we misread,
so it is skipped, the reason kept on the feed row, and the others imported.
The rows are written in a savepoint: a database error fails this feed only.
"""

from __future__ import annotations

import calendar
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

import feedparser
import nh3
from sqlalchemy import String, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mailer.articles.cms_markup import strip_cms_markup, strip_notices
from mailer.articles.editing import apply_feed_values
from mailer.articles.models import Article, Feed
from mailer.config import Settings
from mailer.db import table_of, utcnow
from mailer.events import record_event
from mailer.i18n import N_
from mailer.mail.links import URL_LENGTH, web_url
from mailer.outbound import http as outbound_http
from mailer.outbound import policy as outbound_policy
from mailer.outbound.http import Fetched
from mailer.outbound.policy import FetchError, TooLarge

MAX_FEED_BYTES = 5 * 1024 * 1024
SUMMARY_LENGTH = 400
CAPTION_LENGTH = 1000
ALT_LENGTH = 500
STORE_FAILED = "the articles could not be stored (database error)"
POLL_FAILED = "polling failed (internal error); see the log"
USER_AGENT = outbound_policy.USER_AGENT

# A label left alone once the cloaked address after it is gone ("E-post: "); a label
# followed by a recovered address stays.
BOILERPLATE = [re.compile(r"\b(E-?post|E-?mail)\s*:(?!\s*[\w.+-]+@)\s*", re.IGNORECASE)]


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
# The prefix stays in the caption: without it a photographer's name alone above a
# headline reads as the article's byline.
CAPTION_PREFIX = re.compile(r"^(?P<word>foto|photo)\s*:\s*", re.IGNORECASE)


# Why a feed could not be read, in the editor's words (no parser or network internals);
# the exception's own message keeps the details for the CLI, the log and the feed row.
NOT_A_FEED = N_("Adressen svarer, men det er ikke en RSS- eller Atom-strøm.")
BROKEN_FEED = N_("Strømmen har en artikkel uten tittel, dato eller lenke og kan ikke leses.")
TOO_BIG = N_("Strømmen er for stor (over 5 MB).")
UNREACHABLE = N_("Adressen kunne ikke hentes. Sjekk at den er riktig og at nettstedet svarer.")
HTTP_ERROR = N_("Nettstedet svarte med en feilmelding i stedet for en strøm.")
NOT_STORED = N_("Artiklene kunne ikke lagres. Prøv igjen senere.")


class FeedError(Exception):
    """The feed could not be read: ``reason`` (a catalogue string) says why to an editor;
    the message says it in detail, in English."""

    def __init__(self, message: str, reason: str = UNREACHABLE) -> None:
        super().__init__(message)
        self.reason = reason


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
    # Entries left out, each with its reason ("entry 3: its link is not http(s)").
    skipped: list[str] = field(default_factory=list)

    @property
    def note(self) -> str | None:
        """What the feed row keeps when entries were skipped; None when all were taken."""
        if not self.skipped:
            return None
        return f"{len(self.skipped)} skipped: " + "; ".join(self.skipped)


def clean_text(raw_html: str) -> str:
    """Plain text from CMS HTML: tags, scripts and boilerplate gone, whitespace folded."""
    text = strip_cms_markup(raw_html or "")
    # A recovered address is a mailto link: its words stay when the tags go.
    text = nh3.clean(BLOCK_TAG.sub(" <", text), tags=set(), attributes={})
    text = strip_notices(html.unescape(text))
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
    """The HTML without its "Foto: …" paragraphs, and the first one as a caption ("Foto: …")."""
    captions: list[str] = []

    def replace(match: re.Match[str]) -> str:
        text = clean_text(match.group(1))
        prefix = CAPTION_PREFIX.match(text)
        if prefix is None:
            return match.group(0)
        credit = text[prefix.end() :]
        captions.append(f"{prefix.group('word').capitalize()}: {credit}" if credit else "")
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


def parse_feed(content: bytes, url: str) -> tuple[list[ArticleData], list[str]]:
    """The feed's articles, and why each entry that is not one was skipped."""
    # feedparser's own sanitiser drops Joomla's cloak script and element but keeps their
    # notice, so the address is lost; every field goes through nh3 (clean_text) instead.
    parsed = feedparser.parse(content, sanitize_html=False)
    if not parsed.get("version"):
        # The parser's own message would echo the document; the class is enough.
        raise FeedError(f"{url} is not an RSS or Atom feed", NOT_A_FEED)
    articles: list[ArticleData] = []
    skipped: list[str] = []
    for index, entry in enumerate(parsed.entries, start=1):
        raw_link = str(entry.get("link") or "").strip()
        guid = str(entry.get("id") or raw_link).strip()
        title = clean_text(str(entry.get("title") or ""))
        if not guid or not raw_link:
            raise FeedError(f"{url}: entry {index} has neither a guid nor a link", BROKEN_FEED)
        # Only http(s) ever becomes an href: javascript: and data: links are not articles.
        link = web_url(raw_link, url)
        if link is None:
            skipped.append(f"entry {index}: its link is not an http:// or https:// URL")
            continue
        if not title:
            raise FeedError(f"{url}: entry {index} ({link}) has no title", BROKEN_FEED)
        published = _published(entry)
        if published is None:
            raise FeedError(f"{url}: entry {index} ({link}) has no readable date", BROKEN_FEED)
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
                url=link,
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
    return articles, skipped


def fetch(
    settings: Settings, url: str, etag: str | None, last_modified: str | None
) -> Fetched | None:
    """The feed's bytes through the guarded fetcher, or None when the server says 304."""
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        response = outbound_http.fetch(
            url, outbound_policy.policy_for(settings), headers=headers, max_bytes=MAX_FEED_BYTES
        )
    except TooLarge as exc:
        limit = exc.limit // (1024 * 1024)
        raise FeedError(f"{url} is larger than {limit} MB", TOO_BIG) from exc
    except FetchError as exc:
        raise FeedError(f"cannot fetch {url}: {exc}") from exc
    if response.status == 304:
        return None
    if response.status != 200:
        raise FeedError(f"{url} answered HTTP {response.status}", HTTP_ERROR)
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
        elif apply_feed_values(article, fields):
            result.updated += 1
        else:
            result.unchanged += 1
    return result


def _fits(value: str | None, column: str) -> str | None:
    """A validator header only if its column holds it: a cache hint is not worth an error."""
    column_type = table_of(Feed).c[column].type
    if not isinstance(column_type, String) or column_type.length is None:
        raise TypeError(f"feed.{column} has no length")
    return value if value and len(value) <= column_type.length else None


def import_feed(session: Session, settings: Settings, url: str) -> ImportResult:
    """Fetch and store one feed. On FeedError nothing is stored but the error on the feed row."""
    if web_url(url) != url:
        raise FeedError(f"cannot fetch {url[:URL_LENGTH]}: {outbound_policy.NOT_A_URL}")
    feed = session.scalar(select(Feed).where(Feed.url == url))
    if feed is None:
        feed = Feed(url=url)
        session.add(feed)
    feed.last_polled_at = utcnow()
    session.flush()  # the feed row exists before the savepoint below, whatever happens in it
    try:
        response = fetch(settings, url, feed.etag, feed.last_modified)
        if response is None:
            feed.last_error = None
            return ImportResult(feed_url=url, not_modified=True)
        articles, skipped = parse_feed(response.body, url)
    except FeedError as exc:
        feed.last_error = str(exc)
        raise
    try:
        with session.begin_nested():
            result = store_articles(session, url, articles)
            result.skipped = skipped
            # With entries skipped, no validators: a 304 next time would clear the note.
            if skipped:
                feed.etag = feed.last_modified = None
            else:
                feed.etag = _fits(response.headers.get("ETag"), "etag")
                feed.last_modified = _fits(response.headers.get("Last-Modified"), "last_modified")
            feed.last_error = result.note
            record_event(
                session,
                "feed.imported",
                data={"url": url, "new": result.new, "skipped": len(skipped)},
            )
    except SQLAlchemyError as exc:
        # The savepoint is gone with every row of this feed; the error stays on the feed.
        feed.last_error = f"{url}: {STORE_FAILED}"
        raise FeedError(feed.last_error, NOT_STORED) from exc
    return result
