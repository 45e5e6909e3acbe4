"""Bounces as an editor sees them in Debian's Chromium: the dashboard's complaint alarm and
unrecognised mail, the issue's counts, and reactivating a bounced reader."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from mailer.bounces import service
from mailer.events import Event
from mailer.issues.models import Issue
from mailer.web.limits import limiter
from tests.bounces import reports
from tests.bounces.scenario import send_digest
from tests.conftest import screenshot_path
from tests.harness.admin import ADMIN, PASSWORD, make_editors

WAIT_MS = 60_000


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        limiter.reset()


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 900}, locale="nb-NO"
    )
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    yield tab
    context.close()


def _judge(session, rt, raw: bytes, envelope_to: str = "") -> None:
    stored = service.store_report(session, rt.settings, "smtp", raw, envelope_to=envelope_to)
    service.process_report(session, rt.settings, rt.tokens, stored.report_id)


def test_an_editor_sees_the_alarm_and_takes_a_bounced_reader_back(page, session, rt, smtp_sink):
    make_editors(session)
    issue, copies = send_digest(
        session, rt, smtp_sink, ["borte@example.no", "klager@example.no", "her@example.no"]
    )
    session.execute(update(Issue).where(Issue.id == issue.id).values(status="sent"))
    session.commit()
    gone = copies["borte@example.no"]
    _judge(session, rt, reports.dsn(to=gone.verp, recipient="borte@example.no"), gone.verp)
    _judge(
        session,
        rt,
        reports.arf_microsoft(message_id=copies["klager@example.no"].delivery.message_id),
    )
    _judge(session, rt, b"From: x@example.net\r\nSubject: Autosvar: ferie\r\n\r\nHei\r\n")

    page.goto("/admin/login")
    page.fill("#email", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    alert = page.locator("#complaint-alert")
    assert alert.get_attribute("data-level") == "alarm"  # 1 of 3 is far past 0.3 %
    assert "Autosvar: ferie" in page.locator("#unrecognised-mail").inner_text()
    page.screenshot(path=str(screenshot_path("bounces-dashboard")), full_page=True)

    alert.locator("a").click()
    page.wait_for_url(f"**/admin/issues/{issue.id}")
    assert page.locator("#count-hard").inner_text() == "1"
    assert page.locator("#count-complaints").inner_text() == "1"

    page.goto(f"/admin/subscribers/{gone.subscription.subscriber_id}")
    bounced = page.locator('#events li[data-kind="subscription.bounced"]')
    assert "E-posten kom i retur" in bounced.inner_text()
    assert "statuskode: 5.1.1" in bounced.inner_text()
    page.click("#reactivate")
    page.wait_for_selector(".flash")
    assert page.locator("#subscription-status").inner_text() == "Aktiv"
    assert page.locator("#reactivate").count() == 0
    audit = session.scalars(select(Event).where(Event.kind == "admin.reactivate")).one()
    assert audit.data["subscriber_id"] == gone.subscription.subscriber_id


# Short enough that the stored Subject line is not folded (78 characters).
HOSTILE = "<script>window.pwned=1</script><img src=x onerror=pwned=2>"


def test_an_editor_opens_a_stored_report_from_the_list_and_reads_it_as_text(
    page, session, rt, smtp_sink
):
    make_editors(session)
    raw = f"From: x@example.net\r\nSubject: Autosvar {HOSTILE}\r\nX-Note: <b>fet</b>\r\n\r\nHei\r\n"
    _judge(session, rt, raw.encode())

    page.goto("/admin/login")
    page.fill("#email", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    page.locator("#unrecognised-mail a", has_text="Autosvar").click()
    page.wait_for_url("**/admin/bounces/*")
    assert page.locator("#report-status").inner_text() == "Ukjent format"
    assert page.locator("#report-reader").inner_text() == "Ingen funnet"
    content = page.locator("#report-content")
    assert f"Subject: Autosvar {HOSTILE}" in content.inner_text()  # the very text
    assert "X-Note: <b>fet</b>" in content.inner_text()
    assert content.locator("script, img, b").count() == 0  # nothing of it became HTML
    assert page.evaluate("window.pwned") is None
    page.screenshot(path=str(screenshot_path("bounces-report")), full_page=True)
