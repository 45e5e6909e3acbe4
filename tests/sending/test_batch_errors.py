"""SMTP errors by class, as a batch reports them for the metrics, and the counters the
send task adds them to."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import REGISTRY

from mailer.sending import batch as sending
from mailer.sending import tasks
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
