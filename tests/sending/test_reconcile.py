"""The reconciler restarts a send whose start task the broker lost (issue 14).

Mutants this pins (each applied by hand and seen to fail): the lost start task is never
queued again (the loop over ``issues_awaiting_deliveries`` dropped), it is queued at once
(``START_GRACE`` ignored, ``<`` → ``<=`` / ``>``), or queued again for a send whose rows
exist (``deliveries_created_at IS NULL`` dropped).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from mailer.issues.models import Issue
from mailer.sending import ledger
from mailer.sending.models import Delivery
from tests.harness import factories

# Domain code only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

REQUESTED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _starts(queued_tasks, issue_id: int) -> int:
    return queued_tasks.count(("mailer.start_send", (issue_id,)))


def test_a_lost_start_task_is_queued_again_after_the_grace(session, rt, queued_tasks):
    factories.subscription(session, "leser@example.no")
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    session.execute(update(Issue).where(Issue.id == issue.id).values(send_requested_at=REQUESTED))
    session.commit()
    assert _starts(queued_tasks, issue.id) == 1
    # The broker lost that message: no worker ever ran it.

    assert ledger.reconcile(session, REQUESTED + ledger.START_GRACE) == [issue.id]
    session.commit()
    assert _starts(queued_tasks, issue.id) == 1  # within the grace: it may still come

    ledger.reconcile(session, REQUESTED + ledger.START_GRACE + timedelta(seconds=1))
    session.commit()
    assert _starts(queued_tasks, issue.id) == 2

    # The restarted task writes the rows: from then on the reconciler leaves it be.
    ledger.create_deliveries(session, issue.id)
    session.commit()
    assert ledger.reconcile(session, REQUESTED + timedelta(hours=1)) == [issue.id]
    session.commit()
    assert _starts(queued_tasks, issue.id) == 2
    assert session.scalars(select(Delivery.status)).all() == ["queued"]


def test_the_grace_is_one_minute():
    assert ledger.START_GRACE == timedelta(minutes=1)


def test_only_sending_issues_are_restarted(session, rt, queued_tasks):
    """A paused send whose start task was lost waits for its resume."""
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    session.execute(update(Issue).where(Issue.id == issue.id).values(send_requested_at=REQUESTED))
    assert ledger.pause(session, issue.id)
    session.commit()

    assert ledger.reconcile(session, REQUESTED + timedelta(hours=1)) == []
    session.commit()
    assert _starts(queued_tasks, issue.id) == 1


def _bare_issue(session, newsletter_id: int) -> Issue:
    row = Issue(
        newsletter_id=newsletter_id,
        subject="Et annet nummer",
        period_start=REQUESTED,
        period_end=REQUESTED,
    )
    session.add(row)
    session.flush()
    return row


def test_resend_in_doubt_requeues_only_this_issues_doubtful_rows(session, rt, queued_tasks):
    """Survivors of the first `make mutate` (mailer/sending/ledger.py ``resend_in_doubt``):
    the row's broker, backoff and claim marks not cleared; other issues' or other states'
    rows taken too; the sent issue not reopened (or ``sent_at`` kept); the event or the
    dispatch task without the issue or the count."""
    from datetime import UTC, datetime

    from mailer.events import Event
    from mailer.sending.models import Delivery

    a = factories.subscription(session, "a@example.no")
    b = factories.subscription(session, "b@example.no")
    issue = factories.drafted_issue(session)
    other = _bare_issue(session, issue.newsletter_id)
    for row_issue, sub, status in (
        (issue.id, a.id, "in-doubt"),
        (issue.id, b.id, "sent"),
        (other.id, a.id, "in-doubt"),
    ):
        session.add(
            Delivery(
                issue_id=row_issue,
                subscription_id=sub,
                status=status,
                attempts=1,
                enqueued_at=REQUESTED,
                next_attempt_at=REQUESTED,
                claimed_at=REQUESTED,
            )
        )
    session.execute(
        update(Issue)
        .where(Issue.id.in_([issue.id, other.id]))
        .values(status="sent", sent_at=datetime(2026, 11, 2, tzinfo=UTC))
    )
    session.commit()

    assert ledger.resend_in_doubt(session, issue.id) == 1
    session.commit()

    session.expire_all()
    rows = {(d.issue_id, d.subscription_id): d for d in session.scalars(select(Delivery)).all()}
    again = rows[(issue.id, a.id)]
    assert again.status == "queued"
    assert (again.enqueued_at, again.next_attempt_at, again.claimed_at) == (None, None, None)
    assert rows[(issue.id, b.id)].status == "sent"
    assert rows[(other.id, a.id)].status == "in-doubt"
    reopened, untouched = session.get(Issue, issue.id), session.get(Issue, other.id)
    assert (reopened.status, reopened.sent_at) == ("sending", None)
    assert untouched.status == "sent" and untouched.sent_at is not None
    [event] = session.scalars(select(Event).where(Event.kind == "issue.resend_in_doubt")).all()
    assert (event.issue_id, event.data) == (issue.id, {"rows": 1})
    assert [t for t in queued_tasks if t[0] == "mailer.dispatch"] == [
        ("mailer.dispatch", (issue.id,))
    ]
    # Once sent again, a second resend finds nothing in doubt: the issue stays sent.
    session.execute(update(Issue).where(Issue.id == issue.id).values(status="sent"))
    session.commit()
    assert ledger.resend_in_doubt(session, issue.id) == 0
    session.commit()
    session.expire_all()
    assert session.get(Issue, issue.id).status == "sent"
    assert len([t for t in queued_tasks if t[0] == "mailer.dispatch"]) == 1
    # A draft has nothing to resend, and the refusal names it.
    draft = _bare_issue(session, issue.newsletter_id)
    with pytest.raises(ledger.TransitionRefused, match=f"issue {draft.id} is draft"):
        ledger.resend_in_doubt(session, draft.id)


def test_resume_takes_only_a_paused_issue_and_clears_only_its_backoffs(session, rt, queued_tasks):
    """Survivors of the first `make mutate` (``ledger.resume``): the ``only_from=(PAUSED,)``
    guard, the issue filter on the rows, and the dispatch task's name and issue."""
    from mailer.sending.models import Delivery

    reader = factories.subscription(session, "a@example.no")
    issue = factories.drafted_issue(session)
    other = _bare_issue(session, issue.newsletter_id)
    for row_issue in (issue.id, other.id):
        session.add(
            Delivery(
                issue_id=row_issue,
                subscription_id=reader.id,
                status="queued",
                next_attempt_at=REQUESTED,
            )
        )
    session.execute(update(Issue).where(Issue.id == issue.id).values(status="paused"))
    session.commit()

    # A draft is not paused: resume must not start its send (only `send` does).
    assert not ledger.resume(session, other.id)
    assert ledger.resume(session, issue.id)
    session.commit()

    session.expire_all()
    backoff = dict(session.execute(select(Delivery.issue_id, Delivery.next_attempt_at)).all())
    assert backoff[issue.id] is None
    assert backoff[other.id] is not None
    assert session.get(Issue, issue.id).status == "sending"
    assert session.get(Issue, other.id).status == "draft"
    assert [t for t in queued_tasks if t[0] == "mailer.dispatch"] == [
        ("mailer.dispatch", (issue.id,))
    ]


