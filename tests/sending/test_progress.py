"""Send progress: the rate over the last minute and the ETA, read with a controllable clock
(issue 14). Rows are written as the ledger would leave them; nothing is timed.

Mutants this pins (each applied by hand and seen to fail): the window is not 60 s, its edge
is open (``>=`` → ``>``), it is not cut to the time since the send began (``min`` ↔ ``max``,
the 1 s floor dropped), the ETA divides the wrong way or counts final rows as remaining.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from mailer.issues.models import Issue
from mailer.sending import ledger
from mailer.sending.models import Delivery
from mailer.sending.progress import RATE_WINDOW, progress
from tests.harness import factories

# Domain code only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _send_of(session, rows: int, started: datetime) -> tuple[int, list[int]]:
    for i in range(rows):
        factories.subscription(session, f"leser{i:02d}@example.no")
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.execute(update(Issue).where(Issue.id == issue.id).values(send_requested_at=started))
    session.commit()
    return issue.id, ledger.queued_page(session, issue.id, 0, 1000, NOW)


def _sent(session, ids: list[int], ago: timedelta) -> None:
    session.execute(
        update(Delivery).where(Delivery.id.in_(ids)).values(status="sent", sent_at=NOW - ago)
    )
    session.commit()


def test_the_window_is_one_minute():
    assert RATE_WINDOW == timedelta(seconds=60)


def test_rate_over_the_last_minute_and_the_eta(session, rt):
    issue_id, ids = _send_of(session, 12, started=NOW - timedelta(minutes=10))
    _sent(session, ids[:2], timedelta(seconds=61))  # sent, but before the window
    _sent(session, ids[2:5], timedelta(seconds=60))  # on its edge: counted
    _sent(session, ids[5:6], timedelta(seconds=1))
    session.execute(update(Delivery).where(Delivery.id == ids[6]).values(status="failed"))
    session.commit()

    p = progress(session, issue_id, now=NOW)

    assert (p.total, p.done) == (12, 7)
    assert p.rate == 4 / 60
    assert p.eta_seconds == pytest.approx(5 / (4 / 60))  # 5 rows left at 4 a minute: 75 s
    shown = p.as_dict()
    assert (shown["rate_per_second"], shown["eta_seconds"], shown["done"]) == (0.07, 75.0, 7)


def test_a_send_begun_seconds_ago_is_measured_over_those_seconds(session, rt):
    issue_id, ids = _send_of(session, 10, started=NOW - timedelta(seconds=20))
    _sent(session, ids[:5], timedelta(seconds=2))

    p = progress(session, issue_id, now=NOW)

    assert p.rate == 5 / 20  # not 5 / 60: the send has run for 20 s
    assert p.eta_seconds == 20.0


def test_the_window_is_never_under_a_second(session, rt):
    issue_id, ids = _send_of(session, 4, started=NOW - timedelta(milliseconds=200))
    _sent(session, ids[:2], timedelta(milliseconds=100))

    p = progress(session, issue_id, now=NOW)

    assert p.rate == 2.0
    assert p.eta_seconds == 1.0


def test_no_eta_without_a_rate_and_zero_when_done(session, rt):
    issue_id, ids = _send_of(session, 3, started=NOW - timedelta(hours=1))
    waiting = progress(session, issue_id, now=NOW)
    assert (waiting.rate, waiting.eta_seconds, waiting.as_dict()["eta_seconds"]) == (0, None, None)

    _sent(session, ids, timedelta(minutes=30))  # all sent, long ago: no recent rate
    done = progress(session, issue_id, now=NOW)
    assert (done.rate, done.done, done.eta_seconds) == (0, 3, 0.0)
