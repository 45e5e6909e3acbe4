"""The append-only audit trail every domain writes to: who did what, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from mailer.db import Base, UTCDateTime, utcnow
from mailer.metrics import count_event


class Event(Base):
    """Append-only audit trail."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    subscription_id: Mapped[int | None] = mapped_column(index=True)
    issue_id: Mapped[int | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def record_event(session: Any, kind: str, **fields: Any) -> None:
    data = fields.pop("data", {})
    session.add(Event(kind=kind, data=data, **fields))
    count_event(session, kind, data)
