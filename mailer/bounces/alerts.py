"""Alerts mailed to the editors, once per issue (issue 11):

- sender reputation: servers refused the issue because of us (5.7.x, "blocked", "spam")
  as often as makes the dashboard show its notice (``REPUTATION_ALERT_REFUSALS``);
- complaints: the complaint rate of a finished issue reached Gmail's alarm line (0.3 %).

"Once" is kept in the database, so it holds across workers and restarts: the mail is
recorded as an event on the issue (under a lock on the issue row) before it is sent, and
an alert whose event exists is never mailed again. Processing a report only queues
``mailer.mail_bounce_alerts``; the housekeeping beat queues it again for an alert that is
due and was never mailed (a lost task, an SMTP server that was down, complaints that came
in while the issue was still being sent).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer import queue
from mailer.bounces.models import BounceReport
from mailer.bounces.parsing import KIND_COMPLAINT, KIND_POLICY
from mailer.bounces.stats import (
    COMPLAINT_ALARM,
    REPUTATION_ALERT_REFUSALS,
    IssueBounces,
    issue_bounces,
)
from mailer.config import Settings
from mailer.events import Event, record_event
from mailer.issues.drafting import issue_subject
from mailer.issues.models import Issue
from mailer.issues.states import IssueStatus

MAIL_TASK = "mailer.mail_bounce_alerts"
# Event kinds (on the issue): the alert went to the editors.
REPUTATION_MAILED = "editors.reputation_alert"
COMPLAINTS_MAILED = "editors.complaint_alarm"
ALERT_EVENTS = (REPUTATION_MAILED, COMPLAINTS_MAILED)
ALERT_KINDS = (KIND_POLICY, KIND_COMPLAINT)
FINISHED = (IssueStatus.SENT, IssueStatus.CANCELLED)
TEMPLATE = "bounce_alert"


def _crossed(stats: IssueBounces, finished: bool) -> list[str]:
    crossed = []
    if stats.policy >= REPUTATION_ALERT_REFUSALS:
        crossed.append(REPUTATION_MAILED)
    # A rate means something over the whole issue only: early in a send, one complaint
    # among the first hundred copies would be 1 %.
    if finished and stats.delivered and stats.complaint_rate >= COMPLAINT_ALARM:
        crossed.append(COMPLAINTS_MAILED)
    return crossed


def due_alerts(session: Session, issue_id: int) -> list[str]:
    """The alerts this issue has crossed and the editors have not been mailed yet."""
    status = session.scalar(select(Issue.status).where(Issue.id == issue_id))
    crossed = _crossed(issue_bounces(session, issue_id), status in FINISHED)
    if not crossed:
        return []
    mailed = set(
        session.scalars(
            select(Event.kind).where(Event.issue_id == issue_id, Event.kind.in_(crossed))
        )
    )
    return [kind for kind in crossed if kind not in mailed]


def queue_due_alerts(session: Session, issue_id: int) -> bool:
    """Queue the mail task (after the caller's commit) if an alert is due."""
    if due_alerts(session, issue_id):
        queue.enqueue(session, MAIL_TASK, issue_id)
        return True
    return False


def requeue_due_alerts(session: Session, since: timedelta, now: datetime) -> int:
    """Beat: queue again the mail for issues with an alert due and never mailed, among those
    that got a refusal or complaint lately. Commits."""
    issue_ids = session.scalars(
        select(BounceReport.issue_id)
        .where(
            BounceReport.kind.in_(ALERT_KINDS),
            BounceReport.issue_id.is_not(None),
            BounceReport.received_at >= now - since,
        )
        .distinct()
    ).all()
    queued = sum(queue_due_alerts(session, i) for i in issue_ids if i is not None)
    session.commit()
    return queued


def _context(kind: str, stats: IssueBounces, subject: str, url: str) -> dict[str, object]:
    return {
        "alert": "reputation" if kind == REPUTATION_MAILED else "complaints",
        "subject": subject,
        "refusals": stats.policy,
        "complaints": stats.complaints,
        "delivered": stats.delivered,
        "rate_percent": round(stats.complaint_rate * 100, 2),
        "url": url,
    }


def mail_due_alerts(session: Session, settings: Settings, issue_id: int) -> list[str]:
    """Mail the editors each alert due for the issue, once; returns the event kinds mailed.
    Commits after each mail; a mail that cannot be sent leaves its alert due."""
    mailed: list[str] = []
    for _ in ALERT_EVENTS:  # each alert at most once per call
        # One alert at a time under the issue's row lock (PostgreSQL; SQLite has one
        # writer anyway): a second worker waits, then finds the event and mails nothing.
        issue = session.scalar(select(Issue).where(Issue.id == issue_id).with_for_update())
        due = due_alerts(session, issue_id) if issue is not None else []
        if issue is None or not due:
            break
        _mail_one(session, settings, issue, due[0])
        session.commit()
        mailed.append(due[0])
    session.rollback()  # only the lock of the last look, if any, to let go
    return mailed


def _mail_one(session: Session, settings: Settings, issue: Issue, kind: str) -> None:
    stats = issue_bounces(session, issue.id)
    # Recorded (flushed, under the lock) before the mail leaves: if the mail fails, the
    # rollback takes the record too and the alert stays due.
    record_event(session, kind, issue_id=issue.id, data=stats.as_dict())
    session.flush()
    # Worker memory: the mail templates load only when an alert goes out (as notify_paused).
    from mailer.editors.notifications import notify_editors_in_their_language

    url = f"{settings.base_url}/admin/issues/{issue.id}"
    notify_editors_in_their_language(
        session,
        settings,
        issue.newsletter.name,
        TEMPLATE,
        lambda language: _context(kind, stats, issue_subject(issue, language), url),
    )
