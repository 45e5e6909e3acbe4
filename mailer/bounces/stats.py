"""Bounce and complaint counts and rates per issue, and the dashboard's alerts: Gmail's
lines for complaints (a warning at 0.1 %, an alarm at 0.3 % of the last issue), policy
refusals (about our reputation), and the mail nobody could read or place."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.bounces.models import NOT_UNDERSTOOD, BounceReport
from mailer.bounces.parsing import KIND_COMPLAINT, KIND_HARD, KIND_POLICY, KIND_SOFT
from mailer.issues.models import Issue
from mailer.issues.states import IssueStatus
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus

COMPLAINT_WARNING = 0.001  # 0.1 %
COMPLAINT_ALARM = 0.003  # 0.3 %
# Servers refusing an issue because of us: the dashboard's notice shows, and the editors
# are mailed once (mailer.bounces.alerts), from this many refusals (readers) on. One is
# enough: a 5.7.x is never about the reader, and the next issue meets the same block.
REPUTATION_ALERT_REFUSALS = 1


@dataclass(frozen=True)
class IssueBounces:
    delivered: int  # copies the servers took (sent, and later bounced)
    hard: int
    soft: int
    policy: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return self.hard / self.delivered if self.delivered else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.delivered if self.delivered else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "bounce_rate": round(self.bounce_rate, 6),
            "complaint_rate": round(self.complaint_rate, 6),
        }


def issue_bounces(session: Session, issue_id: int) -> IssueBounces:
    delivered = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.issue_id == issue_id,
            Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.BOUNCED)),
        )
    )
    # Readers, not reports: three soft bounces about one copy are one soft-bounced reader.
    rows = session.execute(
        select(BounceReport.kind, func.count(func.distinct(BounceReport.subscription_id)))
        .where(BounceReport.issue_id == issue_id, BounceReport.subscription_id.is_not(None))
        .group_by(BounceReport.kind)
    ).all()
    counts = {kind: n for kind, n in rows}
    return IssueBounces(
        delivered=delivered or 0,
        hard=counts.get(KIND_HARD, 0),
        soft=counts.get(KIND_SOFT, 0),
        policy=counts.get(KIND_POLICY, 0),
        complaints=counts.get(KIND_COMPLAINT, 0),
    )


@dataclass(frozen=True)
class ComplaintAlert:
    issue_id: int
    level: str  # "warning" or "alarm"
    rate: float
    complaints: int
    delivered: int


def _last_sent_issue(session: Session) -> int | None:
    return session.scalar(
        select(Issue.id)
        .where(Issue.status == IssueStatus.SENT)
        .order_by(Issue.sent_at.desc(), Issue.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class ReputationAlert:
    issue_id: int
    refusals: int


def reputation_alert(session: Session) -> ReputationAlert | None:
    """Servers that refused the last issue because of us (5.7.x, "blocked", "spam")."""
    last = _last_sent_issue(session)
    if last is None:
        return None
    refusals = issue_bounces(session, last).policy
    return ReputationAlert(last, refusals) if refusals >= REPUTATION_ALERT_REFUSALS else None


def complaint_alert(session: Session) -> ComplaintAlert | None:
    """The last sent issue's complaint rate, when it reaches Gmail's lines."""
    last = _last_sent_issue(session)
    if last is None:
        return None
    stats = issue_bounces(session, last)
    rate = stats.complaint_rate
    if rate >= COMPLAINT_ALARM:
        level = "alarm"
    elif rate >= COMPLAINT_WARNING:
        level = "warning"
    else:
        return None
    return ComplaintAlert(last, level, rate, stats.complaints, stats.delivered)


@dataclass(frozen=True)
class UnreadMail:
    id: int
    received_at: Any
    source: str
    status: str
    subject: str
    size: int


def _subject(content: str) -> str:
    for line in content.splitlines()[:200]:
        if line.lower().startswith("subject:"):
            return line[8:].strip()[:200]
        if not line.strip():
            break
    return ""


def unrecognised_mail(session: Session, limit: int = 20) -> list[UnreadMail]:
    rows = session.execute(
        select(
            BounceReport.id,
            BounceReport.received_at,
            BounceReport.source,
            BounceReport.status,
            BounceReport.content,
            BounceReport.size,
        )
        .where(BounceReport.status.in_(NOT_UNDERSTOOD))
        .order_by(BounceReport.received_at.desc(), BounceReport.id.desc())
        .limit(limit)
    ).all()
    return [UnreadMail(r[0], r[1], r[2], r[3], _subject(r[4]), r[5]) for r in rows]
