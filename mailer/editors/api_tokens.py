"""Per-editor bearer tokens for the JSON API; the database keeps only a SHA-256 of each.

A token works until it is revoked, its optional expiry passes, or its editor is
disabled. Its last use is recorded to the minute: a busy API client does not turn every
request into a write.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.editors.models import ApiToken, Editor
from mailer.errors import ValidationFailed
from mailer.events import record_event
from mailer.subscribers.addresses import normalise_email

PREFIX = "mlr_"
LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, editor_email: str, expires_at: datetime | None = None) -> str:
    """A new token for the editor; the plaintext is returned once and never stored."""
    address = normalise_email(editor_email, "en")
    editor = session.scalar(select(Editor).where(Editor.email == address))
    if editor is None:
        raise ValidationFailed({"email": f"no editor with the address {address}"})
    if not editor.active:
        raise ValidationFailed({"email": f"the editor {address} is disabled"})
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed({"expires": "the expiry must be in the future"})
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(editor_id=editor.id, token_hash=_digest(token), expires_at=expires_at)
    session.add(row)
    session.flush()
    record_event(session, "api_token.created", data={"editor_id": editor.id, "token_id": row.id})
    return token


def tokens_of(session: Session, editor_id: int | None = None) -> list[ApiToken]:
    """One editor's tokens, or everyone's (None), oldest first."""
    query = select(ApiToken).order_by(ApiToken.id)
    if editor_id is not None:
        query = query.where(ApiToken.editor_id == editor_id)
    return list(session.scalars(query))


def revoke_token(session: Session, token_id: int, editor_id: int | None = None) -> bool:
    """Deletes the token (only if it is ``editor_id``'s, when given); False if no such."""
    row = session.get(ApiToken, token_id)
    if row is None or (editor_id is not None and row.editor_id != editor_id):
        return False
    session.delete(row)
    record_event(
        session, "api_token.revoked", data={"editor_id": row.editor_id, "token_id": token_id}
    )
    return True


def revoke_all(session: Session, editor_id: int) -> int:
    """Deletes every token of the editor; returns how many there were."""
    ids = list(session.scalars(select(ApiToken.id).where(ApiToken.editor_id == editor_id)))
    if ids:
        session.execute(delete(ApiToken).where(ApiToken.id.in_(ids)))
        record_event(session, "api_token.revoked", data={"editor_id": editor_id, "token_ids": ids})
    return len(ids)


def editor_for(session: Session, token: str, now: datetime | None = None) -> Editor | None:
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    now = now or utcnow()
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if not row.editor.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        row.last_used_at = now
    return row.editor
