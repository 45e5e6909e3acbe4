"""The delivery ledger: the only code that changes delivery rows and an issue's send state.

A row moves queued → sending (claimed and committed *before* the SMTP
transaction) → sent | failed | bounced | in-doubt | skipped, or back to
queued after a temporary failure. Every change is a guarded UPDATE, so two
workers, a redelivered task or a second ``digest send`` can never take the
same row twice. The broker only carries ids; what is left to do is always
read from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from mailer import delivery_states as ds
from mailer import issue_states
from mailer.db import UTCDateTime, utcnow
from mailer.models import Delivery, Issue, Subscriber, Subscription, record_event

# A row left in ``sending`` longer than this was claimed by a worker that died.
CLAIM_LEASE = timedelta(minutes=10)
# How long a queued row may sit in the broker before the reconciler queues it again.
ENQUEUE_LEASE = timedelta(minutes=10)
# A start task lost by the broker is noticed after this.
START_GRACE = timedelta(minutes=1)


class IssueNotFound(LookupError):
    pass


class TransitionRefused(ValueError):
    pass


def get_issue(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueNotFound(f"no issue with id {issue_id}")
    return issue


def transition(
    session: Session,
    issue_id: int,
    target: str,
    *,
    only_from: tuple[str, ...] | None = None,
    reason: str | None = None,
) -> bool:
    """Move an issue to ``target`` if the state table allows it; a guarded UPDATE."""
    sources = issue_states.sources_of(target)
    if only_from is not None:
        sources = tuple(s for s in sources if s in only_from)
    values: dict[str, object] = {"status": target}
    if target == issue_states.SENDING:
        values["pause_reason"] = None
    if target == issue_states.PAUSED:
        values["pause_reason"] = reason
    if target == issue_states.SENT:
        values["sent_at"] = utcnow()
    changed = session.execute(
        update(Issue).where(Issue.id == issue_id, Issue.status.in_(sources)).values(**values)
    ).rowcount  # type: ignore[attr-defined]
    if changed:
        record_event(session, f"issue.{target}", issue_id=issue_id, data={"reason": reason})
    return bool(changed)


def request_send(session: Session, issue_id: int) -> bool:
    """True when this call started the send; False when it was started before."""
    get_issue(session, issue_id)
    started = transition(
        session,
        issue_id,
        issue_states.SENDING,
        only_from=(issue_states.DRAFT, issue_states.SCHEDULED),
    )
    if started:
        session.execute(
            update(Issue).where(Issue.id == issue_id).values(send_requested_at=utcnow())
        )
    return started


def pause(session: Session, issue_id: int, reason: str = "paused by an editor") -> bool:
    get_issue(session, issue_id)
    return transition(session, issue_id, issue_states.PAUSED, reason=reason)


def resume(session: Session, issue_id: int) -> bool:
    """Paused → sending; the caller then queues the rows still queued (dispatch.queue_issue)."""
    get_issue(session, issue_id)
    resumed = transition(session, issue_id, issue_states.SENDING, only_from=(issue_states.PAUSED,))
    if resumed:
        session.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.status == ds.QUEUED)
            .values(next_attempt_at=None)
        )
    return resumed


def cancel(session: Session, issue_id: int) -> bool:
    get_issue(session, issue_id)
    return transition(session, issue_id, issue_states.CANCELLED)


def resend_in_doubt(session: Session, issue_id: int) -> int:
    """An editor's decision: queue the in-doubt rows again (some readers may get two copies)."""
    issue = get_issue(session, issue_id)
    if issue.status not in (issue_states.SENT, issue_states.SENDING, issue_states.PAUSED):
        raise TransitionRefused(f"issue {issue_id} is {issue.status}; nothing to resend")
    count = session.execute(
        update(Delivery)
        .where(Delivery.issue_id == issue_id, Delivery.status == ds.IN_DOUBT)
        .values(status=ds.QUEUED, enqueued_at=None, next_attempt_at=None, claimed_at=None)
    ).rowcount  # type: ignore[attr-defined]
    if count and issue.status == issue_states.SENT:
        # The one way back from sent: the editor chose to resend. Not in the state table,
        # so that no ordinary `send` can ever restart a sent issue.
        session.execute(
            update(Issue)
            .where(Issue.id == issue_id, Issue.status == issue_states.SENT)
            .values(status=issue_states.SENDING, sent_at=None)
        )
    record_event(session, "issue.resend_in_doubt", issue_id=issue_id, data={"rows": count})
    return int(count)


