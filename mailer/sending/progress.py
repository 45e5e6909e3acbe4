"""How far an issue's send has come: counts by state, rate over the last minute, ETA.

Read-only over the ledger's rows; the CLI progress bar, the admin page and the API
all show this one figure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.issues.states import IssueStatus
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
        remaining = self.total - self.done
        if remaining == 0:
            return 0.0
        return remaining / self.rate if self.rate > 0 else None

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
        }


RATE_WINDOW = timedelta(seconds=60)


def progress(session: Session, issue_id: int) -> Progress:
    issue = get_issue(session, issue_id)
    session.refresh(issue)
    counts = Counter({state: 0 for state in ds.ALL})
    for state, n in session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.status)
    ):
        counts[DeliveryStatus(state)] = n
    now = utcnow()
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
    return Progress(
        issue_id,
        issue.status,
        dict(counts),
        issue.deliveries_created_at is not None,
        rate=recent / window,
        pause_reason=issue.pause_reason,
    )
