"""What a batch reports: its mails by outcome and its SMTP errors by class (for the
metrics and the task's log line), the counters the send task adds them to, and the
failures in a row that pause a send."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from mailer.sending import batch as sending
from mailer.sending import ledger, tasks
from mailer.sending.models import Delivery
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.subscriptions import unsubscribe
from tests.harness import factories
from tests.sending.test_batch import _start

pytestmark = pytest.mark.rolled_back


def test_a_batch_reports_smtp_errors_by_class(session, rt, smtp_sink):
    factories.subscription(session, "finnes.ikke@example.no")
    factories.subscription(session, "full@example.no")
    factories.subscription(session, "ok@example.no")
    smtp_sink.handler.reject["finnes.ikke@example.no"] = "550 5.1.1 Mailbox does not exist"
    smtp_sink.handler.reject["full@example.no"] = "452 4.2.2 Mailbox full, try later"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert (result.sent, result.failed, result.requeued) == (1, 1, 1)
    assert result.smtp_errors == Counter({"permanent": 1, "temporary": 1})


def test_a_policy_refusal_is_its_own_class(session, rt, smtp_sink):
    factories.subscription(session, "sperret@example.no")
    smtp_sink.handler.reject["sperret@example.no"] = "550 5.7.1 Relaying denied"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert result.smtp_errors == Counter({"policy": 1})


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_send_task_adds_a_batch_to_the_counters() -> None:
    before = {
        "sent": _sample("mailer_mails_total", outcome="sent"),
        "in_doubt": _sample("mailer_mails_total", outcome="in_doubt"),
        "policy": _sample("mailer_smtp_errors_total", **{"class": "policy"}),
    }
    result = sending.BatchResult(sent=5, in_doubt=2, smtp_errors=Counter({"policy": 1}))

    tasks._count(result)

    assert _sample("mailer_mails_total", outcome="sent") == before["sent"] + 5
    assert _sample("mailer_mails_total", outcome="in_doubt") == before["in_doubt"] + 2
    assert _sample("mailer_smtp_errors_total", **{"class": "policy"}) == before["policy"] + 1


def test_every_outcome_is_counted_and_a_success_ends_a_run_of_failures(
    session, rt, smtp_sink, monkeypatch
):
    """Mutants of ``send_batch``'s counting (survivors of `make mutate`): ``+=`` → ``=``
    for the ``permanent`` and ``temporary`` error classes, ``requeued`` and ``failed``
    (each counted once when there are two), and ``failures_in_row = 0`` after a sent
    mail → ``1`` / None (two failures, a success, two failures would pause at three)."""
    monkeypatch.setattr(sending, "MAX_CONSECUTIVE_FAILURES", 3)
    fates = ["550 5.1.1 No such user", "452 4.2.2 Mailbox full", None] * 2
    for i, fate in enumerate(fates):
        factories.subscription(session, f"leser{i}@example.no")
        if fate:
            smtp_sink.handler.reject[f"leser{i}@example.no"] = fate
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert (result.sent, result.failed, result.requeued, result.paused) == (2, 2, 2, None)
    assert result.smtp_errors == Counter({"permanent": 2, "temporary": 2})


def test_temporary_failures_in_a_row_pause_the_send_too(session, rt, smtp_sink, monkeypatch):
    """Mutants of ``send_batch``'s 4xx branch (survivors of `make mutate`):
    ``failures_in_row += 1`` → ``= 1`` / ``-= 1`` (a server that defers every mail never
    pauses the send), ``smtp_errors[…] += 1`` → ``= 1``, ``requeued`` ``+=`` → ``=``,
    the pause reason naming another failure than the last (``outcomes[-1]`` → ``[+1]`` /
    ``[-2]``)."""
    monkeypatch.setattr(sending, "MAX_CONSECUTIVE_FAILURES", 3)
    for i in range(4):
        factories.subscription(session, f"leser{i}@example.no")
        smtp_sink.handler.reject[f"leser{i}@example.no"] = f"451 4.3.0 Try again later ({i})"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert result.paused == "3 failures in a row, the last: 451 4.3.0 Try again later (2)"
    assert (result.requeued, result.failed) == (3, 0)
    assert result.smtp_errors == Counter({"temporary": 3})
    session.expire_all()
    assert session.scalars(select(Delivery.attempts).order_by(Delivery.id)).all() == [1, 1, 1, 1]


def test_readers_who_left_are_counted_in_every_group(session, rt, smtp_sink, monkeypatch):
    """Mutant of ``send_batch`` (a survivor of `make mutate`): ``result.skipped +=
    claim.skipped`` → ``=`` (each group's claim overwrote the count of the ones before)."""
    monkeypatch.setattr(sending, "COMMIT_GROUP", 2)
    readers = [factories.subscription(session, f"leser{i}@example.no") for i in range(4)]
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    for left in (readers[0], readers[2]):
        unsubscribe(session, left.id, RequestContext(channel="one-click"))
    session.commit()

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert (result.sent, result.skipped) == (2, 2)


def test_a_batch_for_an_issue_that_is_gone_names_it(session, rt):
    """Mutant of ``send_batch`` (a survivor of `make mutate`): ``IssueNotFound(None)``,
    the task's error naming no issue (an issue deleted while its batches were queued)."""
    with pytest.raises(ledger.IssueNotFound, match="no issue with id 987654"):
        sending.send_batch(session, rt.settings, rt.tokens, 987654, [1, 2])
