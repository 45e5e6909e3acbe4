"""Dispatch hands the queued rows to the broker a page at a time, each page marked before it
goes (mailer/sending/dispatch.py). In a send it runs in a worker; here it runs in this
process, so that `make mutate` reaches it (tests/MUTATION.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailer.sending import dispatch, ledger
from mailer.sending.models import Delivery
from tests.harness import factories

# Domain code only: each test is rolled back (dispatch's own sessions join it).
pytestmark = pytest.mark.rolled_back


def test_every_queued_row_goes_once_in_pages_each_marked_first(session, rt, queued_tasks):
    """Mutants of ``dispatch.queue_issue``: the keyset (``after = ids[-1]``) or the count
    changed, the page not marked, the task's name, issue or ids changed, ``stale_only`` or
    ``page_size`` not passed on."""
    for n in range(5):
        factories.subscription(session, f"leser{n}@example.no")
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.commit()
    ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
    now = datetime.now(UTC)

    assert dispatch.queue_issue(rt.db, issue.id, now, page_size=2, stale_only=True) == 5
    pages = [args for name, args in queued_tasks if name == "mailer.send_batch"]
    assert pages == [(issue.id, ids[0:2]), (issue.id, ids[2:4]), (issue.id, ids[4:5])]
    session.expire_all()
    assert None not in session.scalars(select(Delivery.enqueued_at)).all()

    # Marked: a broker message carries each row now, so the reconciler's pass (stale only)
    # hands over none; a dispatch of the whole queue hands them all over again.
    queued_tasks.clear()
    assert dispatch.queue_issue(rt.db, issue.id, now, page_size=2, stale_only=True) == 0
    assert queued_tasks == []
    assert dispatch.queue_issue(rt.db, issue.id, now, page_size=10) == 5
    assert queued_tasks == [("mailer.send_batch", (issue.id, ids))]
