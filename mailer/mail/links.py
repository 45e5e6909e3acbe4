"""Links in mails and pages: which page each signed token opens, which subscription (if
any) a token still opens, and which URLs may be links."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.db import utcnow
from mailer.subscribers.models import Subscription
from mailer.tokens import LinkToken, Purpose, Tokens

URL_LENGTH = 2000

# The URL path (see DESIGN.md's contract) each kind of personal link opens.
PATHS: dict[Purpose, str] = {
    Purpose.CONFIRM: "confirm",
    Purpose.UNSUBSCRIBE: "unsubscribe",
    Purpose.PREFERENCES: "preferences",
    Purpose.EXPORT: "data",
}

# How long links mailed before link secrets (the id alone) keep working after the
# upgrade. Migration 0005 writes upgrade time + this on every row that existed then
# (Subscription.legacy_links_until); rows created later never accept such a link.
LEGACY_LINK_WINDOW = timedelta(days=60)


def personal_link(
    settings: Settings, tokens: Tokens, purpose: Purpose, subscription_id: int, link_secret: str
) -> str:
    token = tokens.make(purpose, subscription_id, link_secret)
    return f"{settings.base_url}/{PATHS[purpose]}/{token}"


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


def web_url(value: str, base: str = "") -> str | None:
    """``value`` as an absolute http(s) URL (resolved against ``base``), else None."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        url = urljoin(base, value) if base else value
        parts = urlsplit(url)
    except ValueError:  # e.g. a broken IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if len(url) > URL_LENGTH or any(c.isspace() for c in url):
        return None
    return url
