"""The newsletter's own settings: its name, default language and the topics readers pick.

The ``newsletter`` row is the source of truth. ``MAILER_TOPICS`` only seeds it: while
the row's topic list is empty (a fresh install, or a deployment from before the settings
page), the topics from the environment are offered, so nothing changes for a reader until
an admin saves the settings. Removing a topic touches no subscription: readers who chose
it keep it stored, and the digest is still cut by it.

Errors are ``ValidationFailed`` with the field named, in the language the caller asks
for (the admin in the editor's language, the JSON API in English).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.db import Database
from mailer.errors import ValidationFailed
from mailer.i18n import LANGUAGES, N_, gettext
from mailer.issues import newsletter_cache
from mailer.subscribers.addresses import has_control_characters
from mailer.subscribers.subscriptions import default_newsletter

MAX_NAME = 200
MAX_TOPIC = 60
MAX_TOPICS = 30

EMPTY_NAME = N_("Navnet kan ikke være tomt.")
LONG_NAME = N_("Navnet er for langt (høyst 200 tegn).")
BAD_NAME = N_("Navnet kan ikke inneholde linjeskift eller kontrolltegn.")
UNKNOWN_LANGUAGE = N_("Velg norsk (nb) eller engelsk (en).")
NOT_A_LIST = N_("Temaene må være en liste med tekster.")
EMPTY_TOPIC = N_("Et tema kan ikke være tomt.")
LONG_TOPIC = N_("Et tema kan ha høyst 60 tegn")
BAD_TOPIC = N_("Et tema kan ikke inneholde kontrolltegn")
SEMICOLON_TOPIC = N_("Et tema kan ikke inneholde semikolon (det skiller temaene i CSV-filer)")
DUPLICATE_TOPIC = N_("Det samme temaet står to ganger")
TOO_MANY_TOPICS = N_("Høyst 30 temaer.")
NO_TOPICS = N_("Skriv minst ett tema. En tom liste ville gi tilbake standardtemaene fra oppsettet.")


def current_topics(session: Session, settings: Settings) -> tuple[str, ...]:
    """The topics readers can pick now: the newsletter's own, else the configured seed."""
    stored = default_newsletter(session).topics
    return tuple(stored) if stored else settings.newsletter_topics


def load_topics(db: Database, settings: Settings) -> tuple[str, ...]:
    """``current_topics`` for a view that has no session open (every signup asks): from
    this process's copy, read again after an admin changed them (newsletter_cache)."""
    stored = newsletter_cache.stored_topics(db, settings)
    return stored if stored else settings.newsletter_topics


def offered_topics(current: Sequence[str], chosen: Iterable[str]) -> tuple[str, ...]:
    """The current topics plus any retired one this reader still has, so that saving
    other preferences does not silently drop it."""
    return (*current, *(topic for topic in chosen if topic not in current))


def topics_from_lines(text: str) -> list[str]:
    """The admin form's textarea: one topic a line; blank lines are not topics."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _shown(topic: str) -> str:
    """A rejected topic as it can be shown next to the message."""
    cleaned = "".join("?" if has_control_characters(ch) else ch for ch in topic)
    return f"«{cleaned[:MAX_TOPIC]}»"


def _check_topics(raw: Any, seed: Sequence[str], ui: str) -> tuple[list[str], str | None]:
    if not isinstance(raw, list | tuple):
        return [], gettext(NOT_A_LIST, ui)
    topics: list[str] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, str):
            return [], gettext(NOT_A_LIST, ui)
        topic = unicodedata.normalize("NFC", item.strip())
        if not topic:
            return [], gettext(EMPTY_TOPIC, ui)
        for broken, message in (
            (has_control_characters(topic), BAD_TOPIC),
            (len(topic) > MAX_TOPIC, LONG_TOPIC),
            (";" in topic, SEMICOLON_TOPIC),
            (topic.casefold() in seen, DUPLICATE_TOPIC),
        ):
            if broken:
                return [], f"{gettext(message, ui)}: {_shown(topic)}"
        seen.add(topic.casefold())
        topics.append(topic)
    if len(topics) > MAX_TOPICS:
        return [], gettext(TOO_MANY_TOPICS, ui)
    if not topics and seed:
        # An empty list means "use MAILER_TOPICS": saving one would bring those back.
        return [], gettext(NO_TOPICS, ui)
    return topics, None


def validate_settings(
    name: Any, language: Any, topics: Any, seed: Sequence[str] = (), ui: str = "nb"
) -> tuple[str, str, list[str]]:
    """The cleaned (name, language, topics), or ValidationFailed naming every bad field."""
    errors: dict[str, str] = {}
    clean_name = name.strip() if isinstance(name, str) else ""
    if not clean_name:
        errors["name"] = gettext(EMPTY_NAME, ui)
    elif has_control_characters(clean_name):
        # The name can end up in a From: header; a line break there would forge headers.
        errors["name"] = gettext(BAD_NAME, ui)
    elif len(clean_name) > MAX_NAME:
        errors["name"] = gettext(LONG_NAME, ui)
    if language not in LANGUAGES:
        errors["language"] = gettext(UNKNOWN_LANGUAGE, ui)
    clean_topics, problem = _check_topics(topics, seed, ui)
    if problem:
        errors["topics"] = problem
    if errors:
        raise ValidationFailed(errors)
    return clean_name, str(language), clean_topics


def update_settings(
    session: Session,
    name: Any,
    language: Any,
    topics: Any,
    settings: Settings,
    ui: str = "nb",
) -> dict[str, Any]:
    """Validate and store; returns what changed (for the audit log). Changes nothing
    when any field is bad. The caller audits and commits."""
    seed = settings.newsletter_topics
    clean_name, clean_language, clean_topics = validate_settings(name, language, topics, seed, ui)
    newsletter = default_newsletter(session)
    before = current_topics(session, settings)
    changes: dict[str, Any] = {}
    if newsletter.name != clean_name:
        changes["name"] = [newsletter.name, clean_name]
    if newsletter.language != clean_language:
        changes["language"] = [newsletter.language, clean_language]
    added = [t for t in clean_topics if t not in before]
    removed = [t for t in before if t not in clean_topics]
    if added or removed:
        changes["topics_added"], changes["topics_removed"] = added, removed
    newsletter.name = clean_name
    newsletter.language = clean_language
    # Stored even when equal to the seed: from now on the row alone decides.
    # A new list (not an in-place edit) so the JSON column is seen as changed.
    newsletter.topics = list(clean_topics)
    newsletter_cache.invalidate_after_commit(session, settings)
    return changes


def settings_as_dict(session: Session, settings: Settings) -> dict[str, Any]:
    newsletter = default_newsletter(session)
    return {
        "name": newsletter.name,
        "language": newsletter.language,
        "topics": list(current_topics(session, settings)),
        "topics_from_default": not newsletter.topics,
    }
