"""The ledger against a real SMTP server: claims, skips, failures, in-doubt, no doubles."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from mailer.issues.drafting import draft_issue
from mailer.issues.models import Issue
from mailer.sending import batch as sending
from mailer.sending import ledger
from mailer.sending.models import Delivery
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.models import Subscription
from mailer.subscribers.subscriptions import unsubscribe
from tests.harness import factories
from tests.harness.processes import free_port

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back


def _start(session, issue_id: int) -> list[int]:
    assert ledger.request_send(session, issue_id)
    ledger.create_deliveries(session, issue_id)
    session.commit()
    return ledger.queued_page(session, issue_id, 0, 1000, datetime.now(UTC))


def _statuses(session, issue_id: int) -> dict[int, str]:
    session.expire_all()
    return {
        d.subscription_id: d.status
        for d in session.scalars(select(Delivery).where(Delivery.issue_id == issue_id))
    }


def test_sends_one_copy_each_and_finishes_the_issue(session, rt, smtp_sink):
    subs = [factories.subscription(session, f"leser{i}@example.no", f"Leser {i}") for i in range(3)]
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    assert len(ids) == 3

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert result.sent == 3
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == sorted(
        s.subscriber.email for s in subs
    )
    assert set(_statuses(session, issue.id).values()) == {"sent"}
    session.refresh(issue)
    assert issue.status == "sent" and issue.sent_at is not None
    message_ids = session.scalars(select(Delivery.message_id)).all()
    assert len(set(message_ids)) == 3 and all(message_ids)


def test_a_sent_row_is_never_sent_again(session, rt, smtp_sink):
    factories.subscription(session, "en@example.no")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)
    # The broker redelivers the same batch (a retry, or a worker that died before acking).
    again = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)
    assert again.sent == 0
    assert len(smtp_sink.messages) == 1


def test_unsubscribe_during_a_send_stops_that_copy(session, rt, smtp_sink):
    stays = factories.subscription(session, "blir@example.no")
    leaves = factories.subscription(session, "gar@example.no")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    unsubscribe(session, leaves.id, RequestContext(channel="one-click"))
    session.commit()

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert (result.sent, result.skipped) == (1, 1)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [[stays.subscriber.email]]
    assert _statuses(session, issue.id) == {stays.id: "sent", leaves.id: "skipped"}


def test_deliveries_only_for_active_subscriptions_and_created_once(session, rt):
    active = factories.subscription(session, "aktiv@example.no")
    factories.subscription(session, "venter@example.no", status="pending")
    factories.subscription(session, "borte@example.no", status="unsubscribed")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    ledger.create_deliveries(session, issue.id)  # a second call adds nothing
    session.commit()
    assert ledger.queued_page(session, issue.id, 0, 1000, datetime.now(UTC)) == ids
    assert list(_statuses(session, issue.id)) == [active.id]


def test_a_second_start_task_adds_only_the_missing_rows(session, rt):
    # Two start tasks racing (a redelivered one, the reconciler's): the second finds
    # the rows the first wrote and adds only readers who have none yet.
    first = factories.subscription(session, "forste@example.no")
    issue = factories.drafted_issue(session)
    [row] = _start(session, issue.id)
    session.execute(update(Delivery).where(Delivery.id == row).values(status="sent"))
    session.execute(update(Issue).where(Issue.id == issue.id).values(deliveries_created_at=None))
    later = factories.subscription(session, "senere@example.no")
    session.commit()

    ledger.create_deliveries(session, issue.id)
    session.commit()
    assert _statuses(session, issue.id) == {first.id: "sent", later.id: "queued"}


def test_permanent_failure_is_recorded_and_the_rest_go_out(session, rt, smtp_sink):
    factories.subscription(session, "finnes.ikke@example.no")
    ok = factories.subscription(session, "ok@example.no")
    smtp_sink.handler.reject["finnes.ikke@example.no"] = "550 5.1.1 Mailbox does not exist"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert (result.sent, result.failed) == (1, 1)
    failed = session.scalars(select(Delivery).where(Delivery.status == "failed")).one()
    assert failed.last_error.startswith("550")
    assert [m.rcpt_tos for m in smtp_sink.messages] == [[ok.subscriber.email]]
    session.refresh(issue)
    assert issue.status == "sent"  # every row is final
    # Survivors of `make mutate` (``claims.record``): ``sent_at`` stamped on every row
    # (``== SENT`` → ``or True``), and the suppression of the refused address not tied to
    # its reader (``Subscription.id.in_(suppress)`` dropped: every active reader bounced).
    assert failed.sent_at is None
    session.expire_all()
    refused = session.get(Subscription, failed.subscription_id)
    assert (refused.status, ok.status) == ("bounced", "active")


def test_temporary_failure_goes_back_to_the_queue(session, rt, smtp_sink):
    later = factories.subscription(session, "full@example.no")
    smtp_sink.handler.reject["full@example.no"] = "452 4.2.2 Mailbox full, try later"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert result.requeued == 1
    assert _statuses(session, issue.id) == {later.id: "queued"}
    row = session.scalars(select(Delivery)).one()
    assert "452" in row.last_error
    # Not retried before its backoff is over…
    now = datetime.now(UTC)
    assert ledger.queued_page(session, issue.id, 0, 100, now, stale_only=True) == []
    assert row.next_attempt_at > now
    # …then the reconciler picks it up (no broker message carries it any more)…
    later_clock = now + ledger.ENQUEUE_LEASE + timedelta(hours=2)
    assert ledger.queued_page(session, issue.id, 0, 100, later_clock, stale_only=True) == ids
    session.refresh(issue)
    assert issue.status == "sending"
    # …and once the mailbox has room, the retry delivers exactly one copy.
    smtp_sink.handler.reject.clear()
    retry = sending.send_batch(
        session, rt.settings, rt.tokens, issue.id, ids, clock=lambda: later_clock
    )
    assert retry.sent == 1
    assert len(smtp_sink.messages) == 1
    attempts = session.scalars(select(Delivery.attempts)).one()
    assert attempts == 2


class DropAfterData:
    """Takes the whole message, then hangs up instead of answering 250."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        server.transport.close()
        return "250 OK"


