"""The four statements of a signup from an address never seen before (the path a viral
link takes), built once per process and dialect and executed with each signup's values.

Building an INSERT per request (coercing each value, generating its cache key, and the
ORM's unit of work for the consent and event rows) cost more CPU than executing it
(bench/signup_profile.py); SQLAlchemy still caches the compiled SQL per statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, case, exists, insert, null, or_, select
from sqlalchemy.orm import Session

from mailer.db import UTCDateTime, dialect_insert, table_of
from mailer.events import Event
from mailer.subscribers.models import Consent, Subscriber, Subscription


@dataclass(frozen=True)
class Statements:
    subscriber: Any
    subscription: Any
    consent: Any
    event: Any


@cache
def _statements(upsert: Any) -> Statements:
    subscriber = table_of(Subscriber)
    subscription = table_of(Subscription)
    # One confirmation an hour per mailbox, whatever the tag (subscriptions._mailbox_mailed,
    # with the mailbox, its tagged pattern and the hour's start as parameters).
    mailed = exists(
        select(subscription.c.id)
        .join(subscriber, subscriber.c.id == subscription.c.subscriber_id)
        .where(
            subscription.c.confirmation_sent_at >= bindparam("since", type_=UTCDateTime()),
            or_(
                subscriber.c.email == bindparam("box"),
                subscriber.c.email.like(bindparam("tagged"), escape="\\"),
            ),
        )
    )
    return Statements(
        subscriber=upsert(subscriber)
        .on_conflict_do_nothing(index_elements=[subscriber.c.email])
        .returning(subscriber.c.id),
        subscription=insert(subscription)
        .values(
            confirmation_sent_at=case(
                (mailed, null()), else_=bindparam("sent_at", type_=UTCDateTime())
            )
        )
        .returning(subscription.c.id, subscription.c.confirmation_sent_at),
        consent=insert(table_of(Consent)),
        event=insert(table_of(Event)),
    )


def statements(session: Session) -> Statements:
    return _statements(dialect_insert(session))
