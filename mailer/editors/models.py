"""Editor accounts and their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.db import NO_ID_REUSE, Base, UTCDateTime, utcnow


class Editor(Base):
    __tablename__ = "editor"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="editor")
    # Server defaults as migrations 0004 and 0007 made them, for the editors there then.
    language: Mapped[str] = mapped_column(String(8), default="nb", server_default="nb")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # In every session's stamp: raising it ends all of this editor's sessions.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    # A disabled editor cannot log in nor use an API token.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two-factor login (mailer/editors/two_factor.py): the TOTP secret while enrolling
    # and after, when it was confirmed, and the last time step used (no code twice).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_token"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    editor_id: Mapped[int] = mapped_column(ForeignKey("editor.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    editor: Mapped[Editor] = relationship()


class RecoveryCode(Base):
    """A one-time code for a lost authenticator; only its argon2 hash is stored."""

    __tablename__ = "editor_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    editor_id: Mapped[int] = mapped_column(ForeignKey("editor.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
