"""The editors are mailed once per issue when servers refuse it because of us (the same
line as the dashboard's reputation notice) and when its complaint rate reaches the 0.3 %
alarm; the mail goes through the real SMTP sink, each editor in their language, and the
"once" is an event in the database (a second report, or a restarted worker, mails nothing).

Mutants this pins (each applied by hand and seen to fail): process_report does not queue
``mailer.mail_bounce_alerts``; the "already mailed" check is dropped from ``due_alerts``;
the event is not recorded; ``>=`` → ``>`` on either line; the complaint alarm counted
before the issue is finished."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from mailer.bounces import service
from mailer.bounces.alerts import (
    COMPLAINTS_MAILED,
    MAIL_TASK,
    REPUTATION_MAILED,
    due_alerts,
    mail_due_alerts,
    requeue_due_alerts,
)
from mailer.bounces.models import BounceReport
from mailer.db import utcnow
from mailer.editors.accounts import create_editor
from mailer.events import Event
from mailer.issues.models import Issue
from mailer.mail.smtp import SMTPFailure
from mailer.sending.models import Delivery
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.subscriptions import default_newsletter
from tests.bounces import reports
from tests.bounces.scenario import send_digest
from tests.harness import factories

pytestmark = pytest.mark.rolled_back

EDITOR = "vakt@europakontor.example.no"
READERS = ["her@example.no", "der@example.no", "borte@example.no"]


def _judge(session, rt, raw: bytes, envelope_to: str = "") -> None:
    stored = service.store_report(session, rt.settings, "smtp", raw, envelope_to=envelope_to)
    service.process_report(session, rt.settings, rt.tokens, stored.report_id)


def _refused(session, rt, copy, email: str) -> None:
    _judge(
        session,
        rt,
        reports.dsn(
            to=copy.verp,
            recipient=email,
            status="5.7.1",
            diagnostic="smtp; 550 5.7.1 Service unavailable; client host blocked using Spamhaus",
        ),
        copy.verp,
    )


def _alerts_queued(queued_tasks, issue_id: int) -> int:
    return queued_tasks.count((MAIL_TASK, (issue_id,)))


def test_a_policy_refusal_mails_the_editors_once(session, rt, smtp_sink, queued_tasks):
    create_editor(session, EDITOR, "et langt nok passord")
    session.commit()
    issue, copies = send_digest(session, rt, smtp_sink, READERS)
    smtp_sink.clear()  # the digest's own copies

    _refused(session, rt, copies["her@example.no"], "her@example.no")
    assert _alerts_queued(queued_tasks, issue.id) == 1
    assert mail_due_alerts(session, rt.settings, issue.id) == [REPUTATION_MAILED]

    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == [EDITOR]
    assert "avviser" in str(mail.message["Subject"]) and "på grunn av oss" in str(
        mail.message["Subject"]
    )
    body = mail.part("text/plain")
    assert "5.7.x" in body and "1 mottaker så langt" in body
    assert f"https://nyhetsbrev.example.no/admin/issues/{issue.id}" in body

    # A second refusal of the same issue: nothing queued, nothing mailed, also when the
    # task runs anyway (a redelivery, or a worker started afresh: the event is the state).
    _refused(session, rt, copies["der@example.no"], "der@example.no")
    assert _alerts_queued(queued_tasks, issue.id) == 1
    assert mail_due_alerts(session, rt.settings, issue.id) == []
    assert len(smtp_sink.messages) == 1
    events = session.scalars(select(Event).where(Event.kind == REPUTATION_MAILED)).all()
    assert [(e.issue_id, e.data["policy"]) for e in events] == [(issue.id, 1)]


def test_the_complaint_alarm_mails_once_in_each_editors_language(
    session, rt, smtp_sink, queued_tasks
):
    create_editor(session, EDITOR, "et langt nok passord")
    english = create_editor(session, "desk@europakontor.example.no", "et langt nok passord")
    english.language = "en"
    session.commit()
    issue, copies = send_digest(session, rt, smtp_sink, READERS)
    smtp_sink.clear()

    # A complaint while the issue is still being sent (as if more copies were queued):
    # 1 of 3 so far is no rate yet.
    session.execute(
        update(Issue).where(Issue.id == issue.id).values(status="sending", sent_at=None)
    )
    session.commit()
    _judge(
        session,
        rt,
        reports.arf_yahoo(message_id=copies["her@example.no"].delivery.message_id),
    )
    assert _alerts_queued(queued_tasks, issue.id) == 0
    assert mail_due_alerts(session, rt.settings, issue.id) == []
    # Sent: the beat's housekeeping finds the alarm due.
    session.execute(
        update(Issue).where(Issue.id == issue.id).values(status="sent", sent_at=utcnow())
    )
    session.commit()
    assert requeue_due_alerts(session, timedelta(days=2), utcnow()) == 1
    assert _alerts_queued(queued_tasks, issue.id) == 1
    assert mail_due_alerts(session, rt.settings, issue.id) == [COMPLAINTS_MAILED]
    by_rcpt = {m.rcpt_tos[0]: m for m in smtp_sink.messages}
    assert sorted(by_rcpt) == sorted([EDITOR, "desk@europakontor.example.no"])
    assert len(smtp_sink.messages) == 2  # one each
    assert "klageraten" in str(by_rcpt[EDITOR].message["Subject"])
    assert "1 av 3 mottakere" in by_rcpt[EDITOR].part("text/plain")
    assert "33,33 prosent" in by_rcpt[EDITOR].part("text/plain")
    english_mail = by_rcpt["desk@europakontor.example.no"]
    assert "complaint rate" in str(english_mail.message["Subject"])
    assert "1 of 3 recipients" in english_mail.part("text/plain")
    assert "33.33 percent" in english_mail.part("text/plain")

    _judge(
        session,
        rt,
        reports.arf_yahoo(message_id=copies["der@example.no"].delivery.message_id),
    )
    assert _alerts_queued(queued_tasks, issue.id) == 1
    assert mail_due_alerts(session, rt.settings, issue.id) == []
    assert len(smtp_sink.messages) == 2


def test_a_mail_that_cannot_go_out_leaves_the_alert_due_for_the_beat(
    session, rt, smtp_sink, queued_tasks
):
    create_editor(session, EDITOR, "et langt nok passord")
    session.commit()
    issue, copies = send_digest(session, rt, smtp_sink, READERS)
    smtp_sink.clear()
    _refused(session, rt, copies["her@example.no"], "her@example.no")
    smtp_sink.handler.reject[EDITOR] = "451 4.3.0 try again later"
    try:
        with pytest.raises(SMTPFailure):
            mail_due_alerts(session, rt.settings, issue.id)
    finally:
        smtp_sink.handler.reject.pop(EDITOR)
    session.rollback()
    assert not session.scalars(select(Event).where(Event.kind == REPUTATION_MAILED)).all()

    queued_tasks.clear()
    assert requeue_due_alerts(session, timedelta(days=2), utcnow()) == 1
    assert queued_tasks == [(MAIL_TASK, (issue.id,))]
    assert mail_due_alerts(session, rt.settings, issue.id) == [REPUTATION_MAILED]
    assert len(smtp_sink.messages) == 1
    queued_tasks.clear()
    assert requeue_due_alerts(session, timedelta(days=2), utcnow()) == 0
    assert queued_tasks == []


def test_no_alert_below_the_lines(session, rt, smtp_sink, queued_tasks):
    """A hard bounce is about the reader: no alert, no mail."""
    create_editor(session, EDITOR, "et langt nok passord")
    session.commit()
    issue, copies = send_digest(session, rt, smtp_sink, READERS)
    smtp_sink.clear()
    gone = copies["borte@example.no"]
    _judge(session, rt, reports.dsn(to=gone.verp, recipient="borte@example.no"), gone.verp)
    assert _alerts_queued(queued_tasks, issue.id) == 0
    assert mail_due_alerts(session, rt.settings, issue.id) == []
    assert smtp_sink.messages == []


def _sent_issue(session, readers: int, complaints: int) -> int:
    """A sent issue delivered to ``readers`` readers, ``complaints`` of whom complained."""
    issue = factories.drafted_issue(session)
    session.execute(
        update(Issue).where(Issue.id == issue.id).values(status="sent", sent_at=utcnow())
    )
    newsletter = default_newsletter(session).id
    session.execute(
        insert(Subscriber),
        [{"email": f"leser{i}@example.no", "name": "", "language": "nb"} for i in range(readers)],
    )
    session.execute(
        insert(Subscription),
        [
            {"subscriber_id": s, "newsletter_id": newsletter, "status": "active", "topics": []}
            for s in session.scalars(select(Subscriber.id))
        ],
    )
    subs = list(session.scalars(select(Subscription.id).order_by(Subscription.id)))
    session.execute(
        insert(Delivery),
        [{"issue_id": issue.id, "subscription_id": s, "status": "sent"} for s in subs],
    )
    session.execute(
        insert(BounceReport),
        [
            {
                "source": "smtp",
                "digest": f"d{i}",
                "status": "processed",
                "kind": "complaint",
                "subscription_id": subs[i],
                "issue_id": issue.id,
                "detail": {},
                "received_at": utcnow(),
            }
            for i in range(complaints)
        ],
    )
    session.commit()
    return issue.id


@pytest.mark.parametrize(("complaints", "due"), [(2, []), (3, [COMPLAINTS_MAILED])])
def test_the_complaint_alarm_starts_at_exactly_0_3_percent(session, complaints, due):
    assert due_alerts(session, _sent_issue(session, 1000, complaints)) == due
