"""Two-factor login for editors: a TOTP authenticator app (RFC 6238, pyotp) enrolled from
a QR code (segno), and one-time recovery codes stored as argon2 hashes.

Enrolment is two steps: a secret is made and shown, and two-factor is on only once the
editor typed a code from it (so a mistyped scan never locks anyone out). A code is used
at most once: the last accepted time step is kept and a code of that step or an earlier
one is refused, so a code seen over a shoulder cannot be replayed.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.editors.models import Editor, RecoveryCode
from mailer.errors import ValidationFailed
from mailer.events import record_event
from mailer.i18n import N_

RECOVERY_CODES = 10
# Codes from the step before and after count too: phones' clocks drift by a few seconds.
VALID_WINDOW = 1
_hasher = PasswordHasher()
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread

WRONG_CODE = N_("Koden stemmer ikke. Bruk den nyeste koden fra appen, eller en reservekode.")
NOT_ENROLLING = N_("Start oppsettet på nytt.")


def start_enrolment(session: Session, editor: Editor) -> str:
    """A new secret for the editor to scan (two-factor stays as it was until confirmed)."""
    if editor.has_two_factor:
        raise ValidationFailed({"code": NOT_ENROLLING})
    editor.totp_secret = pyotp.random_base32()
    return editor.totp_secret


def provisioning_uri(editor: Editor, issuer: str) -> str:
    if not editor.totp_secret:
        raise ValidationFailed({"code": NOT_ENROLLING})
    return pyotp.TOTP(editor.totp_secret).provisioning_uri(name=editor.email, issuer_name=issuer)


def qr_code_svg(uri: str) -> str:
    """The QR code as a data: URI of an SVG (no image library, no inline script)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def _matching_step(secret: str, code: str, now: float) -> int | None:
    totp = pyotp.TOTP(secret)
    current = totp.timecode(_at(now))
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        step = current + offset
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


def _clean(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()[:32]


def confirm_enrolment(
    session: Session, editor: Editor, code: str, now: float | None = None
) -> list[str]:
    """Turn two-factor on with a first code from the app; returns the recovery codes, shown
    to the editor once (only their hashes are kept)."""
    if editor.has_two_factor or not editor.totp_secret:
        raise ValidationFailed({"code": NOT_ENROLLING})
    step = _matching_step(editor.totp_secret, _clean(code), time.time() if now is None else now)
    if step is None:
        raise ValidationFailed({"code": WRONG_CODE})
    editor.totp_enabled_at = utcnow()
    editor.totp_last_step = step
    codes = _new_recovery_codes(session, editor)
    record_event(session, "editor.two_factor_on", data={"editor_id": editor.id})
    return codes


def _new_recovery_codes(session: Session, editor: Editor) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.editor_id == editor.id))
    codes = [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODES)
    ]
    for code in codes:
        session.add(RecoveryCode(editor_id=editor.id, code_hash=_hasher.hash(_clean(code))))
    session.flush()
    return codes


def check_second_factor(
    session: Session, editor: Editor, code: str, now: float | None = None
) -> bool:
    """A fresh code from the app, or an unused recovery code (then used up)."""
    if not editor.has_two_factor or not editor.totp_secret:
        return False
    typed = _clean(code)
    if typed.isdigit() and len(typed) == 6:
        step = _matching_step(editor.totp_secret, typed, time.time() if now is None else now)
        if step is None or step <= (editor.totp_last_step or -1):
            return False
        editor.totp_last_step = step
        return True
    unused = session.scalars(
        select(RecoveryCode).where(
            RecoveryCode.editor_id == editor.id, RecoveryCode.used_at.is_(None)
        )
    ).all()
    for row in unused:
        try:
            _hasher.verify(row.code_hash, typed)
        except VerificationError:
            continue
        row.used_at = utcnow()
        record_event(session, "editor.recovery_code_used", data={"editor_id": editor.id})
        return True
    return False


def recovery_codes_left(session: Session, editor_id: int) -> int:
    return len(
        session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.editor_id == editor_id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def reset_two_factor(session: Session, editor: Editor) -> None:
    """Two-factor off (a lost phone and no recovery code): the editor logs in with the
    password alone and enrols again; every session they had ends."""
    editor.totp_secret = None
    editor.totp_enabled_at = None
    editor.totp_last_step = None
    editor.session_epoch += 1
    session.execute(delete(RecoveryCode).where(RecoveryCode.editor_id == editor.id))
    record_event(session, "editor.two_factor_reset", data={"editor_id": editor.id})
