"""The suppression list: addresses never to mail again, kept only as keyed hashes (HMAC),
so an erased reader's address cannot be read back out, while an import or a bounce list
still cannot put them back."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.db import rowcount
from mailer.errors import ValidationFailed
from mailer.subscribers.addresses import normalise_email
from mailer.subscribers.models import Suppression


def suppression_hash(email: str, secret_key: str) -> str:
    """HMAC-SHA256 of the normalised address, keyed with the service's first secret key.

    An address stored before a stricter validation rule (an old import) is hashed as stored,
    lower-cased: it is still a reader who can be looked up and suppressed, never an error."""
    try:
        address = normalise_email(email, "en")
    except ValidationFailed:
        address = email.strip().lower()
    return _keyed_hash(address, secret_key)


def _keyed_hash(address: str, secret_key: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), address.encode("utf-8"), hashlib.sha256).hexdigest()


def is_suppressed(session: Session, email: str, secret_keys: Iterable[str]) -> bool:
    """True when the address is on the list; every key is tried, so a rotated key still counts."""
    hashes = [suppression_hash(email, key) for key in secret_keys]
    return (
        session.scalar(select(Suppression.id).where(Suppression.email_hash.in_(hashes)).limit(1))
        is not None
    )


def suppressed_among(
    session: Session,
    emails: Iterable[str],
    secret_keys: Iterable[str],
    *,
    normalised: bool = False,
) -> set[str]:
    """The addresses among ``emails`` that are on the list, in one query per thousand
    hashes (an import of thousands asks once, not once a row). ``normalised``: every
    address is as ``normalise_email`` returns it (an import's checked rows), so it is
    hashed as it is; validating each a second time was a third of an import's time."""
    keys = list(secret_keys)
    hashed = _keyed_hash if normalised else suppression_hash
    by_hash = {hashed(email, key): email for email in set(emails) for key in keys}
    hashes = list(by_hash)
    found: set[str] = set()
    for start in range(0, len(hashes), 1000):
        chunk = hashes[start : start + 1000]
        found.update(
            by_hash[h]
            for h in session.scalars(
                select(Suppression.email_hash).where(Suppression.email_hash.in_(chunk))
            )
        )
    return found


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
