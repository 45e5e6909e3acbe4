"""Editor accounts with argon2id password hashes."""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.editors.api_tokens import revoke_all
from mailer.editors.models import Editor
from mailer.errors import ValidationFailed
from mailer.events import record_event
from mailer.i18n import N_
from mailer.subscribers.addresses import normalise_email

ROLES = ("admin", "editor")
MIN_PASSWORD = 10
_hasher = PasswordHasher()

# The password change's messages: catalogue keys (Norwegian), translated by the caller.
WRONG_PASSWORD = N_("Passordet stemmer ikke.")
SHORT_PASSWORD = N_("Passordet må ha minst 10 tegn.")
PASSWORDS_DIFFER = N_("De to nye passordene er ikke like.")
SAME_PASSWORD = N_("Det nye passordet må være et annet enn det du har nå.")
LAST_ADMIN = N_("Det må finnes minst én aktiv administrator.")


def create_editor(session: Session, email: str, password: str, role: str = "editor") -> Editor:
    address = normalise_email(email, "en")
    if role not in ROLES:
        raise ValidationFailed({"role": f"must be one of {', '.join(ROLES)}"})
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed({"password": f"must have at least {MIN_PASSWORD} characters"})
    if session.scalar(select(Editor).where(Editor.email == address)) is not None:
        raise ValidationFailed({"email": f"an editor with {address} exists already"})
    editor = Editor(email=address, password_hash=_hasher.hash(password), role=role)
    session.add(editor)
    session.flush()
    record_event(session, "editor.created", data={"editor_id": editor.id, "role": role})
    return editor


def login_identity(typed: str) -> str:
    """The account a login attempt names: what login looks the editor up by, and the key
    its failures are counted on. Both must be one function, or a look-alike spelling
    (other case, fullwidth letters, a trailing dot, an IDN domain in Unicode or
    punycode) reaches the same account through a fresh failure count.

    Editors' addresses are ASCII (create_editor refuses others), so NFKC folding and a
    dropped trailing dot on the domain lose nothing a real address needs. Text that is no
    address still gets a stable key, though no account can match it."""
    folded = unicodedata.normalize("NFKC", typed).strip()
    local, at, domain = folded.rpartition("@")
    if at:
        folded = f"{local}@{domain.rstrip('.')}"
    try:
        return normalise_email(folded, "en")
    except ValidationFailed:
        return "invalid:" + folded.casefold()[:400]


def verify_password(editor: Editor, password: str) -> bool:
    try:
        return _hasher.verify(editor.password_hash, password)
    except VerificationError:
        return False


class WrongPassword(ValidationFailed):
    """The current password did not match: the one error that counts towards throttling."""


def change_password(session: Session, editor: Editor, current: str, new: str, repeat: str) -> None:
    """Replace the editor's password after checking the current one; changes nothing on
    any error. The caller audits and commits."""
    if not verify_password(editor, current):
        raise WrongPassword({"current_password": WRONG_PASSWORD})
    errors: dict[str, str] = {}
    if len(new) < MIN_PASSWORD:
        errors["new_password"] = SHORT_PASSWORD
    elif new == current:
        errors["new_password"] = SAME_PASSWORD
    if new != repeat:
        errors["repeat_password"] = PASSWORDS_DIFFER
    if errors:
        raise ValidationFailed(errors)
    editor.password_hash = _hasher.hash(new)
    record_event(session, "editor.password_changed", data={"editor_id": editor.id})


def active_admins(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).where(Editor.role == "admin", Editor.disabled_at.is_(None))
        )
        or 0
    )


def end_sessions(session: Session, editor: Editor) -> None:
    """Every session the editor has, in any browser, ends at its next request: the epoch
    is part of each session's stamp. (Also what logging out does: without a session
    table, one editor's sessions end together.)"""
    editor.session_epoch += 1
    record_event(session, "editor.sessions_ended", data={"editor_id": editor.id})


def disable_editor(session: Session, editor: Editor) -> int:
    """The editor can no longer log in nor use the API: their sessions end and their
    tokens are revoked (returns how many). The last active admin cannot be disabled."""
    if editor.role == "admin" and editor.active and active_admins(session) <= 1:
        raise ValidationFailed({"editor": LAST_ADMIN})
    if editor.active:
        editor.disabled_at = utcnow()
    end_sessions(session, editor)
    revoked = revoke_all(session, editor.id)
    record_event(session, "editor.disabled", data={"editor_id": editor.id, "tokens": revoked})
    return revoked


def enable_editor(session: Session, editor: Editor) -> None:
    """Lets a disabled editor log in again; revoked tokens stay revoked."""
    editor.disabled_at = None
    record_event(session, "editor.enabled", data={"editor_id": editor.id})
