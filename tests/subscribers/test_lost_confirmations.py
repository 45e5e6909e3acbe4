"""A confirmation mail whose task was lost is queued again (beat's sweep), and only that one.

A signup commits its row, then publishes the task: a web process that dies in between, a
broker that is down at that moment, or a task that gave up while the SMTP server was down
leaves a reader waiting for a mail that never comes. ``confirmation.queue_lost`` finds the
requests with no answer (no ``confirmation.sent`` nor ``confirmation.refused`` event for
their stamp) made between ``LOST_WITHIN`` and ``LOST_AFTER`` ago.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mailer.events import Event, record_event
from mailer.mail.smtp import PermanentSMTPError
from mailer.subscribers import confirmation
from mailer.subscribers.confirmation import queue_lost, send_confirmation_mail
from mailer.subscribers.tasks import beat_schedule
from tests.harness import factories

TASK = "mailer.send_confirmations"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _pending(session, email: str, asked: datetime | None):  # type: ignore[no-untyped-def]
    row = factories.subscription(session, email, status="pending")
    row.confirmation_sent_at = asked
    session.flush()
    return row


def _answer(session, row, kind: str = confirmation.SENT, stamp: datetime | None = None):  # type: ignore[no-untyped-def]
    when = stamp or row.confirmation_sent_at
    record_event(session, kind, subscription_id=row.id, data={"request": when.isoformat()})


@pytest.mark.rolled_back
def test_only_the_requests_nobody_answered_are_queued_again(session, queued_tasks):
    half_hour = NOW - timedelta(minutes=30)
    lost = _pending(session, "tapt@example.no", half_hour)
    lost_yesterday = _pending(session, "i-gar@example.no", NOW - timedelta(hours=23))
    mailed = _pending(session, "sendt@example.no", half_hour)
    _answer(session, mailed)
    refused = _pending(session, "avvist@example.no", half_hour)
    _answer(session, refused, confirmation.REFUSED)
    asked_again = _pending(session, "ny-lenke@example.no", half_hour)
    _answer(session, asked_again, stamp=NOW - timedelta(days=3))  # an earlier request's mail
    _pending(session, "akkurat-nå@example.no", NOW - timedelta(minutes=5))  # its task may run yet
    _pending(session, "for-gammel@example.no", NOW - timedelta(hours=25))
    _pending(session, "ingen-epost@example.no", None)  # the hourly limit: no mail asked for
    active = factories.subscription(session, "aktiv@example.no")
    active.confirmation_sent_at = half_hour
    session.commit()

    assert queue_lost(session, NOW) == 3
    session.commit()

    assert queued_tasks == [(TASK, ([lost.id, lost_yesterday.id, asked_again.id],))]


@pytest.mark.rolled_back
def test_a_refused_address_is_answered_and_never_swept_again(session, rt, smtp_sink, queued_tasks):
    row = _pending(session, "finnes-ikke@example.no", NOW - timedelta(minutes=30))
    session.commit()
    smtp_sink.handler.reject["finnes-ikke@example.no"] = "550 5.1.1 No such user"

    with pytest.raises(PermanentSMTPError):
        send_confirmation_mail(session, rt.settings, rt.tokens, row.id)

    kinds = session.scalars(select(Event.kind).where(Event.subscription_id == row.id)).all()
    assert confirmation.REFUSED in kinds
    assert queue_lost(session, NOW) == 0
    assert queued_tasks == []


@pytest.mark.rolled_back
def test_a_swept_reader_gets_the_mail_once(session, rt, smtp_sink, queued_tasks):
    row = _pending(session, "glemt@example.no", NOW - timedelta(minutes=30))
    session.commit()

    assert queue_lost(session, NOW) == 1
    session.commit()
    ((name, (ids,)),) = queued_tasks
    assert confirmation.send_confirmation_mails(session, rt.settings, rt.tokens, ids) == 1
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["glemt@example.no"]]

    # The next sweep finds it answered.
    assert queue_lost(session, NOW) == 0
    assert row.id in ids


def test_beat_sweeps_every_few_minutes(rt):
    entry = beat_schedule(rt.settings)["queue-lost-confirmations"]
    assert entry["task"] == "mailer.queue_lost_confirmations"
    assert entry["schedule"] == confirmation.LOST_SWEEP_MINUTES * 60.0
