"""Signups nobody confirmed are not kept: beat deletes them after ``MAILER_PENDING_DAYS``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailer.db import rowcount
from mailer.events import record_event
from mailer.subscribers.erasure import delete_subscriptions
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.states import SubscriptionStatus

CHUNK = 500  # ids per DELETE … IN (…), well within every database's parameter limit


@dataclass(frozen=True)
class CleanupResult:
    subscriptions: int
    subscribers: int


def delete_stale_pending(session: Session, now: datetime, days: int) -> CleanupResult:
    """Delete pending subscriptions whose last signup is older than ``days``, with their
    consent records and events, and the subscribers left with no subscription.

    "Last signup" is the last confirmation mail sent (or the subscription's creation),
    so a former reader who signed up again last week is not swept away because their
    row is years old. The caller commits.
    """
    cutoff = now - timedelta(days=days)
    last_signup = func.coalesce(Subscription.confirmation_sent_at, Subscription.created_at)
    rows = session.execute(
        select(Subscription.id, Subscription.subscriber_id).where(
            Subscription.status == SubscriptionStatus.PENDING, last_signup < cutoff
        )
    ).all()
    stale = [row[0] for row in rows]
    subscriber_ids = sorted({row[1] for row in rows})
    for start in range(0, len(stale), CHUNK):
        delete_subscriptions(session, stale[start : start + CHUNK])
    orphans = 0
    for start in range(0, len(subscriber_ids), CHUNK):
        chunk = subscriber_ids[start : start + CHUNK]
        still_subscribed = select(Subscription.subscriber_id).where(
            Subscription.subscriber_id.in_(chunk)
        )
        orphans += rowcount(
            session.execute(
                delete(Subscriber).where(
                    Subscriber.id.in_(chunk), Subscriber.id.not_in(still_subscribed)
                )
            )
        )
    if stale:
        record_event(
            session,
            "cleanup.pending",
            data={"subscriptions": len(stale), "subscribers": orphans, "days": days},
        )
    session.flush()
    return CleanupResult(subscriptions=len(stale), subscribers=orphans)
