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
