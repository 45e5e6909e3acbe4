"""The statements of a signup from an address never seen before (the path a viral link
takes), built once per process and dialect and executed with each signup's values.

Building an INSERT per request (coercing each value, generating its cache key, and the
ORM's unit of work for the consent and event rows) cost more CPU than executing it
(bench/signup_profile.py); SQLAlchemy still caches the compiled SQL per statement.

SQLite: four INSERTs (the reader, the subscription, the consent, the event). PostgreSQL:
the same four INSERTs as data-modifying CTEs of one statement (``together``), one round
trip instead of four and a quarter of the per-statement work in SQLAlchemy and psycopg.
Its CTEs see one snapshot, taken before any of them: the mailbox test in the
subscription's INSERT reads the other readers' subscriptions, never the rows this
statement writes, as it did when the INSERTs ran one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import JSON, bindparam, case, exists, insert, literal, null, or_, select
from sqlalchemy.orm import Session

from mailer.db import UTCDateTime, dialect_insert, table_of
from mailer.events import Event
from mailer.subscribers.models import Consent, Subscriber, Subscription, mailbox_sql


@dataclass(frozen=True)
class Statements:
    subscriber: Any
    subscription: Any
    consent: Any
    event: Any
    # PostgreSQL: all four in one statement returning the subscription's (id,
    # confirmation_sent_at), no row when the address exists; None elsewhere.
    together: Any = None


def _mailed(postgresql: bool) -> Any:
    """EXISTS: a confirmation went to the mailbox (under any tag) since ``since``
    (subscriptions._mailbox_mailed, with the mailbox, its tagged pattern and the hour's
    start as parameters; on PostgreSQL the mailbox alone, through its index)."""
    subscriber = table_of(Subscriber)
    subscription = table_of(Subscription)
    if postgresql:
        same_mailbox = mailbox_sql(subscriber.c.email) == bindparam("box")
    else:
        same_mailbox = or_(
            subscriber.c.email == bindparam("box"),
            subscriber.c.email.like(bindparam("tagged"), escape="\\"),
        )
    return exists(
        select(subscription.c.id)
        .join(subscriber, subscriber.c.id == subscription.c.subscriber_id)
        .where(
            subscription.c.confirmation_sent_at >= bindparam("since", type_=UTCDateTime()),
            same_mailbox,
        )
    )


def _sent_at(postgresql: bool = False) -> Any:
    # One confirmation an hour per mailbox, whatever the tag.
    return case((_mailed(postgresql), null()), else_=bindparam("sent_at", type_=UTCDateTime()))


@cache
def _statements(upsert: Any) -> Statements:
    subscriber = table_of(Subscriber)
    subscription = table_of(Subscription)
    return Statements(
        subscriber=upsert(subscriber)
        .on_conflict_do_nothing(index_elements=[subscriber.c.email])
        .returning(subscriber.c.id),
        subscription=insert(subscription)
        .values(confirmation_sent_at=_sent_at())
        .returning(subscription.c.id, subscription.c.confirmation_sent_at),
        consent=insert(table_of(Consent)),
        event=insert(table_of(Event)),
    )


def _param(column: Any, name: str | None = None) -> Any:
    """A parameter typed as its column (rendered with the column's cast on PostgreSQL)."""
    return bindparam(name or column.key, type_=column.type)


@cache
def _together() -> Any:
    """The four INSERTs as one PostgreSQL statement (see the module's docstring)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    subscriber = table_of(Subscriber)
    subscription = table_of(Subscription)
    consent = table_of(Consent)
    event = table_of(Event)
    reader = (
        pg_insert(subscriber)
        .values(
            email=_param(subscriber.c.email),
            name=_param(subscriber.c.name),
            language=_param(subscriber.c.language),
            created_at=_param(subscriber.c.created_at),
        )
        .on_conflict_do_nothing(index_elements=[subscriber.c.email])
        .returning(subscriber.c.id)
        .cte("new_reader")
    )
    columns = [
        subscription.c.subscriber_id,
        subscription.c.newsletter_id,
        subscription.c.status,
        subscription.c.topics,
        subscription.c.created_at,
        subscription.c.link_secret,
        subscription.c.confirmation_sent_at,
    ]
    made = (
        insert(subscription)
        .from_select(
            columns,
            select(
                reader.c.id,
                _param(subscription.c.newsletter_id),
                _param(subscription.c.status),
                _param(subscription.c.topics),
                _param(subscription.c.created_at),
                _param(subscription.c.link_secret),
                _sent_at(postgresql=True),
            ),
        )
        .returning(subscription.c.id, subscription.c.confirmation_sent_at)
        .cte("new_subscription")
    )
    consented = (
        insert(consent)
        .from_select(
            ["subscription_id", "action", "text", "text_version", "channel", "ip"]
            + ["user_agent", "created_at"],
            select(
                made.c.id,
                literal("signup", consent.c.action.type),
                _param(consent.c.text),
                _param(consent.c.text_version),
                _param(consent.c.channel),
                _param(consent.c.ip),
                _param(consent.c.user_agent),
                _param(consent.c.created_at),
            ),
        )
        .cte("new_consent")
    )
    recorded = (
        insert(event)
        .from_select(
            ["kind", "subscription_id", "data", "created_at"],
            select(
                literal("signup", event.c.kind.type),
                made.c.id,
                bindparam("data", type_=JSON()),
                _param(event.c.created_at),
            ),
        )
        .cte("new_event")
    )
    # The consent and event CTEs are not read: add_cte keeps them in the statement.
    return select(made.c.id, made.c.confirmation_sent_at).add_cte(consented, recorded)


def statements(session: Session) -> Statements:
    upsert = dialect_insert(session)
    built = _statements(upsert)
    if session.get_bind().dialect.name == "postgresql":
        return _with_together(built)
    return built


@cache
def _with_together(built: Statements) -> Statements:
    return Statements(built.subscriber, built.subscription, built.consent, built.event, _together())
