"""Parse → match → judge, on reports about a digest really sent with VERP senders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mailer.bounces import service
from mailer.bounces.models import BounceReport
from mailer.db import utcnow
from mailer.events import Event
from mailer.issues.drafting import draft_issue
from mailer.sending import ledger
from mailer.sending.models import Delivery
from mailer.subscribers.suppression import is_suppressed
from tests.bounces import reports
from tests.bounces.scenario import send_digest
from tests.harness import factories

pytestmark = pytest.mark.rolled_back


def _store_and_process(session, rt, raw, envelope_to="", source="smtp", now=None):
    stored = service.store_report(session, rt.settings, source, raw, envelope_to=envelope_to)
    service.process_report(session, rt.settings, rt.tokens, stored.report_id, now=now)
    report = session.get(BounceReport, stored.report_id)
    session.refresh(report)
    return report


def _status(session, copy):
    session.refresh(copy.subscription)
    return copy.subscription.status


def test_a_hard_bounce_to_the_verp_address_bounces_the_reader_at_once(
    session, rt, smtp_sink, queued_tasks
):
    _, copies = send_digest(session, rt, smtp_sink, ["borte@example.no", "her@example.no"])
    gone = copies["borte@example.no"]
    raw = reports.dsn(to=gone.verp, recipient="borte@example.no")

    report = _store_and_process(session, rt, raw, envelope_to=gone.verp)

    assert ("mailer.process_bounce_report", (report.id,)) in queued_tasks
    assert (report.status, report.kind, report.delivery_id) == (
        "processed",
        "hard",
        gone.delivery.id,
    )
    assert _status(session, gone) == "bounced"
    assert _status(session, copies["her@example.no"]) == "active"
    session.refresh(gone.delivery)
    assert gone.delivery.status == "bounced"
    assert is_suppressed(session, "borte@example.no", rt.settings.secret_keys)
    event = session.scalars(select(Event).where(Event.kind == "subscription.bounced")).one()
    assert event.subscription_id == gone.subscription.id
    assert event.data["report_id"] == report.id and event.data["status"] == "5.1.1"


def test_the_stored_report_keeps_headers_and_status_never_the_returned_body(session, rt, smtp_sink):
    _, copies = send_digest(session, rt, smtp_sink, ["borte@example.no"])
    gone = copies["borte@example.no"]
    report = _store_and_process(
        session, rt, reports.dsn(to=gone.verp, recipient="borte@example.no"), gone.verp
    )
    assert "Status: 5.1.1" in report.content
    assert "Undelivered Mail Returned to Sender" in report.content
    assert "Message-ID: <x@europakontor.example.no>" in report.content
    assert "PERSONAL-TOKEN" not in report.content


def test_a_forged_verp_signature_changes_nothing(session, rt, smtp_sink):
    _, copies = send_digest(session, rt, smtp_sink, ["her@example.no"])
    copy = copies["her@example.no"]
    local, _, domain = copy.verp.partition("@")
    forged = local[:-3] + ("AAA" if not local.endswith("AAA") else "BBB") + "@" + domain
    # Even with our real Message-ID inside: a VERP address that fails its check is final.
    raw = reports.dsn(to=forged, recipient="her@example.no", message_id=copy.delivery.message_id)

    report = _store_and_process(session, rt, raw, envelope_to=forged)

    assert report.status == "unmatched" and report.detail["match"] == "forged-verp"
    assert _status(session, copy) == "active"
    assert not is_suppressed(session, "her@example.no", rt.settings.secret_keys)


def test_an_unsigned_bounce_naming_only_the_address_changes_nothing(session, rt, smtp_sink):
    _, copies = send_digest(session, rt, smtp_sink, ["her@example.no"])
    raw = reports.dsn(
        to="postmaster@europakontor.example.no",
        recipient="her@example.no",
        message_id="<not-ours@example.net>",
    )
    report = _store_and_process(session, rt, raw)
    assert report.status == "unmatched"
    assert _status(session, copies["her@example.no"]) == "active"


def test_soft_bounces_score_once_a_day_and_bounce_at_the_threshold(session, rt, smtp_sink):
    _, copies = send_digest(session, rt, smtp_sink, ["full@example.no"])
    copy = copies["full@example.no"]
    start = utcnow()
    # Defaults: 0.5 a day, threshold 3 → the sixth day with a soft bounce.
    for day in range(6):
        for attempt in range(2):  # a second report the same day adds nothing
            raw = reports.dsn(
                to=copy.verp,
                recipient="full@example.no",
                action="delayed",
                status="4.2.2",
                diagnostic=f"smtp; 452 4.2.2 Mailbox full (day {day}, try {attempt})",
            )
            now = start + timedelta(days=day, minutes=attempt)
            stored = service.store_report(session, rt.settings, "smtp", raw, envelope_to=copy.verp)
            session.get(BounceReport, stored.report_id).received_at = now
            session.commit()
            service.process_report(session, rt.settings, rt.tokens, stored.report_id, now=now)
        expected = "bounced" if day == 5 else "active"
        assert _status(session, copy) == expected, f"day {day}"
    scores = [
        e.data["score"]
        for e in session.scalars(
            select(Event).where(Event.kind == "bounce.soft").order_by(Event.id)
        )
    ]
    assert scores[:4] == [0.5, 0.5, 1.0, 1.0]
    reason = session.scalars(select(Event).where(Event.kind == "subscription.bounced")).one()
    assert reason.data["reason"] == "score" and reason.data["score"] == 3.0


def test_soft_scores_older_than_the_window_expire(session, rt, smtp_sink):
    _, copies = send_digest(session, rt, smtp_sink, ["full@example.no"])
    copy = copies["full@example.no"]
    start = utcnow()
    # Five soft days, then one 40 days later: the old ones no longer count.
    for day in [0, 1, 2, 3, 4, 45]:
        raw = reports.dsn(
            to=copy.verp,
            recipient="full@example.no",
            action="failed",
            status="4.2.2",
            diagnostic=f"smtp; 452 4.2.2 full {day}",
        )
        now = start + timedelta(days=day)
        stored = service.store_report(session, rt.settings, "smtp", raw, envelope_to=copy.verp)
        session.get(BounceReport, stored.report_id).received_at = now
        session.commit()
        service.process_report(session, rt.settings, rt.tokens, stored.report_id, now=now)
    assert _status(session, copy) == "active"
    last = session.scalars(
        select(Event).where(Event.kind == "bounce.soft").order_by(Event.id.desc())
    ).first()
    assert last.data["score"] == 0.5


def test_a_policy_refusal_is_about_us_not_the_reader(session, rt, smtp_sink):
    issue, copies = send_digest(session, rt, smtp_sink, ["her@example.no"])
    copy = copies["her@example.no"]
    raw = reports.dsn(
        to=copy.verp,
        recipient="her@example.no",
        status="5.7.1",
        diagnostic="smtp; 550 5.7.1 Message rejected as spam",
    )
    report = _store_and_process(session, rt, raw, copy.verp)
    assert report.kind == "policy"
    assert _status(session, copy) == "active"
    assert not is_suppressed(session, "her@example.no", rt.settings.secret_keys)
    event = session.scalars(select(Event).where(Event.kind == "bounce.policy")).one()
    assert event.issue_id == issue.id


@pytest.mark.parametrize("shape", ["yahoo", "microsoft"])
def test_a_complaint_matched_by_our_message_id_removes_the_reader_from_the_next_issue(
    session, rt, smtp_sink, shape
):
    _, copies = send_digest(session, rt, smtp_sink, ["klager@example.no", "blir@example.no"])
    copy = copies["klager@example.no"]
    message_id = copy.delivery.message_id
    raw = (
        reports.arf_yahoo(message_id=message_id, recipient="klager@example.no")
        if shape == "yahoo"
        else reports.arf_microsoft(message_id=message_id)
    )
    report = _store_and_process(session, rt, raw, "fbl@europakontor.example.no")

    assert (report.kind, report.subscription_id) == ("complaint", copy.subscription.id)
    assert _status(session, copy) == "complained"
    assert copy.subscription.unsubscribed_at is not None
    assert is_suppressed(session, "klager@example.no", rt.settings.secret_keys)
    assert _status(session, copies["blir@example.no"]) == "active"

    smtp_sink.clear()
    factories.article(session, "ny-sak", "Ny sak", days_ago=0)
    following = draft_issue(session)
    assert ledger.request_send(session, following.id)
    ledger.create_deliveries(session, following.id)
    session.commit()
    got = session.scalars(
        select(Delivery.subscription_id).where(Delivery.issue_id == following.id)
    ).all()
    assert got == [copies["blir@example.no"].subscription.id]


def test_the_same_report_twice_is_stored_and_judged_once(session, rt, smtp_sink):
    _, copies = send_digest(session, rt, smtp_sink, ["full@example.no"])
    copy = copies["full@example.no"]
    raw = reports.dsn(to=copy.verp, recipient="full@example.no", action="delayed", status="4.4.1")
    first = service.store_report(session, rt.settings, "smtp", raw, envelope_to=copy.verp)
    again = service.store_report(session, rt.settings, "smtp", raw, envelope_to=copy.verp)
    assert (first.new, again.new, again.report_id) == (True, False, first.report_id)
    assert service.process_report(session, rt.settings, rt.tokens, first.report_id) is not None
    # A redelivered task: the report is no longer "stored", nothing happens twice.
    assert service.process_report(session, rt.settings, rt.tokens, first.report_id) is None
    assert (
        session.scalar(select(func.count()).select_from(Event).where(Event.kind == "bounce.soft"))
        == 1
    )


def test_mail_that_is_no_report_is_kept_as_unrecognised(session, rt):
    raw = b"From: someone@example.net\r\nSubject: hei\r\n\r\nJust a reply, not a bounce.\r\n"
    report = _store_and_process(session, rt, raw, "bounces@europakontor.example.no")
    assert report.status == "unrecognised" and report.kind is None


def test_a_non_standard_bounce_is_read_by_flufl_bounce(session, rt, smtp_sink):
    _, copies = send_digest(session, rt, smtp_sink, ["borte@example.no"])
    copy = copies["borte@example.no"]
    # qmail's format (no DSN part): flufl.bounce's Qmail detector reads it.
    raw = (
        f"From: MAILER-DAEMON@mx.example.net\r\nTo: {copy.verp}\r\n"
        "Subject: failure notice\r\n\r\n"
        "Hi. This is the qmail-send program at mx.example.net.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
        "<borte@example.no>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
        + reports.returned_headers("<q@europakontor.example.no>")
        + "\r\n"
        + reports.RETURNED_BODY
    ).encode()
    report = _store_and_process(session, rt, raw, copy.verp)
    assert report.kind == "hard"
    assert _status(session, copy) == "bounced"
    assert "PERSONAL-TOKEN" not in report.content


def test_erasing_a_reader_erases_their_stored_reports(session, rt, smtp_sink):
    from mailer.subscribers.consent import RequestContext
    from mailer.subscribers.erasure import erase_subscriber

    _, copies = send_digest(session, rt, smtp_sink, ["borte@example.no", "her@example.no"])
    gone = copies["borte@example.no"]
    report = _store_and_process(
        session, rt, reports.dsn(to=gone.verp, recipient="borte@example.no"), gone.verp
    ).id
    kept = _store_and_process(session, rt, b"Subject: not a bounce\r\n\r\nhei\r\n").id
    erase_subscriber(
        session,
        gone.subscription.subscriber_id,
        rt.settings.secret_keys[0],
        RequestContext(channel="admin"),
    )
    session.commit()
    session.expire_all()
    remaining = session.scalars(select(BounceReport.id)).all()
    assert report not in remaining and kept in remaining


def test_housekeeping_requeues_lost_ids_and_drops_old_unrecognised_mail(session, rt, queued_tasks):
    now = utcnow()
    lost = service.store_report(session, rt.settings, "smtp", b"Subject: a\r\n\r\nx\r\n")
    old = service.store_report(session, rt.settings, "smtp", b"Subject: b\r\n\r\ny\r\n")
    service.process_report(session, rt.settings, rt.tokens, old.report_id)
    for stored in (lost, old):
        session.get(BounceReport, stored.report_id).received_at = now - timedelta(days=31)
    session.commit()
    queued_tasks.clear()

    assert service.requeue_stored(session, timedelta(minutes=10), now) == 1
    assert queued_tasks == [("mailer.process_bounce_report", (lost.report_id,))]
    assert service.delete_old_unrecognised(session, 30, now) == 1
    assert session.scalars(select(BounceReport.id)).all() == [lost.report_id]


def test_a_readers_data_export_holds_the_reports_about_them(session, rt, smtp_sink):
    from mailer.subscribers.erasure import export_subscriber

    _, copies = send_digest(session, rt, smtp_sink, ["full@example.no"])
    copy = copies["full@example.no"]
    report = _store_and_process(
        session,
        rt,
        reports.dsn(to=copy.verp, recipient="full@example.no", action="delayed", status="4.2.2"),
        copy.verp,
    )
    data = export_subscriber(session, copy.subscription.subscriber_id)
    [exported] = data["bounce_reports"]
    assert exported["id"] == report.id and exported["kind"] == "soft"
    assert "Status: 4.2.2" in exported["content"]
