"""Per-editor bearer tokens for the JSON API; the database keeps only a SHA-256 of each."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.models import ApiToken, Editor, record_event
from mailer.subscribers.subscriptions import ValidationFailed, normalise_email

PREFIX = "mlr_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, editor_email: str) -> str:
    """A new token for the editor; the plaintext is returned once and never stored."""
    address = normalise_email(editor_email, "en")
    editor = session.scalar(select(Editor).where(Editor.email == address))
    if editor is None:
        raise ValidationFailed({"email": f"no editor with the address {address}"})
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(editor_id=editor.id, token_hash=_digest(token)))
    record_event(session, "api_token.created", data={"editor_id": editor.id})
    return token


def editor_for(session: Session, token: str) -> Editor | None:
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None:
        return None
    row.last_used_at = utcnow()
    return row.editor