def count_recipients(session: Session, issue: Issue) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Subscription.newsletter_id == issue.newsletter_id,
                Subscription.status == "active",
            )
        )
        or 0
    )


def create_deliveries(session: Session, issue_id: int) -> None:
    """One queued row per active subscription (insert-if-absent), in one statement."""
    issue = get_issue(session, issue_id)
    if issue.status != issue_states.SENDING:
        return []
    if issue.deliveries_created_at is None:
        already = exists().where(
            Delivery.issue_id == issue_id, Delivery.subscription_id == Subscription.id
        )
        session.execute(
            insert(Delivery).from_select(
                ["issue_id", "subscription_id", "status", "attempts"],
                select(literal(issue_id), Subscription.id, literal(ds.QUEUED), literal(0)).where(
                    Subscription.newsletter_id == issue.newsletter_id,
                    Subscription.status == "active",
                    ~already,
                ),
            )
        )
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
        Delivery.status == ds.QUEUED,
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


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    subscription_id: int
    email: str
    name: str
    language: str
    attempts: int
    topics: list[str]


@dataclass
class Claim:
    recipients: list[Recipient] = field(default_factory=list)
    skipped: int = 0
    issue_sending: bool = True


# The claim's statements are built once: constructing them per group cost more CPU
# than running them (SQLAlchemy caches the compiled SQL, not the expression tree).
_ids = bindparam("b_ids", expanding=True)
_now = bindparam("b_now", type_=UTCDateTime)
_active = exists().where(
    Subscription.id == Delivery.subscription_id, Subscription.status == "active"
)
_claim_update = (
    update(Delivery.__table__)
    .where(
        Delivery.id.in_(_ids),
        Delivery.issue_id == bindparam("b_issue"),
        Delivery.status == ds.QUEUED,
        Delivery.next_attempt_at.is_(None) | (Delivery.next_attempt_at <= _now),
        _active,
        exists().where(Issue.id == bindparam("b_issue"), Issue.status == issue_states.SENDING),
    )
    .values(status=ds.SENDING, attempts=Delivery.attempts + 1, claimed_at=_now)
)
_claim_stmt = _claim_update.returning(Delivery.id)
_skip_stmt = (
    update(Delivery)
    .where(Delivery.id.in_(_ids), Delivery.status == ds.QUEUED, ~_active)
    .values(status=ds.SKIPPED, last_error="subscription no longer active")
)
_recipients_stmt = (
    select(
        Delivery.id,
        Subscription.id,
        Subscriber.email,
        Subscriber.name,
        Subscriber.language,
        Delivery.attempts,
        Subscription.topics,
    )
    .join(Subscription, Subscription.id == Delivery.subscription_id)
    .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
    .where(Delivery.id.in_(_ids))
    .order_by(Delivery.id)
)
# PostgreSQL takes the rows and reads their readers in one statement (an UPDATE in a
# WITH): one round trip per group fewer. SQLite allows no UPDATE inside WITH.
_claimed = _claim_update.returning(Delivery.id, Delivery.subscription_id, Delivery.attempts).cte(
    "claimed"
)
_claim_recipients_stmt = (
    select(
        _claimed.c.id,
        Subscription.id,
        Subscriber.email,
        Subscriber.name,
        Subscriber.language,
        _claimed.c.attempts,
        Subscription.topics,
    )
    .join_from(_claimed, Subscription, Subscription.id == _claimed.c.subscription_id)
    .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
    .order_by(_claimed.c.id)
)
# No ORM object of these rows is in the session: nothing to synchronise.
_NO_SYNC = {"synchronize_session": False}


