"""The delivery ledger: one row per (issue, subscription); it makes sending resumable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailer.db import NO_ID_REUSE, Base, UTCDateTime


class Delivery(Base):
    """The ledger: one row per (issue, subscription); it makes sending resumable."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscription_id"),
        Index("ix_delivery_issue_status", "issue_id", "status"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(300))
    # When the id last went to the broker: the reconciler re-queues rows left too long.
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # After a temporary SMTP failure: not before this time (backoff with jitter).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
