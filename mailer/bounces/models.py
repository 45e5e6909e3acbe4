"""Stored reports: what came back, kept before it is judged (nothing lost on a crash)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailer.db import NO_ID_REUSE, Base, UTCDateTime, utcnow

# A report's status: stored → processed | unrecognised | unmatched.
STORED = "stored"
PROCESSED = "processed"
UNRECOGNISED = "unrecognised"
UNMATCHED = "unmatched"
# What editors see in the list of mail nobody could read or place.
NOT_UNDERSTOOD = (UNRECOGNISED, UNMATCHED)


class BounceReport(Base):
    """One report as received: headers and the delivery-status / feedback part only (the
    returned body holds the reader's personal links), capped in size. A reader's reports
    go with them when they are erased (the foreign keys cascade)."""

    __tablename__ = "bounce_report"
    __table_args__ = (
        Index("ix_bounce_report_subscription_kind", "subscription_id", "kind"),
        Index("ix_bounce_report_issue_kind", "issue_id", "kind"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # smtp, lmtp, imap, ses, mailgun, postmark
    source: Mapped[str] = mapped_column(String(16))
    # The same report twice (a resent mail, a retried webhook) is stored once.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    envelope_to: Mapped[str] = mapped_column(String(320), default="")
    content: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # STORED → PROCESSED | UNRECOGNISED | UNMATCHED
    status: Mapped[str] = mapped_column(String(16), default="stored", index=True)
    # hard, soft, policy, complaint, other (set once processed)
    kind: Mapped[str | None] = mapped_column(String(16))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("delivery.id", ondelete="CASCADE"))
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE")
    )
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issue.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
