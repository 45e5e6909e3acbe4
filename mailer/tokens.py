"""Signed tokens for links in mails: one salt per purpose, several keys for rotation.

A personal link names its subscription *and* that row's random ``link_secret``: ids can
be handed out again (a deleted row's id on SQLite, a restored backup, an explicit
insert), a secret drawn for one row cannot match another. Links mailed before the
secret existed carry the id alone; mailer.subscribers.links decides how long those still count.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer

CONFIRM_MAX_AGE = 7 * 24 * 3600
EXPORT_MAX_AGE = 7 * 24 * 3600
# 12 random bytes → 16 URL-safe characters: the token stays about 75 characters long.
LINK_SECRET_BYTES = 12


class Purpose(Enum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    BOUNCE = "bounce"
    EXPORT = "export"


# None means the link never expires: an unsubscribe link in an old mail must still work.
MAX_AGE: dict[Purpose, int | None] = {
    Purpose.CONFIRM: CONFIRM_MAX_AGE,
    Purpose.UNSUBSCRIBE: None,
    Purpose.PREFERENCES: None,
    Purpose.BOUNCE: None,
    Purpose.EXPORT: EXPORT_MAX_AGE,
}


def new_link_secret() -> str:
    return secrets.token_urlsafe(LINK_SECRET_BYTES)


@dataclass(frozen=True)
class LinkToken:
    """What a correctly signed personal token says; mailer.mail.links checks it against the row."""

    subscription_id: int
    # None for a legacy token (the id alone), mailed before subscriptions had a secret.
    secret: str | None
    issued_at: datetime


class InvalidToken(Exception):
    """Forged, tampered, for another purpose, or unreadable."""


class ExpiredToken(InvalidToken):
    def __init__(self, message: str, link: LinkToken) -> None:
        super().__init__(message)
        # Correctly signed, only too old: the caller may still check it names the row.
        self.link = link


def _link(value: Any, issued_at: datetime) -> LinkToken:
    if isinstance(value, int) and not isinstance(value, bool):
        return LinkToken(value, None, issued_at)
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], str)
        and value[1]
    ):
        return LinkToken(value[0], value[1], issued_at)
    raise InvalidToken("this link is not valid")


class Tokens:
    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous signs with the last key and accepts any: our first key is the newest.
        self._keys = list(reversed(secret_keys))
        # Two tokens go into every mail of a send: build each serializer once.
        self._serializers = {
            p: URLSafeTimedSerializer(self._keys, salt=f"mailer.{p.value}") for p in Purpose
        }

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        return self._serializers[purpose]

    def make(self, purpose: Purpose, subscription_id: int, link_secret: str) -> str:
        return str(self._serializer(purpose).dumps([subscription_id, link_secret]))

    def sign_short(self, purpose: Purpose, value: int) -> str:
        """A compact token without a timestamp, for an address's local part (≤ 64 chars)."""
        signer = Signer(self._keys, salt=f"mailer.{purpose.value}")
        return signer.sign(str(value)).decode("ascii")

    def read_short(self, purpose: Purpose, token: str) -> int:
        signer = Signer(self._keys, salt=f"mailer.{purpose.value}")
        try:
            return int(signer.unsign(token))
        except (BadSignature, ValueError, UnicodeError) as exc:
            raise InvalidToken("this token is not valid") from exc

    def read(self, purpose: Purpose, token: str) -> LinkToken:
        """The signed content of a personal token; ExpiredToken past its purpose's age."""
        serializer = self._serializer(purpose)
        try:
            value, issued_at = serializer.loads(
                token, max_age=MAX_AGE[purpose], return_timestamp=True
            )
        except SignatureExpired as exc:
            link = self._expired(serializer, exc)
            raise ExpiredToken("this link has expired", link) from exc
        except (BadSignature, UnicodeError, ValueError) as exc:
            raise InvalidToken("this link is not valid") from exc
        return _link(value, issued_at)

    def read_expired(self, purpose: Purpose, token: str) -> LinkToken:
        """A correctly signed token, expired or not (to offer a new link).

        A forged or tampered token still raises InvalidToken: only the age is forgiven.
        """
        try:
            return self.read(purpose, token)
        except ExpiredToken as exc:
            return exc.link

    @staticmethod
    def _expired(serializer: URLSafeTimedSerializer, exc: SignatureExpired) -> LinkToken:
        if exc.date_signed is None or exc.payload is None:
            raise InvalidToken("this link is not valid") from exc
        try:
            value = serializer.load_payload(exc.payload)
        except (BadSignature, UnicodeError, ValueError) as inner:
            raise InvalidToken("this link is not valid") from inner
        return _link(value, exc.date_signed)
