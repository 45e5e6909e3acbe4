"""Where a batch stops, and when the rows it did not try come back: after a policy refusal
(the issue pauses), after 421 or a lost connection (the server is down), and after this
worker lost its lease (another process has the rows). Each test sends in this process
with a clock the test holds, so every row's ``next_attempt_at`` is known exactly."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select, update

from mailer import queue
from mailer.events import Event
from mailer.issues.models import Issue
from mailer.sending import batch as sending
from mailer.sending import ledger
from mailer.sending.models import Delivery, SendRun
from mailer.sending.runs import lease_of
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.models import Subscription
from mailer.subscribers.subscriptions import unsubscribe
from tests.harness import factories
from tests.sending.test_batch import _start

pytestmark = pytest.mark.rolled_back


def _rows(session, ids: list[int]) -> list[tuple[str, str | None, datetime | None, bool]]:
    """Each row, in id order: status, last error, next attempt, still marked enqueued."""
    session.expire_all()
    rows = session.execute(
        select(Delivery.status, Delivery.last_error, Delivery.next_attempt_at, Delivery.enqueued_at)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    ).all()
    return [(s, e, n and n.astimezone(UTC), q is not None) for s, e, n, q in rows]


def _readers(session, count: int) -> tuple[int, list[int]]:
    for i in range(count):
        factories.subscription(session, f"leser{i}@example.no")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    ledger.mark_enqueued(session, ids)  # as dispatch does when it hands them to the broker
    session.commit()
    return issue.id, ids


def test_rows_after_a_policy_refusal_wait_a_minute_and_the_later_groups_stay_as_they_are(
    session, rt, smtp_sink, monkeypatch
):
    """Mutants of ``send_batch``'s stop path (survivors of `make mutate`): the untried
    rows' ``next_attempt_at`` (``now + BACKOFF_BASE`` → ``now - BACKOFF_BASE`` or None),
    their reason (``stop``), the refused row's own reason and backoff, ``continue`` →
    ``break`` after the refusal (the rest of the group left claimed), ``requeued += 1`` →
    ``= 1``, ``if not result.paused`` → ``if result.paused`` (the later groups' rows
    released as if the server were down), the ``issue.auto_paused`` event's kind, issue
    and reason. Groups of three: a 4xx, the policy refusal, one untried row; then a group
    never claimed."""
    monkeypatch.setattr(sending, "COMMIT_GROUP", 3)
    issue_id, ids = _readers(session, 5)
    smtp_sink.handler.reject["leser0@example.no"] = "452 4.2.2 Mailbox full"
    smtp_sink.handler.reject["leser1@example.no"] = "550 5.7.1 Sender blocked by policy"
    now = datetime.now(UTC).replace(microsecond=0)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue_id, ids, clock=lambda: now)

    stop = "the SMTP server refused the send by policy: 550 5.7.1 Sender blocked by policy"
    assert (result.paused, result.requeued, result.sent) == (stop, 2, 0)
    rows = _rows(session, ids)
    assert rows[0][:2] == ("queued", "452 4.2.2 Mailbox full")
    assert rows[1:] == [
        ("queued", "550 5.7.1 Sender blocked by policy", None, False),
        ("queued", stop, now + sending.BACKOFF_BASE, False),
        # Never claimed: still with the broker message that carries them.
        ("queued", None, None, True),
        ("queued", None, None, True),
    ]
    assert smtp_sink.messages == []
    events = session.execute(
        select(Event.issue_id, Event.data).where(Event.kind == "issue.auto_paused")
    ).all()
    assert events == [(issue_id, {"reason": stop})]


def test_a_421_stops_the_batch_and_every_untried_row_waits_a_minute(
    session, rt, smtp_sink, monkeypatch
):
    """Mutants of ``send_batch``'s stop path and ``_release_rest`` (survivors of `make
    mutate`): ``exc.code in (None, 421)`` changed (the batch goes on sending to a server
    that closed), the error's class ("unavailable"), the untried row of the group and the
    rows of the later groups (``next_attempt_at`` now + 1 min, not before, not None; no
    longer marked enqueued), ``delivery_ids.index(…) + 1`` → ``+ 2`` (a row left out),
    ``clock() + pause`` → ``-``, ``timedelta(0) if lease_lost else BACKOFF_BASE`` swapped,
    ``break`` → ``continue`` (the next group claimed and sent)."""
    monkeypatch.setattr(sending, "COMMIT_GROUP", 2)
    issue_id, ids = _readers(session, 5)
    smtp_sink.handler.reject["leser0@example.no"] = "421 4.3.2 Service shutting down"
    now = datetime.now(UTC).replace(microsecond=0)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue_id, ids, clock=lambda: now)

    assert (result.requeued, result.sent, result.paused) == (1, 0, None)
    assert result.smtp_errors == Counter({"unavailable": 1})
    stop = "SMTP server unavailable: 421 4.3.2 Service shutting down"
    rows = _rows(session, ids)
    # The refused row backs off by its own jittered delay (half a minute to just under
    # one), not the minute the rows after it wait (``index(…) + 1`` → ``- 1``).
    status, error, retry, enqueued = rows[0]
    assert (status, error, enqueued) == ("queued", "421 4.3.2 Service shutting down", False)
    assert (
        retry is not None and now + sending.BACKOFF_BASE / 2 <= retry < now + sending.BACKOFF_BASE
    )
    assert rows[1:] == [
        ("queued", stop, now + sending.BACKOFF_BASE, False),
        ("queued", None, now + sending.BACKOFF_BASE, False),
        ("queued", None, now + sending.BACKOFF_BASE, False),
        ("queued", None, now + sending.BACKOFF_BASE, False),
    ]
    assert smtp_sink.messages == []
    # Not due before the minute is over; then the reconciler finds every one of them.
    assert ledger.queued_page(session, issue_id, 0, 100, now, stale_only=True) == []
    later = now + sending.BACKOFF_BASE
    assert ledger.queued_page(session, issue_id, 0, 100, later, stale_only=True) == ids


def test_a_worker_that_lost_its_lease_hands_every_untried_row_back_at_once(
    session, rt, smtp_sink, monkeypatch, queued_tasks
):
    """Mutants of ``send_batch``'s lease check (survivors of `make mutate`):
    ``lease_lost = True`` → False / None (the rows wait a minute as if the server were
    down, and no dispatch is queued), the rows' reason, ``next_attempt_at=None if
    lease_lost`` swapped, ``timedelta(0)`` → ``timedelta(1)`` (the later groups' rows
    held back a day), ``continue`` → ``break``, the dispatch task's name or issue."""
    monkeypatch.setattr(sending, "COMMIT_GROUP", 3)
    issue_id, ids = _readers(session, 5)
    start = datetime.now(UTC).replace(microsecond=0)
    clock = [start]

    class GiveUpTheRunAtTheSecondMail:
        """After the first mail a reconciler elsewhere gives the run up (deletes its row),
        and the lease is due for renewal at the second."""

        def __init__(self) -> None:
            self.mails = 0

        def acquire(self) -> None:
            self.mails += 1
            if self.mails == 2:
                with rt.db.session() as other:
                    other.execute(delete(SendRun).where(SendRun.issue_id == issue_id))
                    other.commit()
                clock[0] = start + lease_of(rt.settings)

    result = sending.send_batch(
        session,
        rt.settings,
        rt.tokens,
        issue_id,
        ids,
        limiter=GiveUpTheRunAtTheSecondMail(),
        clock=lambda: clock[0],
    )

    assert (result.sent, result.requeued, result.paused) == (1, 0, None)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["leser0@example.no"]]
    lost = "this worker lost its lease; the reconciler has its rows"
    due = clock[0]
    rows = _rows(session, ids)
    assert rows[0][0] == "sent"
    # Recorded at the end of the group, by the batch's clock (the progress page's rate).
    assert session.scalar(select(Delivery.sent_at).where(Delivery.id == ids[0])) == due
    assert rows[1:] == [
        ("queued", lost, None, False),
        ("queued", lost, None, False),
        ("queued", None, due, False),
        ("queued", None, due, False),
    ]
    # The untried rows go to the broker at once.
    dispatched = queued_tasks + queue.pending(session)
    assert [t for t in dispatched if t[0] == "mailer.dispatch"] == [
        ("mailer.dispatch", (issue_id,))
    ]
    assert ledger.queued_page(session, issue_id, 0, 100, due, stale_only=True) == ids[1:]
    assert session.scalars(select(SendRun)).all() == []


def test_a_lost_lease_reopens_an_issue_closed_without_the_rows(session, rt, smtp_sink):
    """Mutant of ``send_batch`` (a survivor of `make mutate`): ``if lease_lost`` →
    ``if not lease_lost`` around ``ledger.reopen_for_returned_rows``. The only row of a
    one-reader issue is handed back, and the issue, closed meanwhile by a reconciler
    that called the run's rows in doubt, goes on sending."""
    issue_id, ids = _readers(session, 1)
    start = datetime.now(UTC).replace(microsecond=0)
    clock = [start]

    class CloseTheIssueMeanwhile:
        def acquire(self) -> None:
            with rt.db.session() as other:
                other.execute(delete(SendRun).where(SendRun.issue_id == issue_id))
                other.execute(update(Issue).where(Issue.id == issue_id).values(status="sent"))
                other.commit()
            clock[0] = start + lease_of(rt.settings)

    result = sending.send_batch(
        session,
        rt.settings,
        rt.tokens,
        issue_id,
        ids,
        limiter=CloseTheIssueMeanwhile(),
        clock=lambda: clock[0],
    )

    assert result.sent == 0 and smtp_sink.messages == []
    assert _rows(session, ids)[0][0] == "queued"
    assert session.get(Issue, issue_id).status == "sending"


def test_a_redelivered_batch_goes_past_a_group_already_sent(session, rt, smtp_sink, monkeypatch):
    """Mutants of ``claims.claim`` (survivors of `make mutate`): ``issue_sending`` not
    read (None, ``bool(None)``) or read for another issue (``Issue.id != issue_id``):
    a batch whose first group finds nothing to claim (sent by the worker that died before
    acking the batch's message) took the issue for stopped and left the rest unsent."""
    monkeypatch.setattr(sending, "COMMIT_GROUP", 2)
    issue_id, ids = _readers(session, 4)
    first = sending.send_batch(session, rt.settings, rt.tokens, issue_id, ids[:2])
    assert first.sent == 2

    again = sending.send_batch(session, rt.settings, rt.tokens, issue_id, ids)

    assert again.sent == 2
    recipients = sorted(r for m in smtp_sink.messages for r in m.rcpt_tos)
    assert recipients == [f"leser{i}@example.no" for i in range(4)]
    assert {row[0] for row in _rows(session, ids)} == {"sent"}


def test_a_reader_who_left_while_their_mail_was_refused_is_not_marked_bounced(
    session, rt, smtp_sink
):
    """Mutant of ``claims.record`` (a survivor of `make mutate`): the suppression's
    ``Subscription.status == ACTIVE`` dropped. A reader who unsubscribes while their
    mail is out and whose address is then refused (5.1.1) stays unsubscribed: the
    unsubscription is their own choice, and the bounce says nothing new."""
    issue_id, ids = _readers(session, 1)
    smtp_sink.handler.reject["leser0@example.no"] = "550 5.1.1 No such user"
    reader = session.scalar(select(Delivery.subscription_id).where(Delivery.id == ids[0]))

    class LeavesMeanwhile:
        def acquire(self) -> None:
            with rt.db.session() as other:
                unsubscribe(other, reader, RequestContext(channel="one-click"))
                other.commit()

    result = sending.send_batch(
        session, rt.settings, rt.tokens, issue_id, ids, limiter=LeavesMeanwhile()
    )

    assert result.failed == 1
    session.expire_all()
    assert session.get(Subscription, reader).status == "unsubscribed"
