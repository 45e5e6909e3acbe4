"""An editor corrects an article before it goes out; a later poll never undoes that.

The article's columns hold what the digest shows. When an editor changes a field, the
feed's value of that field moves to ``feed_values`` and the poll keeps it up to date
there (so the admin can show what the site says now); the edited column is left alone.
Setting a field back to the feed's value ends the override.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailer.articles.catalogue import get_article
from mailer.articles.models import Article
from mailer.errors import ValidationFailed
from mailer.events import record_event
from mailer.i18n import N_
from mailer.mail.links import web_url

NOT_A_URL = N_("Skriv en fullstendig adresse som begynner med http:// eller https://.")

# Field → (required, longest value). Lengths are the columns' (the summary: a digest's).
EDITABLE: dict[str, tuple[bool, int]] = {
    "title": (True, 500),
    "summary": (False, 4000),
    "url": (True, 2000),
    "image_url": (False, 2000),
    "image_alt": (False, 500),
    "image_caption": (False, 1000),
}
URL_FIELDS = ("url", "image_url")


@dataclass(frozen=True)
class FieldState:
    """One field as the edit form shows it: what goes out, and the feed's own value."""

    name: str
    value: str
    feed_value: str
    edited: bool


def field_states(article: Article) -> list[FieldState]:
    overrides = article.feed_values or {}
    states = []
    for name in EDITABLE:
        value = getattr(article, name) or ""
        feed = overrides[name] if name in overrides else value
        states.append(FieldState(name, value, feed or "", name in overrides))
    return states


def _validated(values: Mapping[str, str]) -> dict[str, str | None]:
    errors: dict[str, str] = {}
    clean: dict[str, str | None] = {}
    for name, (required, limit) in EDITABLE.items():
        raw = values.get(name)
        if raw is None:
            continue  # a field the form did not send stays as it is
        text = " ".join(raw.split()) if name != "summary" else raw.strip()
        if not text:
            if required:
                errors[name] = N_("Feltet må fylles ut.")
            clean[name] = None
            continue
        if len(text) > limit:
            errors[name] = N_("Teksten er for lang.")
            continue
        if name in URL_FIELDS and web_url(text) != text:
            errors[name] = NOT_A_URL
            continue
        clean[name] = text
    if errors:
        raise ValidationFailed(errors)
    return clean


def edit_article(session: Session, article_id: int, values: Mapping[str, str]) -> list[str]:
    """Apply an editor's values; the names of the fields that changed. Bad input changes
    nothing and raises ValidationFailed naming each field."""
    article = get_article(session, article_id)
    clean = _validated(values)
    overrides = dict(article.feed_values or {})
    changed: list[str] = []
    for name, value in clean.items():
        current = getattr(article, name) or None
        if value == current:
            continue
        feed_value = overrides[name] if name in overrides else current
        if value == feed_value:
            overrides.pop(name, None)  # back to what the site says: no longer an edit
        else:
            overrides[name] = feed_value
        setattr(article, name, value if name != "summary" else (value or ""))
        changed.append(name)
    article.feed_values = overrides or None
    if changed:
        record_event(session, "article.edited", data={"id": article_id, "fields": changed})
    return changed


def apply_feed_values(article: Article, fields: Mapping[str, object]) -> bool:
    """Take a poll's values, leaving every edited column alone; True if anything changed."""
    overrides = dict(article.feed_values or {})
    changed = False
    for key, value in fields.items():
        if key in overrides:
            if overrides[key] != value:
                overrides[key] = value  # type: ignore[assignment]  # editable fields are text
                changed = True
        elif getattr(article, key) != value:
            setattr(article, key, value)
            changed = True
    if changed and overrides != (article.feed_values or {}):
        article.feed_values = overrides
    return changed