def test_connection_lost_after_data_is_in_doubt_not_resent(session, rt):
    handler = DropAfterData()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        factories.subscription(session, "tvil@example.no")
        issue = factories.drafted_issue(session)
        ids = _start(session, issue.id)
        settings = dataclasses.replace(rt.settings, smtp_port=port)
        result = sending.send_batch(session, settings, rt.tokens, issue.id, ids)
        again = sending.send_batch(session, settings, rt.tokens, issue.id, ids)
    finally:
        controller.stop()
    assert result.in_doubt == 1 and again.in_doubt == 0
    assert handler.received == 1
    assert set(_statuses(session, issue.id).values()) == {"in-doubt"}


def test_a_claim_left_by_a_dead_worker_becomes_in_doubt(session, rt):
    factories.subscription(session, "krasj@example.no")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    old = datetime.now(UTC) - ledger.CLAIM_LEASE - timedelta(seconds=1)
    session.execute(
        update(Delivery).where(Delivery.id == ids[0]).values(status="sending", claimed_at=old)
    )
    session.commit()
    assert ledger.mark_stale_claims_in_doubt(session, datetime.now(UTC)) == 1
    session.commit()
    assert set(_statuses(session, issue.id).values()) == {"in-doubt"}
    assert ledger.finish_if_done(session, issue.id)


@pytest.mark.committed
def test_two_send_requests_start_one_send(session, rt):
    issue = factories.drafted_issue(session)
    with rt.db.session() as first, rt.db.session() as second:
        first.get(Issue, issue.id)
        second.get(Issue, issue.id)
        assert ledger.request_send(first, issue.id) is True
        first.commit()
        assert ledger.request_send(second, issue.id) is False
        second.commit()


def test_an_unknown_issue_is_a_clear_error(session):
    with pytest.raises(ledger.IssueNotFound, match="999999"):
        ledger.request_send(session, 999999)


def test_paused_issue_sends_nothing(session, rt, smtp_sink):
    factories.subscription(session, "pause@example.no")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)
    assert ledger.transition(session, issue.id, "paused")
    session.commit()
    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)
    assert result.sent == 0 and smtp_sink.messages == []
    assert set(_statuses(session, issue.id).values()) == {"queued"}


def test_each_reader_gets_the_digest_in_their_language_and_never_as_a_test(session, rt, smtp_sink):
    """Mutants of ``batch.compiled_digest`` (survivors of `make mutate`): the language not
    passed on, one cache key for every language, or a real send compiled as a test mail
    (``test`` defaulting to True: "[TEST]" in every reader's subject)."""
    factories.subscription(session, "norsk@example.no", "Norsk", language="nb")
    factories.subscription(session, "english@example.no", "English", language="en")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    assert sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids).sent == 2

    mails = {m.rcpt_tos[0]: m for m in smtp_sink.messages}
    assert "Meld deg av" in mails["norsk@example.no"].part("text/plain")
    assert "Unsubscribe" in mails["english@example.no"].part("text/plain")
    assert "Meld deg av" not in mails["english@example.no"].part("text/plain")
    assert not any(m.message["Subject"].startswith("[TEST]") for m in mails.values())


def test_ids_are_cut_into_groups_of_the_size_given():
    """Mutant of ``batch.batches`` (a survivor of `make mutate`): the step left out, so the
    groups overlap (every row claimed again by the next groups: more statements, more
    transactions)."""
    assert sending.batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert sending.batches([], 2) == []


