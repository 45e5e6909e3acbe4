"""Editor accounts with argon2id password hashes."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.models import Editor, record_event
from mailer.subscriptions import ValidationFailed, normalise_email

ROLES = ("admin", "editor")
MIN_PASSWORD = 10
_hasher = PasswordHasher()


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


def verify_password(editor: Editor, password: str) -> bool:
    try:
        return _hasher.verify(editor.password_hash, password)
    except VerificationError:
        return False
