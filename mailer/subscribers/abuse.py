"""Telling a person from a form-filling bot, without telling the bot anything.

Two cheap checks on the signup form, both answered silently (the same "check your
email" page, nothing stored, no mail):

- a honeypot field that people never see and bots fill in;
- a minimum fill time: our own form carries a signed stamp of when it was served,
  and a POST sooner than ``min_fill_seconds`` after that is a script. The embed
  snippet lives in another site's HTML with no server-rendered stamp, so it gets the
  honeypot and the request limits but not this check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

HONEYPOT_FIELD = "website"
STAMP_FIELD = "form_stamp"
EMBED_FIELD = "embed"
_STAMP_SALT = "mailer.form-stamp"


def _serializer(secret_keys: Sequence[str]) -> URLSafeSerializer:
    # itsdangerous signs with the last key and accepts any: our first key is the newest.
    return URLSafeSerializer(list(reversed(secret_keys)), salt=_STAMP_SALT)


def make_form_stamp(secret_keys: Sequence[str], now: float) -> str:
    """A signed "this form was served at ``now``" (seconds since the epoch)."""
    return str(_serializer(secret_keys).dumps(round(now, 3)))


def form_age(secret_keys: Sequence[str], stamp: str | None, now: float) -> float | None:
    """Seconds since the form was served, or None for a missing or forged stamp."""
    if not stamp or len(stamp) > 200:
        return None
    try:
        served = _serializer(secret_keys).loads(stamp)
    except (BadSignature, UnicodeError, ValueError):
        return None
    if not isinstance(served, int | float) or isinstance(served, bool):
        return None
    return now - float(served)


def filled_too_fast(
    secret_keys: Sequence[str], stamp: str | None, now: float, min_seconds: float
) -> bool:
    """True when the POST came sooner than a person could fill the form.

    With ``min_seconds`` at 0 the check is off. Otherwise a missing or forged stamp
    counts as too fast (our form always carries one), and so does a stamp from the
    future (a clock would have to run backwards).
    """
    if min_seconds <= 0:
        return False
    age = form_age(secret_keys, stamp, now)
    return age is None or age < 0 or age < min_seconds


def honeypot_filled(value: Any) -> bool:
    """Anything but an empty (or absent) honeypot is a bot."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, bool):
        return value
    if isinstance(value, list | dict):
        return len(value) > 0
    return True  # a number, or anything else a person's browser never sends
