"""An editor takes a bounced reader back (their mailbox works again): the subscription is
active, the bounce's suppression is lifted, soft scores start from zero. Audited by the
caller (the admin view records who did it)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailer.errors import NotFound
from mailer.events import record_event
from mailer.subscribers.models import Subscriber, Subscription, Suppression
from mailer.subscribers.states import EDITOR_REACTIVATES, SubscriptionStatus
from mailer.subscribers.suppression import suppression_hash

REACTIVATED = "subscription.reactivated"


def reactivate_bounced(session: Session, subscriber_id: int, secret_keys: tuple[str, ...]) -> int:
    """The number of subscriptions made active again (0: none was bounced). Caller commits."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(f"no subscriber with id {subscriber_id}")
    bounced = session.scalars(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber_id,
            Subscription.status.in_(EDITOR_REACTIVATES),
        )
    ).all()
    for subscription in bounced:
        subscription.status = SubscriptionStatus.ACTIVE
        record_event(session, REACTIVATED, subscription_id=subscription.id)
    if bounced:
        # Only the bounce's entry: an address suppressed for another reason stays so.
        hashes = [suppression_hash(subscriber.email, key) for key in secret_keys]
        session.execute(
            delete(Suppression).where(
                Suppression.email_hash.in_(hashes),
                Suppression.reason == SubscriptionStatus.BOUNCED.value,
            )
        )
    session.flush()
    return len(bounced)
