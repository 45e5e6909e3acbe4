"""Scheduled sends: an editor picks a time, beat starts the send when it comes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailer.errors import ValidationFailed
from mailer.events import record_event
from mailer.i18n import LOCAL_ZONE, N_
from mailer.issues.models import Issue
from mailer.issues.states import IssueStatus
from mailer.sending import ledger

MAX_AHEAD = timedelta(days=366)

BAD_TIME = N_("Skriv tidspunktet som dato og klokkeslett, for eksempel 2026-12-01 09:00.")
PAST_TIME = N_("Tidspunktet har alt vært.")
FAR_TIME = N_("Tidspunktet er mer enn ett år fram i tid.")
NOT_SCHEDULABLE = N_("Bare et utkast eller et planlagt nummer kan planlegges.")


def parse_local_time(value: str) -> datetime:
    """«2026-12-01T09:00» (a datetime-local field, Oslo time) as an aware UTC-comparable time."""
    text = value.strip().replace(" ", "T")
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed({"when": BAD_TIME}) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=LOCAL_ZONE)
    return when


def schedule(session: Session, issue_id: int, when: datetime, now: datetime) -> Issue:
    """Draft → scheduled at ``when`` (or move the time of a scheduled issue)."""
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise ledger.IssueNotFound(f"no issue with id {issue_id}")
    if when <= now:
        raise ValidationFailed({"when": PAST_TIME})
    if when - now > MAX_AHEAD:
        raise ValidationFailed({"when": FAR_TIME})
    if issue.status == IssueStatus.DRAFT:
        if not ledger.transition(session, issue_id, IssueStatus.SCHEDULED):
            raise ValidationFailed({"status": NOT_SCHEDULABLE})
    elif issue.status != IssueStatus.SCHEDULED:
        raise ValidationFailed({"status": NOT_SCHEDULABLE})
    session.execute(update(Issue).where(Issue.id == issue_id).values(scheduled_at=when))
    record_event(session, "issue.schedule", issue_id=issue_id, data={"at": when.isoformat()})
    session.refresh(issue)
    return issue


def unschedule(session: Session, issue_id: int) -> bool:
    """Scheduled → draft; False when the issue was not scheduled (beat may have started it)."""
    if session.get(Issue, issue_id) is None:
        raise ledger.IssueNotFound(f"no issue with id {issue_id}")
    changed = ledger.transition(
        session, issue_id, IssueStatus.DRAFT, only_from=(IssueStatus.SCHEDULED,)
    )
    if changed:
        session.execute(update(Issue).where(Issue.id == issue_id).values(scheduled_at=None))
    return changed


def start_due(session: Session, now: datetime) -> list[int]:
    """Start every scheduled issue whose time has come; returns the ids this call started.

    ``ledger.request_send`` is a guarded UPDATE, so two beats (or a beat and an editor
    pressing «send now») start each issue once. The caller commits, then queues.
    """
    due = session.scalars(
        select(Issue.id).where(
            Issue.status == IssueStatus.SCHEDULED,
            Issue.scheduled_at.is_not(None),
            Issue.scheduled_at <= now,
        )
    ).all()
    return [issue_id for issue_id in due if ledger.request_send(session, issue_id)]
