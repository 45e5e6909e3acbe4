"""One stored report as an editor reads it: what came in (headers and the delivery-status /
feedback part, never the returned body), how it was judged, and the delivery and reader it
was matched to, if any. The admin's report page shows this as text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.bounces.models import BounceReport
from mailer.errors import NotFound
from mailer.issues.drafting import issue_subject
from mailer.issues.models import Issue
from mailer.sending.models import Delivery
from mailer.subscribers.models import Subscriber, Subscription


@dataclass(frozen=True)
class MatchedReader:
    subscriber_id: int
    email: str
    status: str  # the subscription's status now


@dataclass(frozen=True)
class MatchedIssue:
    issue_id: int
    subject: str
    delivery_status: str | None  # None: matched to the reader, not to one copy


@dataclass(frozen=True)
class StoredReport:
    id: int
    source: str
    status: str  # stored, processed, unrecognised, unmatched
    kind: str | None
    received_at: datetime
    processed_at: datetime | None
    size: int
    envelope_to: str
    detail: dict[str, Any]
    content: str
    reader: MatchedReader | None
    issue: MatchedIssue | None


def read_stored_report(session: Session, report_id: int, language: str) -> StoredReport:
    report = session.get(BounceReport, report_id)
    if report is None:
        raise NotFound(f"no bounce report with id {report_id}")
    reader = None
    if report.subscription_id is not None:
        row = session.execute(
            select(Subscriber.id, Subscriber.email, Subscription.status)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscription.id == report.subscription_id)
        ).first()
        if row is not None:
            reader = MatchedReader(row[0], row[1], row[2])
    matched_issue = None
    issue = session.get(Issue, report.issue_id) if report.issue_id is not None else None
    if issue is not None:
        delivery_status = None
        if report.delivery_id is not None:
            delivery_status = session.scalar(
                select(Delivery.status).where(Delivery.id == report.delivery_id)
            )
        matched_issue = MatchedIssue(issue.id, issue_subject(issue, language), delivery_status)
    return StoredReport(
        id=report.id,
        source=report.source,
        status=report.status,
        kind=report.kind,
        received_at=report.received_at,
        processed_at=report.processed_at,
        size=report.size,
        envelope_to=report.envelope_to,
        detail=dict(report.detail or {}),
        content=report.content,
        reader=reader,
        issue=matched_issue,
    )
