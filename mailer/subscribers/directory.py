"""Finding subscribers and acting on one: search, filter, page, detail, unsubscribe, suppress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, SQLColumnExpression, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from mailer.errors import NotFound, ValidationFailed
from mailer.events import Event
from mailer.i18n import N_
from mailer.issues.drafting import issue_subject
from mailer.issues.models import Issue
from mailer.paging import Page
from mailer.reports.stats import SUBSCRIPTION_STATES
from mailer.sending.models import Delivery
from mailer.subscribers import erasure
from mailer.subscribers.addresses import punycode_query
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.models import Consent, Subscriber, Subscription
from mailer.subscribers.states import SubscriptionStatus, can_become
from mailer.subscribers.subscriptions import unsubscribe
from mailer.subscribers.suppression import is_suppressed, suppress_address

PER_PAGE = 50
MAX_QUERY = 200

UNKNOWN_STATE = N_("Ukjent status.")
UNKNOWN_TOPIC = N_("Ukjent tema")
LONG_QUERY = N_("Søket er for langt (høyst 200 tegn).")
BAD_PAGE = N_("Sidetallet må være et helt tall fra 1.")


class SubscriberNotFound(NotFound):
    pass


@dataclass(frozen=True)
class SubscriberRow:
    id: int
    email: str
    name: str
    language: str
    status: str
    topics: list[str]
    created_at: datetime


@dataclass(frozen=True)
class Filters:
    query: str = ""
    state: str = ""
    topic: str = ""
    page: int = 1


def parse_filters(args: dict[str, str], topics: tuple[str, ...]) -> Filters:
    """Query-string values checked together; ValidationFailed names each bad one."""
    errors: dict[str, str] = {}
    query = (args.get("q") or "").strip()
    if len(query) > MAX_QUERY:
        errors["q"] = LONG_QUERY
    state = (args.get("state") or "").strip()
    if state and state not in SUBSCRIPTION_STATES:
        errors["state"] = UNKNOWN_STATE
    topic = (args.get("topic") or "").strip()
    if topic and topic not in topics:
        errors["topic"] = UNKNOWN_TOPIC
    raw_page = (args.get("page") or "1").strip()
    page = 1
    if not raw_page.isdigit() or int(raw_page) < 1 or len(raw_page) > 6:
        errors["page"] = BAD_PAGE
    else:
        page = int(raw_page)
    if errors:
        raise ValidationFailed(errors)
    return Filters(query, state, topic, page)


def _lower(session: Session, column: SQLColumnExpression[str]) -> ColumnElement[str]:
    """Lower case that knows Æ, Ø and Å: SQLite's lower() only folds ASCII."""
    if session.get_bind().dialect.name != "sqlite":
        return func.lower(column)
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    raw.create_function(
        "unicode_lower", 1, lambda v: v.lower() if isinstance(v, str) else v, deterministic=True
    )
    return func.unicode_lower(column)


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _has_topic(session: Session, topic: str) -> ColumnElement[bool]:
    """The subscription's JSON list holds this topic, compared as decoded text: the
    stored JSON may spell «ø» as ``\\u00f8`` (SQLAlchemy writes ASCII-only JSON), so a
    LIKE over the column's text never matched a topic with æ, ø or å."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB  # not loaded on SQLite

        return cast(Subscription.topics, JSONB).contains([topic])
    values = func.json_each(Subscription.topics).table_valued("value")
    return exists(select(1).select_from(values).where(values.c.value == topic))


def search(session: Session, filters: Filters, per_page: int = PER_PAGE) -> Page[SubscriberRow]:
    query = select(
        Subscriber.id,
        Subscriber.email,
        Subscriber.name,
        Subscriber.language,
        Subscription.status,
        Subscription.topics,
        Subscriber.created_at,
    ).join(Subscription, Subscription.subscriber_id == Subscriber.id)
    if filters.query:
        pattern = _like(filters.query)
        matches = [
            _lower(session, Subscriber.email).like(pattern, escape="\\"),
            _lower(session, Subscriber.name).like(pattern, escape="\\"),
        ]
        # Addresses keep IDN domains in punycode; the editor types «blåbær».
        encoded = punycode_query(filters.query.lower())
        if encoded is not None:
            matches.append(Subscriber.email.like(_like(encoded), escape="\\"))
        query = query.where(or_(*matches))
    if filters.state:
        query = query.where(Subscription.status == filters.state)
    if filters.topic:
        query = query.where(_has_topic(session, filters.topic))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Subscriber.id.desc())
        .limit(per_page)
        .offset(Page.offset(filters.page, per_page))
    ).all()
    return Page([SubscriberRow(*row) for row in rows], int(total), filters.page, per_page)


@dataclass(frozen=True)
class DeliveryRow:
    issue_id: int
    subject: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


@dataclass
class SubscriberDetail:
    subscriber: Subscriber
    subscriptions: list[Subscription]
    consents: list[Consent] = field(default_factory=list)
    deliveries: list[DeliveryRow] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    suppressed: bool = False


def detail(
    session: Session, subscriber_id: int, language: str, secret_keys: tuple[str, ...]
) -> SubscriberDetail:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFound(f"no subscriber with id {subscriber_id}")
    subscriptions = list(
        session.scalars(select(Subscription).where(Subscription.subscriber_id == subscriber_id))
    )
    ids = [s.id for s in subscriptions] or [0]
    consents = list(
        session.scalars(
            select(Consent)
            .where(Consent.subscription_id.in_(ids))
            .order_by(Consent.created_at, Consent.id)
        )
    )
    deliveries = [
        DeliveryRow(
            d.issue_id,
            issue_subject(issue, language),
            d.status,
            d.attempts,
            d.last_error,
            d.sent_at,
        )
        for d, issue in session.execute(
            select(Delivery, Issue)
            .join(Issue, Issue.id == Delivery.issue_id)
            .where(Delivery.subscription_id.in_(ids))
            .order_by(Delivery.id.desc())
            .limit(100)
        )
    ]
    events = list(
        session.scalars(
            select(Event)
            .where(Event.subscription_id.in_(ids))
            .order_by(Event.created_at.desc(), Event.id.desc())
            .limit(100)
        )
    )
    return SubscriberDetail(
        subscriber,
        subscriptions,
        consents,
        deliveries,
        events,
        suppressed=is_suppressed(session, subscriber.email, secret_keys),
    )


def _subscriber(session: Session, subscriber_id: int) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFound(f"no subscriber with id {subscriber_id}")
    return subscriber


def unsubscribe_subscriber(session: Session, subscriber_id: int, ctx: RequestContext) -> int:
    """Unsubscribe from every newsletter (idempotent); returns how many subscriptions changed."""
    subscriber = _subscriber(session, subscriber_id)
    changed = 0
    for subscription in subscriber.subscriptions:
        if can_become(subscription.status, SubscriptionStatus.UNSUBSCRIBED):
            unsubscribe(session, subscription.id, ctx)
            changed += 1
    return changed


def suppress_subscriber(
    session: Session, subscriber_id: int, secret_key: str, ctx: RequestContext
) -> str:
    """Never mail this address again: unsubscribed now, and on the suppression list."""
    subscriber = _subscriber(session, subscriber_id)
    unsubscribe_subscriber(session, subscriber_id, ctx)
    return suppress_address(session, subscriber.email, secret_key, erasure.REASON_SUPPRESSED)
