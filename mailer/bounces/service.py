"""The one pipeline every way in shares: store a report (before the sender is told "250"),
queue its id, and later process it: parse, match, judge. What the listener, the mailbox
poller, the webhooks and the task call."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer import queue
from mailer.bounces.alerts import ALERT_KINDS, queue_due_alerts
from mailer.bounces.matching import Match, match_report
from mailer.bounces.models import (
    NOT_UNDERSTOOD,
    PROCESSED,
    STORED,
    UNMATCHED,
    UNRECOGNISED,
    BounceReport,
)
from mailer.bounces.parsing import ParsedReport, parse_report, storable
from mailer.bounces.policy import Verdict, apply_policy
from mailer.bounces.providers import PROVIDERS, parse_provider
from mailer.config import Settings
from mailer.db import rowcount, utcnow
from mailer.errors import ValidationFailed
from mailer.tokens import Tokens

PROCESS_TASK = "mailer.process_bounce_report"


class ReportTooLarge(ValidationFailed):
    """Larger than MAILER_BOUNCE_* max size (10 MB)."""


@dataclass(frozen=True)
class Stored:
    report_id: int
    new: bool


def store_report(
    session: Session,
    settings: Settings,
    source: str,
    raw: bytes,
    *,
    envelope_to: str = "",
    key: str | None = None,
) -> Stored:
    """Keep the report (headers and its report part only) and queue its processing after
    the commit; the same report twice is stored once. Commits."""
    if len(raw) > settings.bounces.max_bytes:
        raise ReportTooLarge({"body": f"larger than {settings.bounces.max_bytes} bytes"})
    digest = hashlib.sha256(
        (key or "").encode("utf-8") if key else envelope_to.encode("utf-8", "replace") + b"\0" + raw
    ).hexdigest()
    existing = session.scalar(select(BounceReport.id).where(BounceReport.digest == digest))
    if existing is not None:
        return Stored(existing, False)
    content = raw.decode("utf-8", "replace")[:65536] if source in PROVIDERS else storable(raw)
    row = BounceReport(
        source=source,
        digest=digest,
        envelope_to=_text(envelope_to)[:320],
        content=_text(content),
        size=len(raw),
        received_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        session.rollback()
        again = session.scalar(select(BounceReport.id).where(BounceReport.digest == digest))
        if again is None:
            raise
        return Stored(again, False)
    queue.enqueue(session, PROCESS_TASK, row.id)
    session.commit()
    return Stored(row.id, True)


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; a report that carries one must still be stored (the
    # listener would otherwise answer 451 to it for ever).
    return value.replace("\x00", "\ufffd")


def parse_stored(report: BounceReport) -> ParsedReport:
    if report.source in PROVIDERS:
        return parse_provider(report.source, report.content)
    return parse_report(report.content.encode("utf-8", "replace"), report.envelope_to)


def process_report(
    session: Session,
    settings: Settings,
    tokens: Tokens,
    report_id: int,
    now: datetime | None = None,
) -> Verdict | None:
    """Parse, match and judge one stored report, once: a second run (a redelivered task)
    finds it no longer ``stored`` and does nothing. Commits."""
    now = now or utcnow()
    claimed = session.execute(
        update(BounceReport)
        .where(BounceReport.id == report_id, BounceReport.status == STORED)
        .values(status=PROCESSED, processed_at=now)
    )
    if rowcount(claimed) != 1:
        session.rollback()
        return None
    report = session.get(BounceReport, report_id)
    assert report is not None
    parsed = parse_stored(report)
    report.detail = {
        **parsed.detail(),
        "recipients": [_text(r)[:320] for r in parsed.recipients[:3]],
    }
    if parsed.kind is None:
        report.status = UNRECOGNISED
        session.commit()
        return None
    report.kind = parsed.kind
    found = match_report(session, tokens, parsed, authenticated=report.source in PROVIDERS)
    if not isinstance(found, Match):
        report.status = UNMATCHED
        report.detail = {**report.detail, "match": found.reason}
        session.commit()
        return None
    report.delivery_id = found.delivery_id
    report.subscription_id = found.subscription_id
    report.issue_id = found.issue_id
    verdict = apply_policy(
        session, settings.bounces, settings.secret_keys[0], report, parsed.kind, found, now
    )
    if parsed.kind in ALERT_KINDS and found.issue_id is not None:
        queue_due_alerts(session, found.issue_id)
    session.commit()
    return verdict


def requeue_stored(session: Session, older_than: timedelta, now: datetime) -> int:
    """Queue again what was stored and never processed (the broker lost the id): beat."""
    ids = list(
        session.scalars(
            select(BounceReport.id).where(
                BounceReport.status == STORED, BounceReport.received_at < now - older_than
            )
        )
    )
    for report_id in ids:
        queue.enqueue(session, PROCESS_TASK, report_id)
    session.commit()
    return len(ids)


def delete_old_unrecognised(session: Session, days: int, now: datetime) -> int:
    result = session.execute(
        delete(BounceReport).where(
            BounceReport.status.in_(NOT_UNDERSTOOD),
            BounceReport.received_at < now - timedelta(days=days),
        )
    )
    session.commit()
    return rowcount(result)


def provider_key(source: str, payload: dict[str, object]) -> str:
    """The idempotency key of a webhook call: the provider's own event id when it has one."""
    return f"{source}:{json.dumps(payload, sort_keys=True, default=str)}"
