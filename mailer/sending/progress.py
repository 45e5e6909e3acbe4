"""How far an issue's send has come: counts by state, rate over the last minute, ETA.

Read-only over the ledger's rows; the CLI progress bar, the admin page and the API
all show this one figure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.db import utcnow
from mailer.issues.states import IssueStatus
from mailer.sending import recovery
from mailer.sending import states as ds
from mailer.sending.ledger import get_issue
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus


@dataclass(frozen=True)
class Progress:
    issue_id: int
    status: str
    counts: dict[DeliveryStatus, int]
    deliveries_created: bool
    rate: float  # mails a second over the last minute
    pause_reason: str | None = None
    # Rows a stopped worker holds (its lease expired), and when the reconciler looks again.
    recovery_rows: int = 0
    next_check_at: datetime | None = None
    # When the send was asked for and when its last mail went out (for a finished send).
    started_at: datetime | None = None
    last_sent_at: datetime | None = None

    @property
    def recovery_note(self) -> str | None:
        """What the send waits for instead of moving on, in words (English)."""
        if not self.recovery_rows or self.next_check_at is None:
            return None
        return (
            f"waiting for recovery of {self.recovery_rows} rows from a stopped worker "
            f"(next check at {self.next_check_at:%H:%M:%S} UTC)"
        )

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(n for state, n in self.counts.items() if state in ds.FINAL)

    @property
    def finished(self) -> bool:
        return self.status in (IssueStatus.SENT, IssueStatus.CANCELLED)

    @property
    def eta_seconds(self) -> float | None:
        """None when there is nothing to foresee: before the rows exist (not «0 seconds»),
        once the send is over, and while nothing is moving."""
        if self.finished or not self.deliveries_created or self.total == 0:
            return None
        remaining = self.total - self.done
        if remaining == 0:
            return 0.0
        return remaining / self.rate if self.rate > 0 else None

    @property
    def duration_seconds(self) -> float | None:
        """How long a finished send took, from the request to its last mail."""
        if not self.finished or self.started_at is None or self.last_sent_at is None:
            return None
        return max(0.0, (self.last_sent_at - self.started_at).total_seconds())

    @property
    def average_rate(self) -> float | None:
        """Mails a second over the whole of a finished send."""
        duration = self.duration_seconds
        if duration is None:
            return None
        return self.counts.get(DeliveryStatus.SENT, 0) / max(duration, 1.0)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.issue_id,
            "status": self.status,
            "pause_reason": self.pause_reason,
            "counts": self.counts,
            "total": self.total,
            "done": self.done,
            "rate_per_second": round(self.rate, 2),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "deliveries_created": self.deliveries_created,
            "finished": self.finished,
            "duration_seconds": None
            if self.duration_seconds is None
            else round(self.duration_seconds, 1),
            "average_rate": None if self.average_rate is None else round(self.average_rate, 2),
            "recovery": None
            if self.next_check_at is None
            else {
                "rows": self.recovery_rows,
                "next_check_at": self.next_check_at.isoformat(),
                "message": self.recovery_note,
            },
        }


RATE_WINDOW = timedelta(seconds=60)


def in_doubt_content_sent(message_id: str | None) -> bool | None:
    """Whether an in-doubt row's content reached the server (which may then have it): True
    when it went out unanswered (the Message-ID was noted before DATA), None when nobody
    knows (the worker's journal was lost: it may never have been tried)."""
    return True if message_id else None


def progress(
    session: Session,
    issue_id: int,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> Progress:
    """With ``settings``, also what a stopped worker holds (read from its lease)."""
    issue = get_issue(session, issue_id)
    session.refresh(issue)
    counts = Counter({state: 0 for state in ds.ALL})
    for state, n in session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.status)
    ):
        counts[DeliveryStatus(state)] = n
    now = now or utcnow()
    recent = (
        session.scalar(
            select(func.count()).where(
                Delivery.issue_id == issue_id,
                Delivery.status == DeliveryStatus.SENT,
                Delivery.sent_at >= now - RATE_WINDOW,
            )
        )
        or 0
    )
    started = issue.send_requested_at
    window = RATE_WINDOW.total_seconds()
    if started is not None:
        window = max(1.0, min(window, (now - started).total_seconds()))
    waiting, next_check = 0, None
    if settings is not None and issue.status == IssueStatus.SENDING:
        stopped = recovery.stopped_runs(session, issue_id, now)
        if stopped:
            waiting = recovery.waiting_rows(session, stopped)
            every = timedelta(seconds=settings.reconcile_interval_seconds)
            next_check = recovery.next_check(stopped, every, now) if waiting else None
    last_sent = None
    if issue.status in (IssueStatus.SENT, IssueStatus.CANCELLED):
        last_sent = session.scalar(
            select(func.max(Delivery.sent_at)).where(Delivery.issue_id == issue_id)
        )
    return Progress(
        issue_id,
        issue.status,
        dict(counts),
        issue.deliveries_created_at is not None,
        rate=recent / window,
        pause_reason=issue.pause_reason,
        recovery_rows=waiting,
        next_check_at=next_check,
        started_at=started,
        last_sent_at=last_sent,
    )
