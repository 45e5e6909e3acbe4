"""JSON API for the site's CMS: push one article (a webhook on publish/update), bearer token.

The body is cleaned by the same rules as a feed entry, and stored with source "api".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailer.articles import feeds
from mailer.articles.catalogue import ArticleNotFound, list_articles, set_hidden
from mailer.articles.feeds import ArticleData
from mailer.articles.models import Article
from mailer.errors import ValidationFailed
from mailer.events import record_event
from mailer.runtime import runtime
from mailer.web.api import schemas
from mailer.web.api.spec import operation
from mailer.web.auth import token_required
from mailer.web.csrf import csrf

bp = Blueprint("api_articles", __name__, url_prefix="/api/v1/articles")
csrf.exempt(bp)
TAGS = ("articles",)
ARTICLE = ("article_id",)

SOURCE = "api"
TITLE_LENGTH = 500
TOPIC_LENGTH = 100


def _text(data: dict[str, Any], key: str, errors: dict[str, str]) -> str | None:
    """The field as a string, None when absent or null; records an error for other types."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[key] = "must be a string"
        return None
    return value


def _url(data: dict[str, Any], key: str, errors: dict[str, str], required: bool) -> str | None:
    value = _text(data, key, errors)
    if key in errors:
        return None
    if value is None or not value.strip():
        if required:
            errors[key] = "is required"
        return None
    url = feeds.web_url(value)
    if url is None:
        errors[key] = (
            f"must be an absolute http:// or https:// URL (at most {feeds.URL_LENGTH} characters)"
        )
    return url


def _published(data: dict[str, Any], errors: dict[str, str]) -> datetime | None:
    value = _text(data, "published_at", errors)
    if "published_at" in errors:
        return None
    if value is None or not value.strip():
        errors["published_at"] = "is required"
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        errors["published_at"] = "must be an ISO 8601 date and time, e.g. 2026-03-14T09:30:00+01:00"
        return None
    if when.tzinfo is None or when.utcoffset() is None:
        errors["published_at"] = "must include a time zone, e.g. +01:00 or Z"
        return None
    return when.astimezone(UTC)


def _topics(data: dict[str, Any], errors: dict[str, str]) -> tuple[str, ...]:
    value = data.get("topics")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        errors["topics"] = "must be a list of strings"
        return ()
    topics: list[str] = []
    for topic in value:
        topic = " ".join(topic.split())
        if len(topic) > TOPIC_LENGTH:
            errors["topics"] = f"each topic must be at most {TOPIC_LENGTH} characters"
            return ()
        if topic and topic not in topics:
            topics.append(topic)
    return tuple(topics)


def parse_article(data: dict[str, Any]) -> ArticleData:
    """The webhook body as an article; ValidationFailed names every bad field."""
    errors: dict[str, str] = {}
    url = _url(data, "url", errors, required=True)

    guid_value = _text(data, "guid", errors)
    guid = guid_value.strip() if guid_value is not None else None
    if guid_value is not None and not guid:
        errors["guid"] = "must not be empty (leave it out to use the url)"
    elif guid is not None and len(guid) > 2000:
        errors["guid"] = "must be at most 2000 characters"

    raw_title = _text(data, "title", errors)
    title = feeds.clean_text(raw_title or "")
    if "title" not in errors:
        if not title:
            errors["title"] = "is required"
        elif len(title) > TITLE_LENGTH:
            errors["title"] = f"must be at most {TITLE_LENGTH} characters"

    summary_key = "summary_html" if data.get("summary_html") is not None else "summary"
    body = _text(data, summary_key, errors) or ""

    published = _published(data, errors)
    topics = _topics(data, errors)
    image_url = _url(data, "image_url", errors, required=False)
    image_alt = _text(data, "image_alt", errors)
    image_caption = _text(data, "image_caption", errors)

    if errors:
        raise ValidationFailed(errors)
    assert url is not None and published is not None
    cleaned = feeds.clean_body(body, url)
    if image_url is None:
        image_url, alt_in_body = cleaned.image_url, cleaned.image_alt
    else:
        alt_in_body = cleaned.image_alt if cleaned.image_url == image_url else None
    alt = " ".join((image_alt or "").split())[: feeds.ALT_LENGTH] or alt_in_body
    caption = " ".join((image_caption or "").split())[: feeds.CAPTION_LENGTH]
    return ArticleData(
        guid=guid or url,
        url=url,
        title=title,
        summary=cleaned.summary,
        published_at=published,
        topics=topics,
        image_url=image_url,
        image_alt=alt if image_url else None,
        image_caption=caption or cleaned.image_caption,
    )


