"""Erasure (GDPR art. 17) and the data export of one reader.

An erased reader leaves nothing that names them: the subscriber row, their
subscriptions, consent records and deliveries are deleted. Only an HMAC of
the address stays on the suppression list, so that an import or a bounce
list cannot put them back, while the address itself cannot be read back out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, inspect, select
from sqlalchemy.orm import Session

from mailer.bounces.models import BounceReport
from mailer.db import utcnow
from mailer.errors import NotFound
from mailer.events import Event, record_event
from mailer.issues.models import Issue, Newsletter
from mailer.sending.models import Delivery
from mailer.subscribers import csv_uploads
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.models import Consent, Subscriber, Subscription
from mailer.subscribers.suppression import suppress_address

REASON_ERASED = "erased"
REASON_SUPPRESSED = "suppressed"


class SubscriberNotFound(NotFound):
    pass


def delete_subscriptions(session: Session, subscription_ids: list[int]) -> None:
    """Delete subscriptions and everything that points at them: deliveries, consent
    records and their audit events (an event's subscription id could otherwise come to
    name someone else, as SQLite may give a freed id to the next row)."""
    if not subscription_ids:
        return
    session.execute(delete(Delivery).where(Delivery.subscription_id.in_(subscription_ids)))
    session.execute(delete(Consent).where(Consent.subscription_id.in_(subscription_ids)))
    session.execute(delete(Event).where(Event.subscription_id.in_(subscription_ids)))
    session.execute(delete(Subscription).where(Subscription.id.in_(subscription_ids)))


@dataclass(frozen=True)
class Erasure:
    email_hash: str
    subscriptions: int


def erase_subscriber(
    session: Session,
    subscriber_id: int,
    secret_key: str,
    ctx: RequestContext,
    *,
    var_dir: Path | None = None,
) -> Erasure:
    """Delete everything about the subscriber; keep only the keyed hash. The caller commits
    (and then calls ``Database.drop_deleted``).

    With ``var_dir``, CSV uploads waiting there that name the reader are removed too."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFound(f"no subscriber with id {subscriber_id}")
    if var_dir is not None:
        csv_uploads.forget(var_dir, subscriber.email)
    digest = suppress_address(session, subscriber.email, secret_key, REASON_ERASED)
    subscription_ids = list(
        session.scalars(select(Subscription.id).where(Subscription.subscriber_id == subscriber_id))
    )
    delete_subscriptions(session, subscription_ids)
    session.execute(delete(Subscriber).where(Subscriber.id == subscriber_id))
    session.expunge(subscriber)
    # The event keeps no address and no id that still leads anywhere: only that it happened.
    record_event(
        session,
        "subscriber.erased",
        data={"channel": ctx.channel, "subscriptions": len(subscription_ids)},
    )
    return Erasure(email_hash=digest, subscriptions=len(subscription_ids))


EXPORT_FORMAT = "mailer.subscriber-export/1"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _columns(row: Any) -> dict[str, Any]:
    """Every mapped column of a row, so the export cannot silently miss one added later."""
    return {attr.key: _plain(getattr(row, attr.key)) for attr in inspect(row).mapper.column_attrs}


def export_subscriber(session: Session, subscriber_id: int) -> dict[str, Any]:
    """Everything the database holds on one reader (GDPR art. 15 and 20), as JSON data:
    profile, subscriptions with topics, consent records, deliveries, audit events and the
    bounce or complaint reports about them."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFound(f"no subscriber with id {subscriber_id}")
    subscriptions = list(
        session.scalars(
            select(Subscription)
            .where(Subscription.subscriber_id == subscriber_id)
            .order_by(Subscription.id)
        )
    )
    ids = [s.id for s in subscriptions]
    newsletters = {n.id: n.name for n in session.scalars(select(Newsletter))}
    consents = session.scalars(
        select(Consent).where(Consent.subscription_id.in_(ids)).order_by(Consent.id)
    )
    deliveries = session.execute(
        select(Delivery, Issue.subject)
        .join(Issue, Issue.id == Delivery.issue_id)
        .where(Delivery.subscription_id.in_(ids))
        .order_by(Delivery.id)
    ).all()
    events = session.scalars(select(Event).where(Event.subscription_id.in_(ids)).order_by(Event.id))
    reports = session.scalars(
        select(BounceReport).where(BounceReport.subscription_id.in_(ids)).order_by(BounceReport.id)
    )
    return {
        "format": EXPORT_FORMAT,
        "exported_at": utcnow().isoformat(),
        "profile": _columns(subscriber),
        "subscriptions": [
            {**_columns(s), "newsletter": newsletters.get(s.newsletter_id, "")}
            for s in subscriptions
        ],
        "consents": [_columns(c) for c in consents],
        "deliveries": [{**_columns(d), "issue_subject": subject} for d, subject in deliveries],
        "events": [_columns(e) for e in events],
        # Bounces and complaints about them: headers and report parts only, as stored.
        "bounce_reports": [_columns(r) for r in reports],
    }
