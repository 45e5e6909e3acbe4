"""The monthly digest: drafted by beat on a cron schedule, once per month, never twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.i18n import LOCAL_ZONE
from mailer.issues.drafting import NothingToDraft, draft_issue
from mailer.issues.models import Issue
from mailer.sending import ledger
from mailer.subscribers.subscriptions import default_newsletter


@dataclass(frozen=True)
class MonthlyOutcome:
    issue_id: int | None
    created: bool
    send: bool
    reason: str = ""


def month_key(now: datetime) -> str:
    return now.astimezone(LOCAL_ZONE).strftime("%Y-%m")


def draft_monthly(session: Session, now: datetime, autosend: bool) -> MonthlyOutcome:
    """Draft this month's digest unless one exists; with ``autosend`` also start its send."""
    newsletter = default_newsletter(session)
    key = month_key(now)
    existing = session.scalar(
        select(Issue).where(Issue.newsletter_id == newsletter.id, Issue.scheduled_for == key)
    )
    if existing is not None:
        return MonthlyOutcome(existing.id, created=False, send=False, reason="already drafted")
    try:
        with session.begin_nested():
            issue = draft_issue(session, now)
            issue.scheduled_for = key
            session.flush()
    except NothingToDraft as exc:
        return MonthlyOutcome(None, created=False, send=False, reason=str(exc))
    except IntegrityError:
        # Another beat drafted the same month a moment ago.
        return MonthlyOutcome(None, created=False, send=False, reason="already drafted")
    send = autosend and ledger.request_send(session, issue.id)
    session.commit()
    return MonthlyOutcome(issue.id, created=True, send=bool(send))
