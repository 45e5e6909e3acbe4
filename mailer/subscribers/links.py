"""Which subscription (if any) a personal token still opens: the id and the row's own
secret must match, so no token ever opens another or a later row."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.subscribers.models import Subscription
from mailer.tokens import LinkToken

# How long links mailed before link secrets (the id alone) keep working after the
# upgrade. Migration 0005 writes upgrade time + this on every row that existed then
# (Subscription.legacy_links_until); rows created later never accept such a link.
LEGACY_LINK_WINDOW = timedelta(days=60)


def opens(subscription: Subscription, link: LinkToken, now: datetime) -> bool:
    """Whether a correctly signed token really is this row's, not an earlier row's with
    the same id."""
    if link.subscription_id != subscription.id:
        return False
    if link.secret is not None:
        return hmac.compare_digest(link.secret.encode(), subscription.link_secret.encode())
    until = subscription.legacy_links_until
    # itsdangerous stamps whole seconds: a link mailed in the second the row was made counts.
    return (
        until is not None
        and now <= until
        and int(link.issued_at.timestamp()) >= int(subscription.created_at.timestamp())
    )


def subscription_for(
    session: Session, link: LinkToken, now: datetime | None = None
) -> Subscription | None:
    """The row a personal token opens, or None (gone, or the id now names another row)."""
    subscription = session.get(Subscription, link.subscription_id)
    if subscription is None or not opens(subscription, link, now or utcnow()):
        return None
    return subscription


def names_another_row(session: Session, link: LinkToken, now: datetime | None = None) -> bool:
    """Whether the token's id now belongs to a row it was not made for. (A row that is
    simply gone is not another: its correct links may still say "expired" or "erased".)"""
    row = session.get(Subscription, link.subscription_id)
    return row is not None and not opens(row, link, now or utcnow())
