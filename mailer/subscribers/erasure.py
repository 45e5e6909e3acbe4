"""Erasure (GDPR art. 17) and the suppression list of keyed hashes.

An erased reader leaves nothing that names them: the subscriber row, their
subscriptions, consent records and deliveries are deleted. Only an HMAC of
the address stays on the suppression list, so that an import or a bounce
list cannot put them back, while the address itself cannot be read back out.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.db import rowcount, utcnow
from mailer.errors import NotFound
from mailer.events import Event, record_event
from mailer.issues.models import Issue, Newsletter
from mailer.sending.models import Delivery
from mailer.subscribers.models import Consent, Subscriber, Subscription, Suppression
from mailer.subscribers.subscriptions import RequestContext, normalise_email

REASON_ERASED = "erased"
REASON_SUPPRESSED = "suppressed"


class SubscriberNotFound(NotFound):
    pass


def suppression_hash(email: str, secret_key: str) -> str:
    """HMAC-SHA256 of the normalised address, keyed with the service's first secret key."""
    address = normalise_email(email, "en")
    return hmac.new(secret_key.encode("utf-8"), address.encode("utf-8"), hashlib.sha256).hexdigest()


def is_suppressed(session: Session, email: str, secret_keys: Iterable[str]) -> bool:
    """True when the address is on the list; every key is tried, so a rotated key still counts."""
    hashes = [suppression_hash(email, key) for key in secret_keys]
    return (
        session.scalar(select(Suppression.id).where(Suppression.email_hash.in_(hashes)).limit(1))
        is not None
    )


def suppress_address(session: Session, email: str, secret_key: str, reason: str) -> str:
    """Put the address on the suppression list (idempotent); returns its hash."""
    digest = suppression_hash(email, secret_key)
    if session.scalar(select(Suppression.id).where(Suppression.email_hash == digest)) is None:
        try:
            with session.begin_nested():
                session.add(Suppression(email_hash=digest, reason=reason))
        except IntegrityError:
            pass  # added by another request a moment ago
    return digest


def lift_suppression(session: Session, email: str, secret_keys: Iterable[str]) -> bool:
    """Take the address off the list (its hash under every key); True if it was on it.

    Only for a reader who signed up anew and confirmed through double opt-in."""
    hashes = [suppression_hash(email, key) for key in secret_keys]
    removed = session.execute(delete(Suppression).where(Suppression.email_hash.in_(hashes)))
    return bool(rowcount(removed))


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
    session: Session, subscriber_id: int, secret_key: str, ctx: RequestContext
) -> Erasure:
    """Delete everything about the subscriber; keep only the keyed hash. The caller commits."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFound(f"no subscriber with id {subscriber_id}")
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
    profile, subscriptions with topics, consent records, deliveries and audit events."""
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
    }
