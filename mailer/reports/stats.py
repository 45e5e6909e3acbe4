"""The dashboard's numbers: subscribers by state, activity per month, the last issues.

Activity is counted from the append-only ``event`` table (which keeps no address),
so the chart stays right after a reader is erased.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, SQLColumnExpression, func, select
from sqlalchemy.orm import Session

from mailer.events import Event
from mailer.issues.drafting import issue_subject
from mailer.issues.models import Issue
from mailer.sending import states as ds
from mailer.sending.models import Delivery
from mailer.subscribers.models import Subscription
from mailer.subscribers.states import SubscriptionStatus

SUBSCRIPTION_STATES = tuple(SubscriptionStatus)
# Event kind → the series it counts in.
ACTIVITY_KINDS = {"signup": "signups", "confirm": "confirmations", "unsubscribe": "unsubscribes"}


def subscriber_counts(session: Session) -> dict[SubscriptionStatus, int]:
    counts = dict.fromkeys(SUBSCRIPTION_STATES, 0)
    for status, n in session.execute(
        select(Subscription.status, func.count()).group_by(Subscription.status)
    ):
        counts[SubscriptionStatus(status)] = n
    return counts


@dataclass(frozen=True)
class MonthActivity:
    month: str  # "YYYY-MM" (UTC)
    signups: int = 0
    confirmations: int = 0
    unsubscribes: int = 0


def month_keys(now: datetime, months: int) -> list[str]:
    """The last ``months`` months up to and including ``now``'s, oldest first."""
    year, month = now.year, now.month
    keys = []
    for _ in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return keys[::-1]


def _month_of(session: Session, column: SQLColumnExpression[datetime]) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def monthly_activity(session: Session, now: datetime, months: int = 12) -> list[MonthActivity]:
    keys = month_keys(now, months)
    first = datetime(int(keys[0][:4]), int(keys[0][5:]), 1, tzinfo=now.tzinfo)
    month = _month_of(session, Event.created_at)
    rows = session.execute(
        select(month, Event.kind, func.count())
        .where(Event.kind.in_(ACTIVITY_KINDS), Event.created_at >= first)
        .group_by(month, Event.kind)
    )
    table: dict[str, dict[str, int]] = defaultdict(dict)
    for key, kind, n in rows:
        table[key][ACTIVITY_KINDS[kind]] = n
    return [MonthActivity(key, **table.get(key, {})) for key in keys]


@dataclass
class IssueSummary:
    id: int
    subject: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    scheduled_at: datetime | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def recent_issues(session: Session, language: str, limit: int = 10) -> list[IssueSummary]:
    issues = session.scalars(select(Issue).order_by(Issue.id.desc()).limit(limit)).all()
    summaries = {
        i.id: IssueSummary(
            i.id,
            issue_subject(i, language),
            i.status,
            i.created_at,
            i.sent_at,
            i.scheduled_at,
            dict.fromkeys(ds.ALL, 0),
        )
        for i in issues
    }
    if summaries:
        for issue_id, status, n in session.execute(
            select(Delivery.issue_id, Delivery.status, func.count())
            .where(Delivery.issue_id.in_(summaries))
            .group_by(Delivery.issue_id, Delivery.status)
        ):
            summaries[issue_id].counts[status] = n
    return list(summaries.values())