def as_json(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "source": article.source,
        "guid": article.guid,
        "url": article.url,
        "title": article.title,
        "summary": article.summary,
        "published_at": article.published_at.isoformat(),
        "topics": list(article.topics),
        "image_url": article.image_url,
        "image_alt": article.image_alt,
        "image_caption": article.image_caption,
        "created_at": article.created_at.isoformat(),
    }


def _save(data: ArticleData) -> tuple[dict[str, Any], bool]:
    with runtime().db.session() as session:
        result = feeds.store_articles(session, SOURCE, [data])
        record_event(
            session,
            "api.article",
            data={
                "editor_id": g.editor_id,
                "guid": data.guid,
                "new": result.new,
                "updated": result.updated,
            },
        )
        session.commit()
        article = session.scalars(
            select(Article).where(Article.source == SOURCE, Article.guid == data.guid)
        ).one()
        return as_json(article), result.new == 1


@bp.post("")
@operation(
    tags=TAGS,
    json_body=schemas.ArticleIn,
    HTTP_200=schemas.Article,
    HTTP_201=schemas.Article,
)
@token_required
def upsert():
    """Push one article from the site's CMS: created (201) or updated (200) by guid."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return {"errors": {"body": "expected a JSON object (Content-Type: application/json)"}}, 400
    try:
        data = parse_article(body)
    except ValidationFailed as exc:
        return {"errors": exc.errors}, 400
    try:
        article, created = _save(data)
    except IntegrityError:
        # The same guid sent twice at once: the other request created it; now it is an update.
        article, created = _save(data)
    return article, 201 if created else 200


@bp.get("")
@operation(tags=TAGS, query=schemas.PageQuery, HTTP_200=schemas.ArticleList)
@token_required
def index():
    """Articles newest first, 50 a page (?page=), hidden ones included and marked."""
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 0 < int(raw) < 1_000_000:
        return {"errors": {"page": "must be a whole number from 1"}}, 400
    with runtime().db.session() as session:
        listing = list_articles(session, int(raw))
        return {
            "total": listing.total,
            "page": listing.page,
            "pages": listing.pages,
            "articles": [{**as_json(a), "hidden": a.hidden} for a in listing.rows],
        }


def _set_hidden(article_id: int, hidden: bool) -> tuple[dict[str, Any], int]:
    with runtime().db.session() as session:
        try:
            article = set_hidden(session, article_id, hidden)
        except ArticleNotFound as exc:
            return {"errors": {"article_id": str(exc)}}, 404
        record_event(
            session,
            "api.article_hide" if hidden else "api.article_show",
            data={"editor_id": g.editor_id, "id": article_id},
        )
        session.commit()
        return {**as_json(article), "hidden": article.hidden}, 200


@bp.post("/<int:article_id>/hide")
@operation(tags=TAGS, path_ids=ARTICLE, HTTP_200=schemas.ListedArticle)
@token_required
def hide(article_id: int):
    """Leave an article out of future drafts."""
    return _set_hidden(article_id, True)


@bp.post("/<int:article_id>/show")
@operation(tags=TAGS, path_ids=ARTICLE, HTTP_200=schemas.ListedArticle)
@token_required
def show(article_id: int):
    """Let a hidden article into future drafts again."""
    return _set_hidden(article_id, False)
