"""An import's confirmation mails go out a chunk of readers per task (issue 12 item 15:
3,000 rows take seconds), and a chunk run twice mails no reader twice.

Mutants this pins (each applied by hand and seen to fail): ``import_csv`` queuing one task
per reader again (``mail_confirmation=not already_consented``); ``_already_mailed``
returning nothing (the retried chunk mails its first reader again); the guard ignoring the
request's stamp (a reader who asked for a new link after the old one expired gets none).
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from mailer import queue
from mailer.events import Event
from mailer.mail.smtp import TemporarySMTPError
from mailer.subscribers import confirmation
from mailer.subscribers.confirmation import send_confirmation_mail, send_confirmation_mails
from mailer.subscribers.csv_files import import_csv
from mailer.subscribers.models import Subscription
from mailer.subscribers.subscriptions import request_new_confirmation
from tests.harness import factories
from tests.harness.processes import wait_until

TOPICS = ("Innovasjon", "Klima", "Forskning")
TASK = "mailer.send_confirmations"


def _csv(addresses: list[str]) -> str:
    return "email,name,language\n" + "".join(
        f"{address},Åse {i},{'en' if i % 2 else 'nb'}\n" for i, address in enumerate(addresses)
    )


def _events_sent(session) -> int:  # type: ignore[no-untyped-def]
    session.rollback()  # a fresh snapshot: what the worker has committed by now
    return int(
        session.scalar(
            select(func.count()).select_from(Event).where(Event.kind == confirmation.SENT)
        )
        or 0
    )


def _import(session, addresses: list[str]):  # type: ignore[no-untyped-def]
    report = import_csv(session, _csv(addresses), TOPICS, False, "import:lesere.csv")
    session.commit()
    return report


@pytest.mark.rolled_back
@pytest.mark.parametrize("rows", [1, confirmation.CHUNK, 2 * confirmation.CHUNK + 1])
def test_an_import_queues_one_task_per_chunk_of_readers(session, queued_tasks, rows):
    report = _import(session, [f"leser{i}@example.no" for i in range(rows)])

    chunks = [args[0] for name, args in queued_tasks if name == TASK]
    assert [name for name, _ in queued_tasks] == [TASK] * math.ceil(rows / confirmation.CHUNK)
    assert all(len(chunk) <= confirmation.CHUNK for chunk in chunks)
    assert [sid for chunk in chunks for sid in chunk] == report.to_confirm
    assert len(report.to_confirm) == rows


@pytest.mark.rolled_back
def test_a_chunk_retried_after_a_temporary_error_mails_no_reader_twice(session, rt, smtp_sink):
    addresses = ["en@example.no", "to@example.no", "tre@example.no"]
    report = _import(session, addresses)
    smtp_sink.handler.reject["to@example.no"] = "451 4.3.0 Try again later"

    with pytest.raises(TemporarySMTPError):
        send_confirmation_mails(session, rt.settings, rt.tokens, report.to_confirm)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["en@example.no"]]

    smtp_sink.handler.reject.clear()
    # The task's retry: the same ids again.
    assert send_confirmation_mails(session, rt.settings, rt.tokens, report.to_confirm) == 2
    assert send_confirmation_mails(session, rt.settings, rt.tokens, report.to_confirm) == 0
    assert send_confirmation_mail(session, rt.settings, rt.tokens, report.to_confirm[0]) is False
    for address in addresses:
        assert len(smtp_sink.to(address)) == 1, address


@pytest.mark.rolled_back
def test_a_refused_reader_leaves_the_rest_of_the_chunk_mailed(session, rt, smtp_sink):
    report = _import(session, ["borte@example.no", "her@example.no"])
    smtp_sink.handler.reject["borte@example.no"] = "550 5.1.1 No such user"

    assert send_confirmation_mails(session, rt.settings, rt.tokens, report.to_confirm) == 1
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["her@example.no"]]


@pytest.mark.rolled_back
def test_a_new_link_asked_for_after_the_old_expired_is_mailed(session, rt, smtp_sink):
    [subscription_id] = _import(session, ["sein@example.no"]).to_confirm
    assert send_confirmation_mails(session, rt.settings, rt.tokens, [subscription_id]) == 1
    # Two hours on, the reader asks for a new link: a new request, so a new mail.
    row = session.get(Subscription, subscription_id)
    assert row is not None and row.confirmation_sent_at is not None
    session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id)
        .values(confirmation_sent_at=row.confirmation_sent_at - timedelta(hours=2))
    )
    session.expire_all()
    assert request_new_confirmation(session, subscription_id)
    session.commit()

    assert send_confirmation_mail(session, rt.settings, rt.tokens, subscription_id)
    assert len(smtp_sink.to("sein@example.no")) == 2


@pytest.mark.committed
def test_every_imported_reader_gets_exactly_one_mail_through_the_worker(
    app, session, celery_worker, smtp_sink, monkeypatch
):
    """A real worker runs the chunks; then the broker delivers the first chunk a second
    time, with a reader who still waits for a mail at its end (that mail arriving says the
    worker got through the chunk): no one gets a copy."""
    monkeypatch.setattr(confirmation, "CHUNK", 3)
    sent: list[tuple[str, tuple[object, ...]]] = []
    real = queue.set_sender(None)
    assert real is not None
    forward = real

    def record_and_send(name: str, args: tuple[object, ...]) -> None:
        sent.append((name, args))
        forward(name, args)

    queue.set_sender(record_and_send)
    try:
        addresses = [f"leser{i}@example.no" for i in range(7)]
        report = _import(session, addresses)
        smtp_sink.wait_for(7)
        # The worker commits each reader's event after the mail: done when all are in.
        wait_until(lambda: _events_sent(session) == 7, "the chunks' events")
    finally:
        queue.set_sender(real)
    chunks = [args[0] for name, args in sent if name == TASK]
    assert [name for name, _ in sent] == [TASK] * math.ceil(7 / 3)
    assert sorted(sid for chunk in chunks for sid in chunk) == sorted(report.to_confirm)

    barrier = factories.subscription(session, "sist@example.no", status="pending")
    session.commit()
    app.extensions["celery"].send_task(TASK, args=[[*chunks[0], barrier.id]])
    smtp_sink.wait_for(8)
    wait_until(lambda: _events_sent(session) == 8, "the repeated chunk's event")

    for address in addresses:
        assert len(smtp_sink.to(address)) == 1, address
    assert len(smtp_sink.messages) == 8
