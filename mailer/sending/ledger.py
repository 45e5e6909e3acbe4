"""The delivery ledger: with mailer/claims.py (a group claimed and recorded), the only
code that changes delivery rows and an issue's send state.

A row moves queued → sending (claimed and committed *before* the SMTP
transaction) → sent | failed | bounced | in-doubt | skipped, or back to
queued after a temporary failure. Every change is a guarded UPDATE, so two
workers, a redelivered task or a second ``digest send`` can never take the
same row twice. The broker only carries ids; what is left to do is always
read from here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, func, literal, select, text, update
from sqlalchemy.orm import Session

from mailer.db import dialect_insert, rowcount, utcnow
from mailer.errors import NotFound, TransitionRefused
from mailer.events import record_event
from mailer.issues.models import Issue
from mailer.issues.states import IssueStatus, sources_of
from mailer.queue import enqueue
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus
from mailer.subscribers.models import Subscription
from mailer.subscribers.states import SubscriptionStatus

# A row claimed before send runs existed (no run_id, from before migration 0009) and left
# in ``sending`` longer than this was claimed by a worker that died. Rows claimed by a run
# are repaired by mailer/sending/recovery.py, by the run's lease and journal.
CLAIM_LEASE = timedelta(minutes=10)
# How long a queued row may sit in the broker before the reconciler queues it again.
ENQUEUE_LEASE = timedelta(minutes=10)
# A start task lost by the broker is noticed after this.
START_GRACE = timedelta(minutes=1)


class IssueNotFound(NotFound):
    pass


def get_issue(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueNotFound(f"no issue with id {issue_id}")
    return issue


def transition(
    session: Session,
    issue_id: int,
    target: IssueStatus,
    *,
    only_from: tuple[IssueStatus, ...] | None = None,
    reason: str | None = None,
) -> bool:
    """Move an issue to ``target`` if the state table allows it; a guarded UPDATE."""
    sources = sources_of(target)
    if only_from is not None:
        sources = tuple(s for s in sources if s in only_from)
    values: dict[str, object] = {"status": target}
    if target == IssueStatus.SENDING:
        values["pause_reason"] = None
    if target == IssueStatus.PAUSED:
        values["pause_reason"] = reason
    if target == IssueStatus.SENT:
        values["sent_at"] = utcnow()
    changed = rowcount(
        session.execute(
            update(Issue).where(Issue.id == issue_id, Issue.status.in_(sources)).values(**values)
        )
    )
    if changed:
        record_event(session, f"issue.{target}", issue_id=issue_id, data={"reason": reason})
    return bool(changed)


def request_send(session: Session, issue_id: int) -> bool:
    """True when this call started the send; False when it was started before."""
    get_issue(session, issue_id)
    started = transition(
        session,
        issue_id,
        IssueStatus.SENDING,
        only_from=(IssueStatus.DRAFT, IssueStatus.SCHEDULED),
    )
    if started:
        session.execute(
            update(Issue).where(Issue.id == issue_id).values(send_requested_at=utcnow())
        )
        enqueue(session, "mailer.start_send", issue_id)
    return started


def pause(session: Session, issue_id: int, reason: str = "paused by an editor") -> bool:
    get_issue(session, issue_id)
    return transition(session, issue_id, IssueStatus.PAUSED, reason=reason)


def resume(session: Session, issue_id: int) -> bool:
    """Paused → sending; after the commit a task hands the rows still queued to the broker."""
    get_issue(session, issue_id)
    resumed = transition(session, issue_id, IssueStatus.SENDING, only_from=(IssueStatus.PAUSED,))
    if resumed:
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.QUEUED)
            .values(next_attempt_at=None)
        )
        enqueue(session, "mailer.dispatch", issue_id)
    return resumed


def cancel(session: Session, issue_id: int) -> bool:
    get_issue(session, issue_id)
    return transition(session, issue_id, IssueStatus.CANCELLED)


def resend_in_doubt(session: Session, issue_id: int) -> int:
    """An editor's decision: queue the in-doubt rows again (some readers may get two copies)."""
    issue = get_issue(session, issue_id)
    if issue.status not in (IssueStatus.SENT, IssueStatus.SENDING, IssueStatus.PAUSED):
        raise TransitionRefused(f"issue {issue_id} is {issue.status}; nothing to resend")
    count = rowcount(
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.IN_DOUBT)
            .values(
                status=DeliveryStatus.QUEUED,
                enqueued_at=None,
                next_attempt_at=None,
                claimed_at=None,
            )
        )
    )
    if count and issue.status == IssueStatus.SENT:
        # The one way back from sent: the editor chose to resend. Not in the state table,
        # so that no ordinary `send` can ever restart a sent issue.
        session.execute(
            update(Issue)
            .where(Issue.id == issue_id, Issue.status == IssueStatus.SENT)
            .values(status=IssueStatus.SENDING, sent_at=None)
        )
    record_event(session, "issue.resend_in_doubt", issue_id=issue_id, data={"rows": count})
    if count:
        enqueue(session, "mailer.dispatch", issue_id)
    return int(count)


def count_recipients(session: Session, issue: Issue) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Subscription.newsletter_id == issue.newsletter_id,
                Subscription.status == SubscriptionStatus.ACTIVE,
            )
        )
        or 0
    )


