"""The editors get a mail when a send pauses itself: on a 5.7.x policy refusal, and after
20 failures in a row (issue 14).

Mutants this pins (each applied by hand and seen to fail): the batch does not queue
``mailer.notify_paused``; the failure limit moves (``MAX_CONSECUTIVE_FAILURES`` = 21,
``>=`` → ``>``); a 5.7.x is not read as policy (``status[1] == 7`` changed); the notice
goes out for an issue that is not paused, or names no reason.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailer.editors.accounts import create_editor
from mailer.editors.notifications import notify_editors_paused
from mailer.issues.models import Issue
from mailer.sending import batch as sending
from mailer.sending import ledger
from mailer.sending.models import Delivery
from tests.harness import factories

# Domain code only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

EDITORS = ["redaktor@example.no", "vakt@example.no"]


def _editors(session) -> None:
    for email in EDITORS:
        create_editor(session, email, "et langt nok passord")
    session.commit()


def _start(session, issue_id: int) -> list[int]:
    assert ledger.request_send(session, issue_id)
    ledger.create_deliveries(session, issue_id)
    session.commit()
    return ledger.queued_page(session, issue_id, 0, 1000, datetime.now(UTC))


def _notice(smtp_sink, issue_id: int) -> str:
    """The one notice each editor got (its text, the same for all)."""
    mails = smtp_sink.messages
    assert sorted(r for m in mails for r in m.rcpt_tos) == sorted(EDITORS)
    bodies = {m.part("text/plain") for m in mails}
    assert len(bodies) == 1
    for mail in mails:
        assert "satt på pause" in str(mail.message["Subject"])
    [body] = bodies
    assert f"mailer digest resume {issue_id}" in body
    return body


def test_a_policy_refusal_pauses_the_send_and_mails_the_editors(
    session, rt, smtp_sink, queued_tasks
):
    _editors(session)
    factories.subscription(session, "a@example.no")
    smtp_sink.handler.reject["a@example.no"] = "550 5.7.1 Sender blocked by policy"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert result.paused and "5.7.1" in result.paused
    assert ("mailer.notify_paused", (issue.id,)) in queued_tasks
    assert notify_editors_paused(session, rt.settings, issue.id) == 2
    body = _notice(smtp_sink, issue.id)
    assert "5.7.1 Sender blocked by policy" in body


def test_twenty_failures_in_a_row_pause_the_send_and_mail_the_editors(
    session, rt, smtp_sink, queued_tasks
):
    _editors(session)
    for i in range(21):
        factories.subscription(session, f"feil{i:02d}@example.no")
        smtp_sink.handler.reject[f"feil{i:02d}@example.no"] = "554 5.0.0 Rejected"
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    # The twentieth failure pauses: the twenty-first reader was claimed (same group) but
    # never tried, and waits in the queue for the editor.
    assert result.failed == 20
    assert result.paused and result.paused.startswith("20 failures in a row")
    session.expire_all()
    statuses = sorted(session.scalars(select(Delivery.status)).all())
    assert statuses == ["failed"] * 20 + ["queued"]
    assert session.get(Issue, issue.id).status == "paused"
    assert queued_tasks.count(("mailer.notify_paused", (issue.id,))) == 1
    assert notify_editors_paused(session, rt.settings, issue.id) == 2
    assert "20 failures in a row" in _notice(smtp_sink, issue.id)


def test_nineteen_failures_then_a_success_do_not_pause(session, rt, smtp_sink, queued_tasks):
    _editors(session)
    for i in range(19):
        factories.subscription(session, f"feil{i:02d}@example.no")
        smtp_sink.handler.reject[f"feil{i:02d}@example.no"] = "554 5.0.0 Rejected"
    factories.subscription(session, "zz-ok@example.no")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    result = sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids)

    assert (result.failed, result.sent, result.paused) == (19, 1, None)
    assert not [t for t in queued_tasks if t[0] == "mailer.notify_paused"]
    # A notice asked for an issue that is not paused sends nothing.
    assert notify_editors_paused(session, rt.settings, issue.id) == 0
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["zz-ok@example.no"]]


def test_each_editor_reads_the_notice_in_their_language(session, rt, smtp_sink, queued_tasks):
    """An editor who reads the admin in English gets the notice in English, the others in
    Norwegian; a disabled editor gets none.

    Mutant: the notice rendered once in Norwegian for every editor (as it was)."""
    from datetime import UTC, datetime

    norsk = create_editor(session, "redaktor@example.no", "et langt nok passord")
    english = create_editor(session, "editor@example.org", "a long enough password")
    gone = create_editor(session, "sluttet@example.no", "et langt nok passord")
    english.language = "en"
    gone.disabled_at = datetime.now(UTC)
    factories.subscription(session, "a@example.no")
    smtp_sink.handler.reject["a@example.no"] = "550 5.7.1 Sender blocked by policy"
    issue = factories.drafted_issue(session)
    sending.send_batch(session, rt.settings, rt.tokens, issue.id, _start(session, issue.id))

    assert notify_editors_paused(session, rt.settings, issue.id) == 2
    by_recipient = {m.rcpt_tos[0]: m for m in smtp_sink.messages if len(m.rcpt_tos) == 1}
    assert set(by_recipient) == {norsk.email, english.email}
    assert "is paused" in str(by_recipient[english.email].message["Subject"])
    assert "Resume once the cause is fixed" in by_recipient[english.email].part("text/plain")
    assert "satt på pause" in str(by_recipient[norsk.email].message["Subject"])
    assert "Fortsett når årsaken er rettet" in by_recipient[norsk.email].part("text/plain")
