"""The readers of an import whose addresses the database has never seen, written a
thousand at a time: one INSERT each for their subscribers, subscriptions, consent records
and events per chunk, instead of the ORM's eight statements a row (issue 12, item 15).

The rows are exactly what ``subscriptions.subscribe`` (and, for readers who already
consented, ``confirm``) write for a new address: the same columns, the same consent
records and events, in the same order per reader, and the same counters after the commit
(tests/subscribers/test_bulk_import.py compares them). The caller has already decided
everything that depends on other rows (duplicates, the suppression list, readers who
left, the one-mail-an-hour-per-mailbox rule, in file order); this module only writes.
A concurrent signup of one of the addresses fails the INSERT, and with it the whole
import's transaction, as the per-row path does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from mailer.db import table_of, utcnow
from mailer.events import Event
from mailer.metrics import count_event
from mailer.subscribers.consent import RequestContext, consent_values
from mailer.subscribers.models import Consent, Subscriber, Subscription
from mailer.subscribers.signup_requests import SignupRequest
from mailer.subscribers.states import SubscriptionStatus
from mailer.tokens import new_link_secret

# Rows per statement: SQLAlchemy's "insertmanyvalues" sends at most this many rows in one
# INSERT … VALUES (…), (…) … RETURNING (its default page), well under both databases'
# limits on bound parameters (10 columns × 1,000).
CHUNK = 1000


@dataclass(frozen=True)
class NewReader:
    request: SignupRequest
    # The hourly mailbox rule's answer for this row (BulkSignups.claim, in file order).
    mailed: bool


@dataclass(frozen=True)
class _Statements:
    subscriber: Any
    subscription: Any
    consent: Any
    event: Any


@cache
def _statements() -> _Statements:
    """Built once per process: building an INSERT costs more CPU than its cached SQL."""
    subscriber = table_of(Subscriber)
    subscription = table_of(Subscription)
    consent = table_of(Consent)
    event = table_of(Event)
    # Each row comes back with its key (the address; the reader, one subscription each):
    # the databases return a batch's rows in no promised order, and asking SQLAlchemy to
    # sort them (sort_by_parameter_order) makes it send SQLite one row per statement.
    return _Statements(
        subscriber=insert(subscriber).returning(subscriber.c.email, subscriber.c.id),
        subscription=insert(subscription).returning(
            subscription.c.subscriber_id, subscription.c.id
        ),
        # RETURNING only so that psycopg too sends one INSERT of many rows per page:
        # without it, SQLAlchemy hands psycopg an executemany, one statement per row at
        # the server (pipelined). The ids are not needed.
        consent=insert(consent).returning(consent.c.id),
        event=insert(event).returning(event.c.id),
    )


def insert_new_readers(
    session: Session,
    readers: Sequence[NewReader],
    ctx: RequestContext,
    newsletter_id: int,
    *,
    consented: bool,
) -> list[int]:
    """Write the readers (active at once when ``consented``, else pending); returns their
    subscription ids in the order given."""
    ids: list[int] = []
    for start in range(0, len(readers), CHUNK):
        chunk = readers[start : start + CHUNK]
        ids.extend(_insert_chunk(session, chunk, ctx, newsletter_id, consented, utcnow()))
    return ids


def _insert_chunk(
    session: Session,
    readers: Sequence[NewReader],
    ctx: RequestContext,
    newsletter_id: int,
    consented: bool,
    now: datetime,
) -> list[int]:
    built = _statements()
    readers_rows = [
        {
            "email": r.request.email,
            "name": r.request.name,
            "language": r.request.language,
            "created_at": now,
        }
        for r in readers
    ]
    subscriber_ids: dict[str, int] = {
        email: id_ for email, id_ in session.execute(built.subscriber, readers_rows)
    }
    subscription_rows = [
        {
            "subscriber_id": subscriber_ids[r.request.email],
            "newsletter_id": newsletter_id,
            # What confirm() makes of a pending subscription: active, confirmed now.
            "status": SubscriptionStatus.ACTIVE if consented else SubscriptionStatus.PENDING,
            "topics": list(r.request.topics),
            "created_at": now,
            "confirmed_at": now if consented else None,
            "unsubscribed_at": None,
            "confirmation_sent_at": now if r.mailed else None,
            "link_secret": new_link_secret(),
            "legacy_links_until": None,
        }
        for r in readers
    ]
    by_subscriber: dict[int, int] = {
        subscriber_id: id_
        for subscriber_id, id_ in session.execute(built.subscription, subscription_rows)
    }
    subscription_ids = [by_subscriber[subscriber_ids[r.request.email]] for r in readers]
    consents: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    signup_data = {"channel": ctx.channel}
    for r, subscription_id in zip(readers, subscription_ids, strict=True):
        # record_consent's signup record, then (consented) confirm()'s record and event.
        text = r.request.consent_text
        consents.append(
            _consent(subscription_id, "signup", ctx, now, text, r.request.consent_version)
        )
        events.append(_event("signup", subscription_id, signup_data, now))
        count_event(session, "signup", signup_data)
        if consented:
            consents.append(_consent(subscription_id, "confirm", ctx, now, "", ""))
            events.append(_event("confirm", subscription_id, {}, now))
            count_event(session, "confirm", {})
    session.execute(built.consent, consents)
    session.execute(built.event, events)
    return subscription_ids


def _consent(
    subscription_id: int, action: str, ctx: RequestContext, now: datetime, text: str, version: str
) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        **consent_values(action, ctx, text, version),
        "created_at": now,
    }


def _event(kind: str, subscription_id: int, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "kind": kind,
        "subscription_id": subscription_id,
        "issue_id": None,
        "data": data,
        "created_at": now,
    }
