"""Signed tokens for links in mails: one salt per purpose, several keys for rotation."""

from __future__ import annotations

from enum import Enum

from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer

CONFIRM_MAX_AGE = 7 * 24 * 3600
EXPORT_MAX_AGE = 7 * 24 * 3600


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


class InvalidToken(Exception):
    """Forged, tampered, for another purpose, or unreadable."""


class ExpiredToken(InvalidToken):
    pass


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

    def make(self, purpose: Purpose, subscription_id: int) -> str:
        return str(self._serializer(purpose).dumps(subscription_id))

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

    def read(self, purpose: Purpose, token: str) -> int:
        try:
            value = self._serializer(purpose).loads(token, max_age=MAX_AGE[purpose])
        except SignatureExpired as exc:
            raise ExpiredToken("this link has expired") from exc
        except (BadSignature, UnicodeError, ValueError) as exc:
            raise InvalidToken("this link is not valid") from exc
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidToken("this link is not valid")
        return value

    def read_expired(self, purpose: Purpose, token: str) -> int:
        """The id in a correctly signed token, expired or not (to offer a new link).

        A forged or tampered token still raises InvalidToken: only the age is forgiven.
        """
        serializer = self._serializer(purpose)
        try:
            value = serializer.loads(token, max_age=MAX_AGE[purpose])
        except SignatureExpired as exc:
            try:
                value = serializer.load_payload(exc.payload)
            except (BadSignature, UnicodeError, ValueError) as inner:
                raise InvalidToken("this link is not valid") from inner
        except (BadSignature, UnicodeError, ValueError) as exc:
            raise InvalidToken("this link is not valid") from exc
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidToken("this link is not valid")
        return value
