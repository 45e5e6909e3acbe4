"""An editor's decision after a send: try the failed deliveries once more.

The in-doubt counterpart is ``ledger.resend_in_doubt``; this one follows the same rules.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from mailer.db import rowcount
from mailer.events import record_event
from mailer.issues.models import Issue
from mailer.issues.states import IssueStatus
from mailer.queue import enqueue
from mailer.sending.ledger import IssueNotFound, TransitionRefused
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus

RESENDABLE = (IssueStatus.SENT, IssueStatus.SENDING, IssueStatus.PAUSED)


def resend_failed(session: Session, issue_id: int) -> int:
    """Queue the failed rows again (after fixing the cause, say); returns how many.

    A reader suppressed meanwhile (a 5.1.x bounce, an unsubscribe) is skipped at the claim.
    """
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueNotFound(f"no issue with id {issue_id}")
    if issue.status not in RESENDABLE:
        raise TransitionRefused(f"issue {issue_id} is {issue.status}; nothing to resend")
    count = rowcount(
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.FAILED)
            .values(
                status=DeliveryStatus.QUEUED,
                attempts=0,
                enqueued_at=None,
                next_attempt_at=None,
                claimed_at=None,
            ),
            execution_options={"synchronize_session": False},
        )
    )
    if count and issue.status == IssueStatus.SENT:
        # As for in-doubt rows: the editor's explicit choice is the one way back from sent.
        session.execute(
            update(Issue)
            .where(Issue.id == issue_id, Issue.status == IssueStatus.SENT)
            .values(status=IssueStatus.SENDING, sent_at=None),
            execution_options={"synchronize_session": False},
        )
    record_event(session, "issue.resend_failed", issue_id=issue_id, data={"rows": count})
    if count:
        enqueue(session, "mailer.dispatch", issue_id)
    session.expire(issue)
    return int(count)