def test_the_recipients_counted_are_this_newsletters_active_readers(session):
    """Mutants of ``ledger.count_recipients`` (survivors of `make mutate`): either condition
    dropped or inverted, the count not taken, ``or 0`` → ``or 1`` / ``and 0``. The number
    the editor confirms before a send ("send to N readers?")."""
    from mailer.issues.models import Newsletter

    issue = factories.drafted_issue(session)
    assert ledger.count_recipients(session, issue) == 0
    for n in range(3):
        factories.subscription(session, f"aktiv{n}@example.no")
    factories.subscription(session, "venter@example.no", status="pending")
    factories.subscription(session, "gikk@example.no", status="unsubscribed")
    other = Newsletter(slug="et-annet", name="Et annet nyhetsbrev")
    session.add(other)
    session.flush()
    elsewhere = factories.subscription(session, "annet@example.no")
    elsewhere.newsletter_id = other.id
    session.flush()

    assert ledger.count_recipients(session, issue) == 3


def test_each_copy_greets_its_reader_and_carries_their_own_working_links(
    session, rt, smtp_sink, client
):
    """Mutants of ``batch.personal_copy`` (survivors of `make mutate`): the greeting's name
    (always, never, or made up), the unsubscribe or preferences link made for no id or no
    secret, the List-Unsubscribe header (RFC 8058 one-click) left out."""
    factories.subscription(session, "kari@example.no", "Kari")
    factories.subscription(session, "anonym@example.no", "")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    assert sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids).sent == 2

    mails = {m.rcpt_tos[0]: m for m in smtp_sink.messages}
    assert "Hei Kari," in mails["kari@example.no"].part("text/plain")
    assert "Hei," in mails["anonym@example.no"].part("text/plain")
    mail = mails["kari@example.no"]
    header = mail.message["List-Unsubscribe"]
    assert header.startswith("<https://nyhetsbrev.example.no/unsubscribe/")
    assert "<mailto:" in header
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.part("text/plain")
    for kind in ("unsubscribe", "preferences"):
        [path] = set(re.findall(rf"https://nyhetsbrev\.example\.no(/{kind}/\S+)", text))
        page = client.get(path)
        assert page.status_code == 200, kind
        if kind == "preferences":
            assert "kari@example.no" in page.get_data(as_text=True)


def test_a_reader_with_topics_gets_their_topics_and_the_untagged_articles(session, rt, smtp_sink):
    """Mutant of ``batch.personal_copy`` (a survivor of `make mutate`): the reader's topics
    not passed on (``selection(None)``): every reader would get every article."""
    reader = factories.subscription(session, "klima@example.no", "Klima")
    reader.topics = ["Klima"]
    tagged = {
        "Klima": factories.article(session, "klimasak", "Om klima"),
        "Forskning": factories.article(session, "forskningssak", "Om forskning"),
        "": factories.article(session, "allesak", "For alle"),
    }
    for topic, article in tagged.items():
        article.topics = [topic] if topic else []
    session.flush()
    issue = draft_issue(session)
    session.commit()
    ids = _start(session, issue.id)

    assert sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids).sent == 1

    text = smtp_sink.messages[0].part("text/plain")
    assert "Om klima" in text and "For alle" in text
    assert "Om forskning" not in text


def test_a_reader_whose_topics_got_nothing_new_is_skipped_and_the_rest_go_on(
    session, rt, smtp_sink
):
    """Mutants of ``batch.send_batch``'s skip (survivors of `make mutate`): the skipped
    row's outcome, status or reason changed or dropped, the count not added up, ``continue``
    → ``break`` (every reader after the skipped one left unsent)."""
    first = factories.subscription(session, "a-forskning@example.no", "A")
    first.topics = ["Forskning"]
    factories.subscription(session, "b-alle@example.no", "B")
    last = factories.subscription(session, "c-forskning@example.no", "C")
    last.topics = ["Forskning"]
    factories.subscription(session, "d-alle@example.no", "D")
    article = factories.article(session, "klimasak", "Om klima")
    article.topics = ["Klima"]
    session.flush()
    issue = draft_issue(session)
    session.commit()
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert (result.sent, result.skipped) == (2, 2)
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == [
        "b-alle@example.no",
        "d-alle@example.no",
    ]
    session.expire_all()
    skipped = session.execute(
        select(Delivery.subscription_id, Delivery.status, Delivery.last_error).where(
            Delivery.subscription_id.in_([first.id, last.id])
        )
    ).all()
    assert sorted(skipped) == [
        (first.id, "skipped", "nothing new in the reader's topics"),
        (last.id, "skipped", "nothing new in the reader's topics"),
    ]