def test_only_rows_left_claimed_past_the_lease_before_runs_are_put_in_doubt(session, rt):
    """Mutants of ``ledger.mark_stale_claims_in_doubt`` (survivors of the first `make
    mutate`): the status, ``run_id IS NULL`` or lease condition dropped, ``<`` → ``<=``,
    ``- CLAIM_LEASE`` → ``+``, the reason not written (or another). Only a row a worker
    claimed before send runs existed, and left for longer than the lease, may have gone
    out unrecorded: any other row is someone else's to judge (a live claim, a run with a
    journal, a row not claimed at all)."""
    now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    lease = ledger.CLAIM_LEASE
    issue = factories.drafted_issue(session)
    cases = {
        "stale": ("sending", None, now - lease - timedelta(seconds=1)),
        "at-the-lease": ("sending", None, now - lease),
        "fresh": ("sending", None, now - timedelta(minutes=1)),
        "of-a-run": ("sending", "run-1", now - lease - timedelta(hours=1)),
        "queued": ("queued", None, now - lease - timedelta(hours=1)),
    }
    ids = {}
    for name, (status, run_id, claimed_at) in cases.items():
        reader = factories.subscription(session, f"{name}@example.no")
        row = Delivery(
            issue_id=issue.id,
            subscription_id=reader.id,
            status=status,
            run_id=run_id,
            claimed_at=claimed_at,
        )
        session.add(row)
        session.flush()
        ids[name] = row.id

    assert ledger.mark_stale_claims_in_doubt(session, now) == 1
    session.expire_all()
    rows = {name: session.get(Delivery, ids[name]) for name in cases}
    assert {name: row.status for name, row in rows.items()} == {
        "stale": "in-doubt",
        "at-the-lease": "sending",
        "fresh": "sending",
        "of-a-run": "sending",
        "queued": "queued",
    }
    assert rows["stale"].last_error == "worker stopped during the SMTP transaction"
    assert {row.last_error for name, row in rows.items() if name != "stale"} == {None}


