"""How topics are used: readers per topic, and the feeds' own categories that are not
topics yet (so an editor can take one over with a click)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, cast, func, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from mailer.articles.models import Article
from mailer.config import Settings
from mailer.issues.newsletter import current_topics, settings_as_dict, update_settings
from mailer.subscribers.models import Subscription
from mailer.subscribers.states import SubscriptionStatus

# Suggestions shown at most: the most used categories first.
MAX_SUGGESTIONS = 30


def _counts(session: Session, column: Any, *where: ColumnElement[bool]) -> dict[str, int]:
    """How many rows hold each value of a JSON list column, counted in the database."""
    if session.get_bind().dialect.name == "postgresql":
        each = func.jsonb_array_elements_text(cast(column, JSONB)).table_valued("value")
    else:
        each = func.json_each(column).table_valued("value")
    value = each.c.value
    # A lateral join of each row with its own list (no join condition: it is the row's).
    query = select(value, func.count()).select_from(column.class_).join(each, true()).where(*where)
    return {str(v): int(n) for v, n in session.execute(query.group_by(value)) if v}


def readers_per_topic(session: Session, settings: Settings) -> list[tuple[str, int]]:
    """Each current topic with the number of active readers who chose it (0 included)."""
    counts = _counts(session, Subscription.topics, Subscription.status == SubscriptionStatus.ACTIVE)
    return [(topic, counts.get(topic, 0)) for topic in current_topics(session, settings)]


def suggested_topics(session: Session, settings: Settings) -> list[tuple[str, int]]:
    """The feeds' categories that are not topics yet, with how many articles carry each."""
    taken = {t.casefold() for t in current_topics(session, settings)}
    counts = _counts(session, Article.topics, Article.hidden.is_(False))
    fresh = [(c, n) for c, n in counts.items() if c.strip() and c.casefold() not in taken]
    fresh.sort(key=lambda item: (-item[1], item[0].casefold()))
    return fresh[:MAX_SUGGESTIONS]


def add_topic(session: Session, topic: str, settings: Settings, ui: str) -> dict[str, Any]:
    """Add one topic to the list, checked like the settings form (ValidationFailed names
    ``topics``); what changed, for the audit log."""
    saved = settings_as_dict(session, settings)
    topics = [*saved["topics"], topic.strip()]
    return update_settings(session, saved["name"], saved["language"], topics, settings, ui=ui)
