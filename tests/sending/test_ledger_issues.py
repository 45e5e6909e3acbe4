"""Two issues sending at once: each one's rows, end and audit trail are its own; and an
editor's cancel holds even when the last mail of the issue was already out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailer.events import Event
from mailer.issues.drafting import draft_issue
from mailer.issues.models import Issue
from mailer.sending import batch as sending
from mailer.sending import ledger
from tests.harness import factories
from tests.sending.test_batch import _start

pytestmark = pytest.mark.rolled_back


def _status(session, issue_id: int) -> str:
    session.expire_all()
    return str(session.scalar(select(Issue.status).where(Issue.id == issue_id)))


def _sent_events(session) -> list[int | None]:
    return list(session.scalars(select(Event.issue_id).where(Event.kind == "issue.sent")))


def test_two_issues_sending_at_once_keep_their_rows_and_end_each_on_its_own(session, rt, smtp_sink):
    """Mutants of ``ledger.finish_if_done`` and ``ledger.queued_page`` (survivors of `make
    mutate`): ``Issue.id == issue_id`` dropped (one issue's end closed every sending issue
    with rows still queued), ``Delivery.issue_id == issue_id`` dropped from the open rows
    (another issue's queued rows kept this one from ever ending) or from the page (one
    issue's dispatch handed out the other's rows), the ``issue.sent`` event's kind or
    issue, ``stale_only`` defaulting to True (rows just handed to the broker were no longer
    "queued and due" for dispatch)."""
    for i in range(2):
        factories.subscription(session, f"leser{i}@example.no")
    first = factories.drafted_issue(session)
    first_ids = _start(session, first.id)
    factories.article(session, "neste-sak", "Neste sak", days_ago=0)
    second = draft_issue(session)
    session.commit()
    second_ids = _start(session, second.id)
    ledger.mark_enqueued(session, first_ids + second_ids)
    session.commit()
    now = datetime.now(UTC)

    assert ledger.queued_page(session, first.id, 0, 100, now) == first_ids
    assert ledger.queued_page(session, second.id, 0, 100, now) == second_ids
    assert ledger.queued_page(session, first.id, 0, 100, now, stale_only=True) == []

    assert sending.send_batch(session, rt.settings, rt.tokens, second.id, second_ids).sent == 2

    assert (_status(session, first.id), _status(session, second.id)) == ("sending", "sent")
    assert _sent_events(session) == [second.id]
    assert sending.send_batch(session, rt.settings, rt.tokens, first.id, first_ids).sent == 2
    assert _status(session, first.id) == "sent"
    assert sorted(_sent_events(session)) == sorted([first.id, second.id])


def test_an_issue_cancelled_while_its_last_mail_goes_out_stays_cancelled(session, rt, smtp_sink):
    """Mutant of ``ledger.finish_if_done`` (a survivor of `make mutate`): ``Issue.status ==
    SENDING`` dropped: an issue the editor cancelled while its last mail was going out was
    then shown as sent."""
    factories.subscription(session, "leser@example.no")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    class CancelMeanwhile:
        def acquire(self) -> None:
            with rt.db.session() as other:
                assert ledger.cancel(other, issue.id)
                other.commit()

    result = sending.send_batch(
        session, rt.settings, rt.tokens, issue.id, ids, limiter=CancelMeanwhile()
    )

    assert result.sent == 1  # claimed before the cancel: it goes out
    assert _status(session, issue.id) == "cancelled"
    assert _sent_events(session) == []
