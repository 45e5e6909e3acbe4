"""A group of deliveries taken for sending, and its results written back.

The hot path of a send: one statement claims a group (only rows still queued and
due, whose reader is still active and whose issue is still sending) and is
committed before any SMTP; one executemany records the group's results. Together
with mailer/ledger.py, the only code that changes delivery rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, exists, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from mailer.db import UTCDateTime, rowcount, table_of
from mailer.events import record_event
from mailer.issues.models import Issue
from mailer.issues.states import IssueStatus
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.states import SubscriptionStatus


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    subscription_id: int
    # Read with the claim (same statement), not once per reader: the links need it.
    link_secret: str
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


_delivery = table_of(Delivery)
# The claim's statements are built once: constructing them per group cost more CPU
# than running them (SQLAlchemy caches the compiled SQL, not the expression tree).
_ids: BindParameter[list[int]] = bindparam("b_ids", expanding=True)
_now = bindparam("b_now", type_=UTCDateTime)
_active = exists().where(
    Subscription.id == Delivery.subscription_id, Subscription.status == SubscriptionStatus.ACTIVE
)
_claim_update = (
    update(_delivery)
    .where(
        Delivery.id.in_(_ids),
        Delivery.issue_id == bindparam("b_issue"),
        Delivery.status == DeliveryStatus.QUEUED,
        Delivery.next_attempt_at.is_(None) | (Delivery.next_attempt_at <= _now),
        _active,
        exists().where(Issue.id == bindparam("b_issue"), Issue.status == IssueStatus.SENDING),
    )
    .values(
        status=DeliveryStatus.SENDING,
        attempts=Delivery.attempts + 1,
        claimed_at=_now,
        run_id=bindparam("b_run"),
    )
)
_claim_stmt = _claim_update.returning(Delivery.id)
_skip_stmt = (
    update(Delivery)
    .where(Delivery.id.in_(_ids), Delivery.status == DeliveryStatus.QUEUED, ~_active)
    .values(status=DeliveryStatus.SKIPPED, last_error="subscription no longer active")
)
_recipients_stmt = (
    select(
        Delivery.id,
        Subscription.id,
        Subscription.link_secret,
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
        Subscription.link_secret,
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


def claim(
    session: Session, issue_id: int, delivery_ids: list[int], now: datetime, run_id: str
) -> Claim:
    """Take the rows that are still queued and due for the send run ``run_id``, in one
    UPDATE, and commit the claim.

    Rows whose reader left (unsubscribed, bounced, erased) since the send began are
    skipped here, so a reader who leaves mid-send gets no copy that has not gone out.
    """
    result = Claim()
    params = {"b_ids": delivery_ids, "b_issue": issue_id, "b_now": now, "b_run": run_id}
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
        result.skipped = rowcount(
            session.execute(
                _skip_stmt,
                {"b_ids": [i for i in delivery_ids if i not in taken]},
                execution_options=_NO_SYNC,
            )
        )
    if not claimed_ids:
        session.commit()
        result.issue_sending = bool(
            session.scalar(select(Issue.status).where(Issue.id == issue_id)) == IssueStatus.SENDING
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
    update(_delivery)
    .where(
        _delivery.c.id == bindparam("b_id"),
        # Only the run that claimed the row records it (not after an editor re-queued it).
        _delivery.c.run_id == bindparam("b_run"),
        # A row the reconciler already called in-doubt may still learn it was sent.
        # (IN (…) cannot be used in an executemany, hence the OR.)
        or_(
            _delivery.c.status == DeliveryStatus.SENDING,
            _delivery.c.status == DeliveryStatus.IN_DOUBT,
        ),
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
    run_id: str,
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
                    "b_run": run_id,
                    "b_status": o.status,
                    "b_error": (o.error or None) and o.error[:1000],
                    "b_message_id": o.message_id,
                    "b_sent_at": now if o.status == DeliveryStatus.SENT else None,
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
            .where(Subscription.id.in_(suppress), Subscription.status == SubscriptionStatus.ACTIVE)
            .values(status=SubscriptionStatus.BOUNCED)
        )
        for subscription_id in suppress:
            record_event(session, "subscription.bounced", subscription_id=subscription_id)
    if commit:
        session.commit()
