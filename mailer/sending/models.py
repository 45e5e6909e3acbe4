"""The delivery ledger: one row per (issue, subscription); it makes sending resumable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailer.db import NO_ID_REUSE, Base, UTCDateTime


class Delivery(Base):
    """The ledger: one row per (issue, subscription); it makes sending resumable."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscription_id"),
        Index("ix_delivery_issue_status", "issue_id", "status"),
        # A bounce or complaint without VERP is matched by the Message-ID we recorded.
        Index("ix_delivery_message_id", "message_id"),
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
    # The send run (below) that claimed the row: only it records the result, and if it
    # stops, the reconciler knows whose journal tells what became of the row.
    run_id: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SendRun(Base):
    """One batch being sent by one worker process: its owner, its lease and its rows.

    Deleted when the batch ends; a row left behind is what a stopped worker left, and the
    reconciler repairs it (mailer/sending/recovery.py). The owner is the host, the pid and a
    random id per process (hosts in network namespaces share a hostname and pids).
    """

    __tablename__ = "send_run"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column()
    process_id: Mapped[str] = mapped_column(String(32))
    # The batch's rows, in order: the rows it may have claimed or still carries.
    delivery_ids: Mapped[list[int]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Renewed by the live sender (every quarter lease, checked before each mail).
    lease_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When a reconciler first found the lease expired (and gave the rows still waiting in
    # the batch back to the queue); its next check is one reconcile interval later.
    stopped_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
