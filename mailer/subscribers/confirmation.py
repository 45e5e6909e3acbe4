"""The double opt-in mail: one reader's (a signup), or a chunk of readers' (a CSV import).

A reader gets one mail per request for one: the subscription's ``confirmation_sent_at``
stamps the request, and the ``confirmation.sent`` event written (and committed) right
after the mail names the stamp it answered (``confirmation.refused`` when the server
refused the address for good). A task run again with the same ids (a chunk retried after
a temporary SMTP error half-way, or a message the broker delivered twice) skips every
reader whose request is answered.

A request nobody answered (its task never reached the broker: the web process died
between the commit and the publish, or the broker was down; or the task gave up while
the SMTP server was) is queued again by ``queue_lost``, which beat runs every
``LOST_SWEEP_MINUTES``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.events import Event, record_event
from mailer.mail.smtp import InDoubtSMTPError, PermanentSMTPError, SMTPConnection
from mailer.queue import enqueue
from mailer.subscribers.models import Subscription
from mailer.subscribers.reader_mail import mail_reader
from mailer.subscribers.states import SubscriptionStatus
from mailer.tokens import Purpose, Tokens

log = logging.getLogger(__name__)

SENT = "confirmation.sent"
REFUSED = "confirmation.refused"
# A request still unanswered this long after it was made has lost its task (a signup's or
# a chunk's task normally runs within seconds; a backlog this long is an outage), and one
# older than the window is left alone (its link would soon expire; the reader can ask
# again from the signup form).
LOST_AFTER = timedelta(minutes=15)
LOST_WITHIN = timedelta(hours=24)
LOST_SWEEP_MINUTES = 10
# An import's mails go out in tasks of this many readers: 3,000 rows are 30 broker
# messages, not 3,000, and one SMTP connection carries a chunk.
CHUNK = 100


def _stamp(when: datetime | None) -> str:
    return when.isoformat() if when is not None else ""


def _already_mailed(session: Session, subscriptions: Iterable[Subscription]) -> set[int]:
    """The ones whose current request is answered: mailed, or refused for good."""
    return _answered(session, {s.id: _stamp(s.confirmation_sent_at) for s in subscriptions})


def _answered(session: Session, stamps: dict[int, str]) -> set[int]:
    """Of these subscriptions (id → request stamp), the ones with an answer to that request
    (one query per thousand ids)."""
    ids = list(stamps)
    answered: set[int] = set()
    for start in range(0, len(ids), 1000):
        rows = session.execute(
            select(Event.subscription_id, Event.data).where(
                Event.kind.in_((SENT, REFUSED)),
                Event.subscription_id.in_(ids[start : start + 1000]),
            )
        )
        answered.update(
            sid
            for sid, data in rows
            if sid is not None and stamps[sid] and (data or {}).get("request") == stamps[sid]
        )
    return answered


def _mail_one(
    session: Session,
    settings: Settings,
    tokens: Tokens,
    subscription: Subscription,
    smtp: SMTPConnection | None = None,
) -> None:
    try:
        mail_reader(
            settings, tokens, subscription, "confirm", {"confirm_url": Purpose.CONFIRM}, smtp=smtp
        )
    except PermanentSMTPError:
        # Answered, for good: the sweep for lost requests must not try it again.
        _record_sent(session, subscription, kind=REFUSED)
        raise
    _record_sent(session, subscription)


def _record_sent(
    session: Session, subscription: Subscription, in_doubt: bool = False, kind: str = SENT
) -> None:
    data: dict[str, object] = {"request": _stamp(subscription.confirmation_sent_at)}
    if in_doubt:
        data["in_doubt"] = True
    record_event(session, kind, subscription_id=subscription.id, data=data)
    # Committed before the next mail: a retry after a later failure finds this one done.
    session.commit()


def send_confirmation_mail(
    session: Session, settings: Settings, tokens: Tokens, subscription_id: int
) -> bool:
    """Send the confirmation link if the subscription still waits for one; False if not."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.status != SubscriptionStatus.PENDING:
        return False
    if _already_mailed(session, [subscription]):
        return False
    _mail_one(session, settings, tokens, subscription)
    return True


def queue_confirmations(session: Session, subscription_ids: Sequence[int]) -> int:
    """Queue the mails of many readers (an import) as one task per CHUNK ids, sent after
    the caller's commit. Returns the number of tasks."""
    chunks = [
        list(subscription_ids[start : start + CHUNK])
        for start in range(0, len(subscription_ids), CHUNK)
    ]
    for chunk in chunks:
        enqueue(session, "mailer.send_confirmations", chunk)
    return len(chunks)


def send_confirmation_mails(
    session: Session, settings: Settings, tokens: Tokens, subscription_ids: Sequence[int]
) -> int:
    """Each reader in the chunk who still waits and has not had this request's mail gets
    it, over one SMTP connection; returns how many were mailed now.

    A temporary SMTP error stops the chunk (the task retries it; those mailed are skipped
    then). A refused address or a mail in doubt is that reader's alone: logged, never
    retried (the single mail's task does not retry them either), and the rest go on."""
    wanted = list(dict.fromkeys(subscription_ids))
    rows = session.scalars(
        select(Subscription).where(
            Subscription.id.in_(wanted), Subscription.status == SubscriptionStatus.PENDING
        )
    ).all()
    done = _already_mailed(session, rows)
    by_id = {row.id: row for row in rows if row.id not in done}
    mailed = 0
    with SMTPConnection(settings) as smtp:
        for subscription_id in wanted:
            subscription = by_id.get(subscription_id)
            if subscription is None:
                continue
            try:
                _mail_one(session, settings, tokens, subscription, smtp)
            except PermanentSMTPError as exc:
                log.warning("confirmation to subscription %s refused: %s", subscription_id, exc)
                continue
            except InDoubtSMTPError as exc:
                # It may have gone out: counted as sent, so a retry never sends a second.
                _record_sent(session, subscription, in_doubt=True)
                log.warning("confirmation to subscription %s in doubt: %s", subscription_id, exc)
                continue
            mailed += 1
    return mailed


def queue_lost(session: Session, now: datetime) -> int:
    """Queue again the confirmation mails whose request, made between ``LOST_WITHIN`` and
    ``LOST_AFTER`` ago, has no answer (see the module's docstring); returns how many
    readers. Sent after the caller's commit, in chunks; the tasks skip a reader whose
    mail went out meanwhile."""
    rows = session.execute(
        select(Subscription.id, Subscription.confirmation_sent_at)
        .where(
            Subscription.status == SubscriptionStatus.PENDING,
            Subscription.confirmation_sent_at >= now - LOST_WITHIN,
            Subscription.confirmation_sent_at <= now - LOST_AFTER,
        )
        .order_by(Subscription.id)
    ).all()
    answered = _answered(session, {sid: _stamp(stamp) for sid, stamp in rows})
    lost = [sid for sid, _ in rows if sid not in answered]
    if lost:
        log.warning("%d confirmation mails had lost their task: queued again", len(lost))
        queue_confirmations(session, lost)
    return len(lost)