def create_deliveries(session: Session, issue_id: int) -> None:
    """One queued row per active subscription (insert-if-absent), in one statement."""
    issue = get_issue(session, issue_id)
    if issue.status != IssueStatus.SENDING:
        return
    if issue.deliveries_created_at is None:
        # Insert-if-absent by the unique (issue, subscription) key. Not NOT EXISTS: on
        # PostgreSQL the planner, seeing an empty delivery table, scanned it once per
        # subscription while the INSERT filled it (32 s for 100 000 rows, quadratic).
        insert_ = dialect_insert(session)
        session.execute(
            insert_(Delivery)
            .from_select(
                ["issue_id", "subscription_id", "status", "attempts"],
                select(
                    literal(issue_id), Subscription.id, literal(DeliveryStatus.QUEUED), literal(0)
                ).where(
                    Subscription.newsletter_id == issue.newsletter_id,
                    Subscription.status == SubscriptionStatus.ACTIVE,
                ),
            )
            .on_conflict_do_nothing(index_elements=["issue_id", "subscription_id"])
        )
        if session.get_bind().dialect.name == "postgresql":
            # Fresh statistics for the rows just written: planning the claims with the
            # old ones (an empty table, or only earlier issues' rows) chose the
            # (issue, status) index and read every queued row of the issue per group,
            # ~0.4 s a claim at 1 M readers.
            session.execute(text("ANALYZE delivery"))
        issue.deliveries_created_at = utcnow()


def queued_page(
    session: Session,
    issue_id: int,
    after_id: int,
    size: int,
    now: datetime,
    stale_only: bool = False,
) -> list[int]:
    """The next ``size`` queued, due row ids after ``after_id`` (keyset paging: a million
    rows are walked without ever holding them all).

    With ``stale_only``, only rows no broker message is known to carry: never
    handed over, handed back after a failure, or handed over longer ago than the lease.
    """
    query = select(Delivery.id).where(
        Delivery.issue_id == issue_id,
        Delivery.status == DeliveryStatus.QUEUED,
        Delivery.id > after_id,
        Delivery.next_attempt_at.is_(None) | (Delivery.next_attempt_at <= now),
    )
    if stale_only:
        query = query.where(
            Delivery.enqueued_at.is_(None) | (Delivery.enqueued_at < now - ENQUEUE_LEASE)
        )
    return list(session.scalars(query.order_by(Delivery.id).limit(size)))


def mark_enqueued(session: Session, delivery_ids: list[int]) -> None:
    session.execute(
        update(Delivery).where(Delivery.id.in_(delivery_ids)).values(enqueued_at=utcnow())
    )


def finish_if_done(session: Session, issue_id: int) -> bool:
    open_rows = exists().where(
        Delivery.issue_id == issue_id,
        Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
    )
    done = rowcount(
        session.execute(
            update(Issue)
            .where(
                Issue.id == issue_id,
                Issue.status == IssueStatus.SENDING,
                Issue.deliveries_created_at.is_not(None),
                ~open_rows,
            )
            .values(status=IssueStatus.SENT, sent_at=utcnow())
        )
    )
    if done:
        record_event(session, "issue.sent", issue_id=issue_id)
    return bool(done)


def mark_stale_claims_in_doubt(session: Session, now: datetime) -> int:
    """Rows claimed, before runs, by a worker that died: the mail may have gone, so never
    resend blindly."""
    return int(
        rowcount(
            session.execute(
                update(Delivery)
                .where(
                    Delivery.status == DeliveryStatus.SENDING,
                    Delivery.run_id.is_(None),
                    Delivery.claimed_at < now - CLAIM_LEASE,
                )
                .values(
                    status=DeliveryStatus.IN_DOUBT,
                    last_error="worker stopped during the SMTP transaction",
                )
            )
        )
    )


def issues_awaiting_deliveries(session: Session, now: datetime) -> list[int]:
    """Sending issues whose start task was lost (requested a while ago, still no rows)."""
    return list(
        session.scalars(
            select(Issue.id).where(
                Issue.status == IssueStatus.SENDING,
                Issue.deliveries_created_at.is_(None),
                Issue.send_requested_at < now - START_GRACE,
            )
        )
    )


def sending_issue_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Issue.id).where(Issue.status == IssueStatus.SENDING)))


def reopen_for_returned_rows(session: Session, issue_id: int | None = None) -> list[int]:
    """Sent issues (or the one given) that have rows back in the queue go on sending.

    Rows come back after an issue was closed when a run given up elsewhere (its claims
    called in doubt by the group rule) turns out to have never tried some of them: its
    host came back from a partition and found its lease gone, or its journal was replayed
    late. Those readers never got the mail; left queued in a sent issue nobody would send
    it. Like an editor's resend, this is a way back from sent outside the state table."""
    returned = exists().where(
        Delivery.issue_id == Issue.id, Delivery.status == DeliveryStatus.QUEUED
    )
    query = select(Issue.id).where(Issue.status == IssueStatus.SENT, returned)
    if issue_id is not None:
        query = query.where(Issue.id == issue_id)
    reopened = []
    for found in session.scalars(query).all():
        done = session.execute(
            update(Issue)
            .where(Issue.id == found, Issue.status == IssueStatus.SENT)
            .values(status=IssueStatus.SENDING, sent_at=None)
        )
        if rowcount(done):
            record_event(session, "issue.reopened", issue_id=found, data={"why": "rows returned"})
            reopened.append(int(found))
    return reopened


def reconcile(session: Session, now: datetime) -> list[int]:
    """Repair what a lost broker message left (after recovery.recover has repaired what
    stopped workers left): lost start tasks are queued again, finished issues are closed.
    Returns the issues still sending, whose stale queued rows the caller hands to the
    broker again."""
    mark_stale_claims_in_doubt(session, now)
    for issue_id in issues_awaiting_deliveries(session, now):
        enqueue(session, "mailer.start_send", issue_id)
    reopen_for_returned_rows(session)
    sending = sending_issue_ids(session)
    for issue_id in sending:
        finish_if_done(session, issue_id)
    return sending
