"""Retries on 4xx, the claim's "not due yet" and results that arrive after the reconciler.

Each test pins a promise a small change to the code once slipped past (issue 14): the
mutant it kills is named in its docstring; each was applied by hand and seen to fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from mailer.issues.models import Issue
from mailer.sending import batch as sending
from mailer.sending import claims, ledger
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus
from tests.harness import factories

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _start(session, issue_id: int, requested_at: datetime = NOW) -> list[int]:
    assert ledger.request_send(session, issue_id)
    ledger.create_deliveries(session, issue_id)
    session.execute(
        update(Issue).where(Issue.id == issue_id).values(send_requested_at=requested_at)
    )
    session.commit()
    return ledger.queued_page(session, issue_id, 0, 1000, NOW)


def _row(session, delivery_id: int) -> Delivery:
    session.expire_all()
    row = session.get(Delivery, delivery_id)
    assert row is not None
    return row


def _full_mailbox(session, smtp_sink, attempts_before: int, requested_at: datetime = NOW):
    """One reader whose server answers 452, with ``attempts_before`` attempts behind it."""
    factories.subscription(session, "full@example.no")
    smtp_sink.handler.reject["full@example.no"] = "452 4.2.2 Mailbox full, try later"
    issue = factories.drafted_issue(session)
    [row] = _start(session, issue.id, requested_at)
    session.execute(update(Delivery).where(Delivery.id == row).values(attempts=attempts_before))
    session.commit()
    return issue, row


def test_the_seventh_4xx_still_retries(session, rt, smtp_sink):
    """Mutant: ``MAX_ATTEMPTS = 8`` → 7, or ``>=`` → ``>`` moved a step early: gives up at 7."""
    issue, row = _full_mailbox(session, smtp_sink, attempts_before=6)

    result = sending.send_batch(
        session, rt.settings, rt.tokens, issue.id, [row], clock=lambda: NOW + timedelta(hours=1)
    )

    assert (result.requeued, result.failed) == (1, 0)
    delivery = _row(session, row)
    assert (delivery.status, delivery.attempts) == ("queued", 7)
    assert delivery.next_attempt_at > NOW + timedelta(hours=1)


def test_a_4xx_gives_up_at_the_eighth_attempt(session, rt, smtp_sink):
    """Mutant: the retry never gives up (``>=`` → ``>``, ``MAX_ATTEMPTS = 9``, or the
    condition dropped): the eighth 452 went back to the queue."""
    issue, row = _full_mailbox(session, smtp_sink, attempts_before=7)

    result = sending.send_batch(
        session, rt.settings, rt.tokens, issue.id, [row], clock=lambda: NOW + timedelta(hours=1)
    )

    assert (result.requeued, result.failed) == (0, 1)
    delivery = _row(session, row)
    assert (delivery.status, delivery.attempts) == ("failed", 8)
    assert delivery.last_error.startswith("gave up: ") and "452" in delivery.last_error
    assert delivery.next_attempt_at is None
    session.refresh(issue)
    assert issue.status == "sent"  # nothing left to try


@pytest.mark.parametrize(
    ("since_request", "status"),
    [
        (timedelta(hours=24), "queued"),
        (timedelta(hours=24, seconds=1), "failed"),
    ],
)
def test_a_4xx_gives_up_24_hours_after_the_send_began(
    session, rt, smtp_sink, since_request, status
):
    """Mutant: the 24 h window never ends (``RETRY_WINDOW`` grown, ``>`` → ``>=`` or the
    ``now - started`` test dropped): the second attempt a day later went back to the queue;
    or ends a step early: the attempt at exactly 24 h failed."""
    issue, row = _full_mailbox(session, smtp_sink, attempts_before=1)

    sending.send_batch(
        session, rt.settings, rt.tokens, issue.id, [row], clock=lambda: NOW + since_request
    )

    delivery = _row(session, row)
    assert (delivery.status, delivery.attempts) == (status, 2)
    assert delivery.last_error.startswith("gave up: ") == (status == "failed")


def test_the_claim_leaves_a_row_in_backoff_until_it_is_due(session, rt):
    """Mutant: the claim ignores ``next_attempt_at`` (the condition dropped, or ``<=`` → ``>``
    / ``<``): a row in backoff was taken at once, or only after its time had passed."""
    factories.subscription(session, "vent@example.no")
    issue = factories.drafted_issue(session)
    [row] = _start(session, issue.id)
    due = NOW + timedelta(minutes=5)
    session.execute(update(Delivery).where(Delivery.id == row).values(next_attempt_at=due))
    session.commit()

    early = claims.claim(session, issue.id, [row], due - timedelta(seconds=1), run_id="run-a")

    assert early.recipients == [] and early.skipped == 0 and early.issue_sending
    delivery = _row(session, row)
    assert (delivery.status, delivery.attempts, delivery.run_id) == ("queued", 0, None)

    on_time = claims.claim(session, issue.id, [row], due, run_id="run-a")

    assert [r.delivery_id for r in on_time.recipients] == [row]
    delivery = _row(session, row)
    assert (delivery.status, delivery.attempts, delivery.run_id) == ("sending", 1, "run-a")


def test_the_queue_page_also_waits_for_the_backoff(session, rt):
    """Mutant: ``queued_page`` ignores ``next_attempt_at`` (or ``<=`` → ``<``)."""
    factories.subscription(session, "vent@example.no")
    issue = factories.drafted_issue(session)
    [row] = _start(session, issue.id)
    due = NOW + timedelta(minutes=5)
    session.execute(update(Delivery).where(Delivery.id == row).values(next_attempt_at=due))
    session.commit()
    assert ledger.queued_page(session, issue.id, 0, 10, due - timedelta(seconds=1)) == []
    assert ledger.queued_page(session, issue.id, 0, 10, due) == [row]


def _claimed_then_in_doubt(session, run_id: str) -> int:
    factories.subscription(session, "sen@example.no")
    issue = factories.drafted_issue(session)
    [row] = _start(session, issue.id)
    assert claims.claim(session, issue.id, [row], NOW, run_id=run_id).recipients
    # The reconciler gave up on the run (its lease ran out) and called the row in doubt.
    session.execute(
        update(Delivery)
        .where(Delivery.id == row)
        .values(status=DeliveryStatus.IN_DOUBT, last_error="worker stopped")
    )
    session.commit()
    return row


def test_a_result_recorded_after_the_reconciler_marked_the_row_in_doubt_is_kept(session, rt):
    """Mutant: the record's ``status == IN_DOUBT`` alternative dropped (or turned into
    another state): the late 250 was lost and the reader stayed in doubt (and might be
    mailed twice by a resend)."""
    row = _claimed_then_in_doubt(session, "run-late")

    claims.record(
        session,
        [claims.Outcome(row, DeliveryStatus.SENT, message_id="<sen.1@example.no>")],
        NOW + timedelta(minutes=3),
        run_id="run-late",
    )

    delivery = _row(session, row)
    assert (delivery.status, delivery.message_id) == ("sent", "<sen.1@example.no>")
    assert delivery.sent_at == NOW + timedelta(minutes=3) and delivery.last_error is None


def test_a_late_result_from_another_run_changes_nothing(session, rt):
    """Mutant: the record's ``run_id`` guard dropped: a run that lost the row overwrote the
    state the reconciler (or the run that took the row over) had written."""
    row = _claimed_then_in_doubt(session, "run-owner")

    claims.record(
        session, [claims.Outcome(row, DeliveryStatus.SENT)], NOW, run_id="run-someone-else"
    )

    delivery = _row(session, row)
    assert (delivery.status, delivery.last_error, delivery.sent_at) == (
        "in-doubt",
        "worker stopped",
        None,
    )


def test_a_late_result_for_a_row_an_editor_queued_again_changes_nothing(session, rt):
    """Mutant: the record accepts any status (the OR of sending / in-doubt dropped): a late
    answer overwrote a row that was already queued again by the editor's resend."""
    row = _claimed_then_in_doubt(session, "run-owner")
    session.execute(update(Delivery).where(Delivery.id == row).values(status=DeliveryStatus.QUEUED))
    session.commit()

    claims.record(
        session, [claims.Outcome(row, DeliveryStatus.FAILED, "late")], NOW, run_id="run-owner"
    )

    assert _row(session, row).status == "queued"
    assert session.scalar(select(Delivery.last_error).where(Delivery.id == row)) == "worker stopped"


class _Top:
    """A random source at the top of every range: the backoff's ceiling itself."""

    def uniform(self, low: float, high: float) -> float:
        return high


def test_the_backoff_doubles_from_one_minute_up_to_an_hour():
    """Survivors of the first `make mutate` (``backoff``: ×3 instead of ×2, or one doubling
    late): the ceiling after attempt n is 1 min × 2^(n-1), capped at 1 h."""
    ceilings = [sending.backoff(n, _Top()) for n in range(1, 9)]  # type: ignore[arg-type]
    minutes = [c / timedelta(minutes=1) for c in ceilings]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60]
    assert sending.backoff(0, _Top()) == timedelta(minutes=1)  # type: ignore[arg-type]
