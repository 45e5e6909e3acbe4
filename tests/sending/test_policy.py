"""What the send does with the SMTP server's answers: suppress, pause, retry, resume."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailer.events import Event
from mailer.issues.models import Issue
from mailer.sending import batch as sending
from mailer.sending import ledger
from mailer.sending import progress as send_progress
from mailer.sending.models import Delivery
from mailer.subscribers.models import Subscription
from tests.harness import factories

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back


def _start(session, issue_id: int) -> list[int]:
    assert ledger.request_send(session, issue_id)
    ledger.create_deliveries(session, issue_id)
    session.commit()
    return ledger.queued_page(session, issue_id, 0, 1000, datetime.now(UTC))


def test_unknown_mailbox_5_1_x_fails_and_suppresses_the_address(session, rt, smtp_sink):
    gone = factories.subscription(session, "borte@example.no")
    factories.subscription(session, "her@example.no")
    smtp_sink.handler.reject["borte@example.no"] = "550 5.1.1 User unknown"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert (result.sent, result.failed) == (1, 1)
    session.expire_all()
    assert session.get(Subscription, gone.id).status == "bounced"
    assert session.scalar(select(Event.kind).where(Event.subscription_id == gone.id)) == (
        "subscription.bounced"
    )


def test_mailbox_full_552_fails_that_address_only(session, rt, smtp_sink):
    full = factories.subscription(session, "full@example.no")
    smtp_sink.handler.reject["full@example.no"] = "552 5.2.2 Mailbox full"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)
    assert result.failed == 1
    session.expire_all()
    assert session.get(Subscription, full.id).status == "active"
    assert session.scalars(select(Delivery.last_error)).one().startswith("552")


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ("550 5.1.10 Recipient address has null MX", "bounced"),
        ("550 5.2.1 Mailbox disabled", "active"),
    ],
)
def test_the_address_class_is_read_from_the_codes_subject_not_its_detail(
    session, rt, smtp_sink, reply, status
):
    """Mutant of ``send_batch`` (a survivor of `make mutate`): ``status[1] == 1`` →
    ``status[2] == 1``: X.1.Y (the address) suppresses whatever its detail Y; X.2.1 (a
    mailbox disabled) is about the mailbox and keeps the reader."""
    reader = factories.subscription(session, "leser@example.no")
    smtp_sink.handler.reject["leser@example.no"] = reply
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    assert sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids).failed == 1

    session.expire_all()
    assert session.get(Subscription, reader.id).status == status


def test_policy_refusal_5_7_x_pauses_the_issue_and_keeps_the_reader(session, rt, smtp_sink):
    reader = factories.subscription(session, "a@example.no")
    later = factories.subscription(session, "b@example.no")
    smtp_sink.handler.reject["a@example.no"] = "550 5.7.1 Sender blocked by policy"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert result.paused and "5.7.1" in result.paused
    assert smtp_sink.messages == []
    session.expire_all()
    assert session.get(Issue, issue.id).status == "paused"
    assert "5.7.1" in session.get(Issue, issue.id).pause_reason
    assert session.get(Subscription, reader.id).status == "active"
    assert {d.status for d in session.scalars(select(Delivery))} == {"queued"}

    # The editor fixes the cause and resumes: both readers get their copy, once.
    smtp_sink.handler.reject.clear()
    assert ledger.resume(session, issue.id)
    session.commit()
    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)
    assert result.sent == 2
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == [
        reader.subscriber.email,
        later.subscriber.email,
    ]


def test_many_failures_in_a_row_pause_the_issue(session, rt, smtp_sink, monkeypatch):
    monkeypatch.setattr(sending, "MAX_CONSECUTIVE_FAILURES", 3)
    for i in range(6):
        factories.subscription(session, f"feil{i}@example.no")
        smtp_sink.handler.reject[f"feil{i}@example.no"] = "554 5.0.0 Rejected"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert result.failed == 3 and result.paused and "3 failures in a row" in result.paused
    session.expire_all()
    statuses = sorted(d.status for d in session.scalars(select(Delivery)))
    assert statuses == ["failed"] * 3 + ["queued"] * 3
    assert session.get(Issue, issue.id).status == "paused"


def test_pause_stops_the_batch_at_the_next_group_and_resume_finishes(
    session, rt, smtp_sink, monkeypatch
):
    monkeypatch.setattr(sending, "COMMIT_GROUP", 2)
    for i in range(6):
        factories.subscription(session, f"leser{i}@example.no")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    class PauseAtFirstMail:
        """The editor presses pause while the first mail of the first group goes out. The
        limiter is asked once per mail, just before it is sent: this does not depend on
        how often the batch reads its clock."""

        def __init__(self) -> None:
            self.mails = 0

        def acquire(self) -> None:
            self.mails += 1
            if self.mails == 1:
                with rt.db.session() as other:
                    assert ledger.pause(other, issue.id)
                    other.commit()

    limiter = PauseAtFirstMail()
    first = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids, limiter=limiter)
    # The group already claimed goes out; the next claim sees the pause.
    assert first.sent == 2 and limiter.mails == 2
    assert len(smtp_sink.messages) == 2
    assert send_progress.progress(session, issue.id).counts["queued"] == 4

    assert ledger.resume(session, issue.id)
    session.commit()
    rest = ledger.queued_page(session, issue.id, 0, 100, datetime.now(UTC))
    second = sending.send_batch(session, rt.settings, rt.tokens, issue.id, rest)
    assert second.sent == 4
    recipients = [r for m in smtp_sink.messages for r in m.rcpt_tos]
    assert sorted(recipients) == sorted(f"leser{i}@example.no" for i in range(6))
    assert send_progress.progress(session, issue.id).status == "sent"


def test_cancel_stops_for_good(session, rt, smtp_sink):
    factories.subscription(session, "x@example.no")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    assert ledger.cancel(session, issue.id)
    session.commit()
    assert not ledger.resume(session, issue.id)
    assert sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids).sent == 0
    assert smtp_sink.messages == []
    assert send_progress.progress(session, issue.id).finished


def test_resend_in_doubt_is_an_editor_decision(session, rt, smtp_sink):
    factories.subscription(session, "tvil@example.no")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    session.execute(
        Delivery.__table__.update().values(status="in-doubt", last_error="lost after DATA")
    )
    session.commit()
    assert ledger.finish_if_done(session, issue.id)
    session.commit()
    assert send_progress.progress(session, issue.id).status == "sent"
    # A second `send` never restarts a sent issue…
    assert not ledger.request_send(session, issue.id)
    # …only the explicit resend does, and only for the in-doubt rows.
    assert ledger.resend_in_doubt(session, issue.id) == 1
    session.commit()
    assert sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids).sent == 1
    assert send_progress.progress(session, issue.id).status == "sent"


def test_backoff_grows_and_is_capped():
    import random

    rng = random.Random(7)
    delays = [sending.backoff(n, rng).total_seconds() for n in range(1, 12)]
    assert 30 <= delays[0] <= 60
    assert all(d <= sending.BACKOFF_MAX.total_seconds() for d in delays)
    assert delays[5] > delays[0]


def test_enhanced_status_codes_are_read_from_the_reply():
    assert sending.enhanced_status("5.7.1 Blocked") == (5, 7, 1)
    assert sending.enhanced_status(" 4.2.2 Full") == (4, 2, 2)
    assert sending.enhanced_status("Mailbox unavailable") is None
