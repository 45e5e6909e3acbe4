"""The delivery ledger's only writer: request a send, create rows, claim, send, record.

A delivery row moves queued → sending (claimed, committed *before* the SMTP
transaction) → sent | failed | in-doubt | skipped. A crash between the
claim and the record leaves the row in ``sending``; it is never sent again
automatically, so a crash can cost at most the mails in flight as in-doubt,
never a duplicate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session, selectinload

from mailer import delivery_states as ds
from mailer import issue_states
from mailer.config import Settings
from mailer.db import utcnow
from mailer.digests import GREETING_NAME, UNSUBSCRIBE_URL, compile_issue
from mailer.i18n import DEFAULT_LANGUAGE
from mailer.messages import MessageTemplate
from mailer.models import Delivery, Issue, IssueArticle, Subscriber, Subscription, record_event
from mailer.smtp import (
    InDoubtSMTPError,
    PermanentSMTPError,
    SMTPConnection,
    TemporarySMTPError,
)
from mailer.tokens import Purpose, Tokens

BATCH_SIZE = 100
# A row left in ``sending`` longer than this was claimed by a worker that died.
CLAIM_LEASE = timedelta(minutes=10)


class IssueNotFound(LookupError):
    pass


def transition(session: Session, issue_id: int, target: str) -> bool:
    """Move an issue to ``target`` if the table allows it from its current state.

    A guarded UPDATE, so two concurrent callers cannot both win.
    """
    values: dict[str, object] = {"status": target}
    if target == issue_states.SENDING:
        values["send_requested_at"] = utcnow()
    if target == issue_states.SENT:
        values["sent_at"] = utcnow()
    result = session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.status.in_(issue_states.sources_of(target)))
        .values(**values)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def request_send(session: Session, issue_id: int) -> bool:
    """True when this call started the send; False if it was already under way or done."""
    if session.get(Issue, issue_id) is None:
        raise IssueNotFound(f"no issue with id {issue_id}")
    started = transition(session, issue_id, issue_states.SENDING)
    if started:
        record_event(session, "issue.send_requested", issue_id=issue_id)
    return started


def count_recipients(session: Session, issue: Issue) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Subscription.newsletter_id == issue.newsletter_id, Subscription.status == "active"
            )
        )
        or 0
    )


def create_deliveries(session: Session, issue_id: int) -> list[int]:
    """One queued row per active subscription (insert-if-absent); returns the queued ids."""
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueNotFound(f"no issue with id {issue_id}")
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
    return list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.issue_id == issue_id, Delivery.status == ds.QUEUED)
            .order_by(Delivery.id)
        )
    )


def mark_enqueued(session: Session, delivery_ids: list[int]) -> None:
    session.execute(
        update(Delivery).where(Delivery.id.in_(delivery_ids)).values(enqueued_at=utcnow())
    )


def stale_queued(session: Session, lease: timedelta = CLAIM_LEASE) -> dict[int, list[int]]:
    """Queued rows of sending issues that no broker message is known to carry any more."""
    cutoff = utcnow() - lease
    rows = session.execute(
        select(Delivery.issue_id, Delivery.id)
        .join(Issue, Issue.id == Delivery.issue_id)
        .where(
            Issue.status == issue_states.SENDING,
            Delivery.status == ds.QUEUED,
            (Delivery.enqueued_at.is_(None)) | (Delivery.enqueued_at < cutoff),
        )
        .order_by(Delivery.id)
    )
    found: dict[int, list[int]] = {}
    for issue_id, delivery_id in rows:
        found.setdefault(issue_id, []).append(delivery_id)
    return found


def issues_awaiting_deliveries(
    session: Session, grace: timedelta = timedelta(minutes=1)
) -> list[int]:
    """Sending issues whose start task was lost (requested a while ago, still no rows)."""
    return list(
        session.scalars(
            select(Issue.id).where(
                Issue.status == issue_states.SENDING,
                Issue.deliveries_created_at.is_(None),
                Issue.send_requested_at < utcnow() - grace,
            )
        )
    )


def batches(ids: list[int], size: int = BATCH_SIZE) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _claim(session: Session, delivery_id: int, issue_id: int) -> str:
    """Atomically take a queued row, if its subscription is active and its issue is sending."""
    active = exists().where(
        Subscription.id == Delivery.subscription_id, Subscription.status == "active"
    )
    sending = exists().where(Issue.id == issue_id, Issue.status == issue_states.SENDING)
    claimed = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == ds.QUEUED, active, sending)
        .values(status=ds.SENDING, attempts=Delivery.attempts + 1, claimed_at=utcnow())
    ).rowcount  # type: ignore[attr-defined]
    if claimed:
        return ds.SENDING
    # Not claimed: someone else has it, the issue is not sending, or the reader left.
    left = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == ds.QUEUED, ~active)
        .values(status=ds.SKIPPED, last_error="subscription no longer active")
    ).rowcount  # type: ignore[attr-defined]
    return ds.SKIPPED if left else ds.QUEUED


def _record(session: Session, delivery_id: int, status: str, **values: object) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == ds.SENDING)
        .values(status=status, **values)
    )


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    in_doubt: int = 0
    requeued: int = 0
    skipped: int = 0


def unsubscribe_url(settings: Settings, tokens: Tokens, subscription_id: int) -> str:
    return f"{settings.base_url}/unsubscribe/{tokens.make(Purpose.UNSUBSCRIBE, subscription_id)}"


def send_batch(
    session: Session,
    settings: Settings,
    tokens: Tokens,
    issue_id: int,
    delivery_ids: list[int],
    connection_factory: Callable[[Settings], SMTPConnection] = SMTPConnection,
) -> BatchResult:
    result = BatchResult()
    issue = session.scalar(
        select(Issue)
        .where(Issue.id == issue_id)
        .options(selectinload(Issue.items).selectinload(IssueArticle.article))
    )
    if issue is None:
        raise IssueNotFound(f"no issue with id {issue_id}")
    templates: dict[str, MessageTemplate] = {}
    mailto = f"mailto:{settings.from_address}?subject=unsubscribe"
    with connection_factory(settings) as smtp:
        for delivery_id in delivery_ids:
            claim = _claim(session, delivery_id, issue_id)
            if claim != ds.SENDING:
                session.commit()
                result.skipped += claim == ds.SKIPPED
                continue
            session.commit()
            subscription_id, email, name, language = session.execute(
                select(Subscription.id, Subscriber.email, Subscriber.name, Subscriber.language)
                .join(Delivery, Delivery.subscription_id == Subscription.id)
                .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                .where(Delivery.id == delivery_id)
            ).one()
            language = language or DEFAULT_LANGUAGE
            if language not in templates:
                templates[language] = compile_issue(settings, issue, language)
            url = unsubscribe_url(settings, tokens, subscription_id)
            message = templates[language].personalise(
                to_name=name,
                to_address=email,
                values={GREETING_NAME: f" {name}" if name else "", UNSUBSCRIBE_URL: url},
                list_unsubscribe=(url, mailto),
            )
            try:
                smtp.send(message)
            except TemporarySMTPError as exc:
                # Nothing was delivered: back to the queue for the reconciler to retry.
                _record(
                    session, delivery_id, ds.QUEUED, last_error=str(exc)[:1000], enqueued_at=None
                )
                result.requeued += 1
            except PermanentSMTPError as exc:
                _record(session, delivery_id, ds.FAILED, last_error=str(exc)[:1000])
                result.failed += 1
            except InDoubtSMTPError as exc:
                _record(session, delivery_id, ds.IN_DOUBT, last_error=str(exc)[:1000])
                result.in_doubt += 1
            else:
                _record(
                    session, delivery_id, ds.SENT, sent_at=utcnow(), message_id=message.message_id
                )
                result.sent += 1
            session.commit()
    finish_if_done(session, issue_id)
    session.commit()
    return result


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


def mark_stale_claims_in_doubt(session: Session, now_lease: timedelta = CLAIM_LEASE) -> int:
    """Rows claimed by a worker that died: the mail may have gone, so never resend blindly."""
    cutoff = utcnow() - now_lease
    return int(
        session.execute(
            update(Delivery)
            .where(and_(Delivery.status == ds.SENDING, Delivery.claimed_at < cutoff))
            .values(status=ds.IN_DOUBT, last_error="worker stopped during the SMTP transaction")
        ).rowcount  # type: ignore[attr-defined]
    )


@dataclass(frozen=True)
class Progress:
    issue_id: int
    status: str
    counts: dict[str, int]
    deliveries_created: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(n for state, n in self.counts.items() if state in ds.FINAL)

    @property
    def finished(self) -> bool:
        return self.status in (issue_states.SENT, issue_states.CANCELLED)


def progress(session: Session, issue_id: int) -> Progress:
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueNotFound(f"no issue with id {issue_id}")
    session.refresh(issue)
    counts = Counter({state: 0 for state in ds.ALL})
    for state, n in session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.status)
    ):
        counts[state] = n
    return Progress(issue_id, issue.status, dict(counts), issue.deliveries_created_at is not None)