def claim(session: Session, issue_id: int, delivery_ids: list[int], now: datetime) -> Claim:
    """Take the rows that are still queued and due, in one UPDATE, and commit the claim.

    Rows whose reader left (unsubscribed, bounced, erased) since the send began are
    skipped here, so a reader who leaves mid-send gets no copy that has not gone out.
    """
    result = Claim()
    params = {"b_ids": delivery_ids, "b_issue": issue_id, "b_now": now}
    recipients: list[Recipient] | None = None
    if session.get_bind().dialect.name == "postgresql":
        recipients = [Recipient(*row) for row in session.execute(_claim_recipients_stmt, params)]
        claimed_ids = [r.delivery_id for r in recipients]
    else:
        claimed_ids = list(session.scalars(_claim_stmt, params, execution_options=_NO_SYNC))
    if len(claimed_ids) < len(delivery_ids):
        # Only a row the UPDATE did not take can still be queued (and so be skipped);
        # when it took them all, as it nearly always does, that is one statement saved.
        taken = set(claimed_ids)
        result.skipped = session.execute(
            _skip_stmt,
            {"b_ids": [i for i in delivery_ids if i not in taken]},
            execution_options=_NO_SYNC,
        ).rowcount  # type: ignore[attr-defined]
    if not claimed_ids:
        session.commit()
        result.issue_sending = bool(
            session.scalar(select(Issue.status).where(Issue.id == issue_id)) == issue_states.SENDING
        )
        return result
    if recipients is None:
        rows = session.execute(_recipients_stmt, {"b_ids": claimed_ids})
        recipients = [Recipient(*row) for row in rows]
    result.recipients = recipients
    # Read inside the claim's transaction and commit last: no connection sits idle in a
    # transaction while SMTP talks, so a database restart meanwhile cannot stop the
    # results from being recorded (the pool's pre-ping reconnects).
    session.commit()
    return result


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status: str
    error: str | None = None
    message_id: str | None = None
    next_attempt_at: datetime | None = None


_record_stmt = (
    update(Delivery.__table__)
    .where(
        Delivery.__table__.c.id == bindparam("b_id"),
        # A row the reconciler already called in-doubt may still learn it was sent.
        # (IN (…) cannot be used in an executemany, hence the OR.)
        or_(Delivery.__table__.c.status == ds.SENDING, Delivery.__table__.c.status == ds.IN_DOUBT),
    )
    .values(
        status=bindparam("b_status"),
        last_error=bindparam("b_error"),
        message_id=bindparam("b_message_id"),
        sent_at=bindparam("b_sent_at"),
        next_attempt_at=bindparam("b_next"),
        enqueued_at=bindparam("b_enqueued"),
    )
)


def record(
    session: Session,
    outcomes: list[Outcome],
    now: datetime,
    suppress: list[int] | None = None,
    *,
    commit: bool = True,
) -> None:
    """Write a group of results in one statement and commit.

    With ``commit=False`` the caller commits, as send_batch does by claiming the next
    group in the same transaction: one commit per group instead of two, and still at
    most one group per connection claimed without a recorded result.
    """
    if outcomes:
        session.connection().execute(
            _record_stmt,
            [
                {
                    "b_id": o.delivery_id,
                    "b_status": o.status,
                    "b_error": (o.error or None) and o.error[:1000],
                    "b_message_id": o.message_id,
                    "b_sent_at": now if o.status == ds.SENT else None,
                    "b_next": o.next_attempt_at,
                    # A row going back to the queue is no longer in any broker message.
                    "b_enqueued": None,
                }
                for o in outcomes
            ],
        )
    if suppress:
        session.execute(
            update(Subscription)
            .where(Subscription.id.in_(suppress), Subscription.status == "active")
            .values(status="bounced")
        )
        for subscription_id in suppress:
            record_event(session, "subscription.bounced", subscription_id=subscription_id)
    if commit:
        session.commit()


def finish_if_done(session: Session, issue_id: int) -> bool:
    open_rows = exists().where(
        Delivery.issue_id == issue_id, Delivery.status.in_((ds.QUEUED, ds.SENDING))
    )
    done = session.execute(
        update(Issue)
        .where(
            Issue.id == issue_id,
            Issue.status == issue_states.SENDING,
            Issue.deliveries_created_at.is_not(None),
            ~open_rows,
        )
        .values(status=issue_states.SENT, sent_at=utcnow())
    ).rowcount  # type: ignore[attr-defined]
    if done:
        record_event(session, "issue.sent", issue_id=issue_id)
    return bool(done)


def mark_stale_claims_in_doubt(session: Session, now: datetime) -> int:
    """Rows claimed by a worker that died: the mail may have gone, so never resend blindly."""
    return int(
        session.execute(
            update(Delivery)
            .where(Delivery.status == ds.SENDING, Delivery.claimed_at < now - CLAIM_LEASE)
            .values(status=ds.IN_DOUBT, last_error="worker stopped during the SMTP transaction")
        ).rowcount  # type: ignore[attr-defined]
    )


def issues_awaiting_deliveries(session: Session, now: datetime) -> list[int]:
    """Sending issues whose start task was lost (requested a while ago, still no rows)."""
    return list(
        session.scalars(
            select(Issue.id).where(
                Issue.status == issue_states.SENDING,
                Issue.deliveries_created_at.is_(None),
                Issue.send_requested_at < now - START_GRACE,
            )
        )
    )


def sending_issue_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Issue.id).where(Issue.status == issue_states.SENDING)))