def test_the_reconciler_closes_a_send_whose_rows_are_all_done(session, rt, queued_tasks):
    """Mutant of ``ledger.reconcile`` (a survivor of the first `make mutate`):
    ``finish_if_done(session, issue_id)`` → ``finish_if_done(session, None)``. A worker that
    recorded the last result and stopped before closing the issue leaves it "sending"; the
    reconciler is what closes it."""
    factories.subscription(session, "leser@example.no")
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.execute(update(Delivery).where(Delivery.issue_id == issue.id).values(status="sent"))
    session.commit()

    assert ledger.reconcile(session, datetime.now(UTC)) == [issue.id]
    session.commit()
    session.expire_all()
    assert session.get(Issue, issue.id).status == "sent"
    assert session.get(Issue, issue.id).sent_at is not None


def test_only_sent_issues_with_rows_back_in_the_queue_are_reopened(session, rt):
    """Mutants of ``ledger.reopen_for_returned_rows`` (survivors of `make mutate`): the
    queued-row test not tied to the issue or to "queued", the issue given not honoured (or
    inverted), ``sent_at`` kept, the update not tied to the row found, the event or the
    returned ids changed. Readers whose rows came back must get the mail; an issue whose
    rows are all done stays closed."""
    from mailer.events import Event

    reader = factories.subscription(session, "leser@example.no")
    newsletter_id = factories.drafted_issue(session).newsletter_id

    def issue_with(issue_status: str, row_status: str) -> Issue:
        row = _bare_issue(session, newsletter_id)
        row.status = issue_status
        row.sent_at = REQUESTED if issue_status == "sent" else None
        session.add(Delivery(issue_id=row.id, subscription_id=reader.id, status=row_status))
        session.flush()
        return row

    returned = issue_with("sent", "queued")
    also_returned = issue_with("sent", "queued")
    finished = issue_with("sent", "sent")
    still_sending = issue_with("sending", "queued")
    session.commit()

    assert ledger.reopen_for_returned_rows(session, returned.id) == [returned.id]
    session.commit()
    session.expire_all()
    assert (returned.status, returned.sent_at) == ("sending", None)
    assert also_returned.status == "sent"
    [event] = session.scalars(select(Event).where(Event.kind == "issue.reopened")).all()
    assert (event.issue_id, event.data) == (returned.id, {"why": "rows returned"})

    assert ledger.reopen_for_returned_rows(session) == [also_returned.id]
    session.commit()
    session.expire_all()
    assert also_returned.status == "sending"
    assert (finished.status, finished.sent_at) == ("sent", REQUESTED)
    assert still_sending.status == "sending"
    assert ledger.reopen_for_returned_rows(session) == []
