"""The editor admin in Debian's Chromium (Playwright) against the app on a real HTTP server,
a real SMTP sink and, for sending, a real Celery worker. Screenshots land in
test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from mailer import queue
from mailer.events import Event
from mailer.issues.models import Issue
from mailer.sending import ledger
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.models import Consent, Subscriber, Subscription, Suppression
from mailer.subscribers.subscriptions import unsubscribe
from mailer.subscribers.suppression import suppression_hash
from mailer.web.limits import limiter
from tests.conftest import SECRET, screenshot_path
from tests.harness import factories
from tests.harness.admin import ADMIN, PASSWORD, make_editors

WAIT_MS = 60_000


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        limiter.reset()


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    context = browser.new_context(
        base_url=live_server,
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
        locale="nb-NO",
    )
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    yield tab
    context.close()


def _log_in(page, email: str = ADMIN, password: str = PASSWORD) -> None:
    page.goto("/admin/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def _flash(page) -> str:
    return page.locator(".flash").first.inner_text()


def test_login_with_a_wrong_password_then_throttled(page, session):
    make_editors(session)
    for _ in range(5):
        _log_in(page, ADMIN, "feil passord her")
        assert page.locator("#login-error").inner_text() == "Feil e-postadresse eller passord."
        assert page.url.endswith("/admin/login")
    # The sixth try is refused even with the right password: the account is throttled.
    _log_in(page, ADMIN, PASSWORD)
    assert "For mange forsøk" in page.locator("#login-error").inner_text()
    assert page.locator("nav.main").count() == 0
    # Another account still logs in, and lands on the dashboard.
    _log_in(page, "redaktor@example.no", PASSWORD)
    page.wait_for_url("**/admin/")
    assert page.locator("h1").inner_text() == "Oversikt"
    failed = session.scalars(select(Event).where(Event.kind == "admin.login_failed")).all()
    assert len(failed) == 5


def _seed_dashboard(session) -> Issue:
    states = ["active"] * 14 + ["pending"] * 3 + ["unsubscribed"] * 2 + ["bounced"]
    subs = [
        factories.subscription(session, f"leser{i}@example.no", f"Leser {i}", status=s)
        for i, s in enumerate(states)
    ]
    now = datetime.now(UTC)
    for months_back, (signups, confirms, leaves) in enumerate(
        [(9, 7, 1), (14, 12, 2), (6, 5, 0), (11, 9, 3), (4, 4, 1), (8, 6, 0)]
    ):
        when = (now.replace(day=10) - timedelta(days=31 * months_back)).replace(day=10)
        for kind, n in (("signup", signups), ("confirm", confirms), ("unsubscribe", leaves)):
            for _ in range(n):
                session.add(Event(kind=kind, created_at=when, data={}))
    issue = factories.drafted_issue(session, articles=3)
    issue.subject = "Nyhetsbrev fra Europakontoret – forrige måned"
    ledger.request_send(session, issue.id)
    statuses = [DeliveryStatus.SENT] * 11 + [
        DeliveryStatus.FAILED,
        DeliveryStatus.IN_DOUBT,
        DeliveryStatus.SKIPPED,
    ]
    for sub, status in zip(subs[:14], statuses, strict=True):
        session.add(Delivery(issue_id=issue.id, subscription_id=sub.id, status=status))
    session.execute(update(Issue).where(Issue.id == issue.id).values(status="sent", sent_at=now))
    session.commit()
    return issue


def test_dashboard_shows_states_chart_and_last_issues(page, session):
    make_editors(session)
    issue = _seed_dashboard(session)
    _log_in(page)
    page.wait_for_url("**/admin/")
    assert page.locator('[data-state="active"]').inner_text() == "14"
    assert page.locator('[data-state="pending"]').inner_text() == "3"
    bars = page.locator("#activity-chart rect[data-series]")
    assert bars.count() == 36
    signups = page.eval_on_selector_all(
        "#activity-chart rect[data-series=signups]", "els => els.map(e => +e.dataset.value)"
    )
    assert sum(signups) == 9 + 14 + 6 + 11 + 4 + 8
    row = page.locator(f'#recent-issues tr[data-issue="{issue.id}"]')
    text = row.inner_text()
    assert "Sendt 11" in text and "Feilet 1" in text and "Usikker 1" in text
    assert "Hoppet over 1" in text
    # No request leaves the machine: the page has no external resources.
    sources = page.eval_on_selector_all(
        "script[src], link[href], img[src]", "els => els.map(e => e.src || e.href)"
    )
    assert all(s.startswith(page.url.split("/admin")[0]) for s in sources)
    page.screenshot(path=screenshot_path("admin-dashboard"), full_page=True)


def _draft(session, articles: int = 3) -> Issue:
    issue = factories.drafted_issue(session, articles=articles)
    factories.article(session, "ekstra", "Ekstra sak: nytt kontor i Brussel", days_ago=40)
    session.commit()
    return issue


def _titles(page) -> list[str]:
    return page.locator("#article-list li .title").all_inner_texts()


def test_reviewing_a_draft_reorder_remove_add_and_intro(page, session):
    make_editors(session)
    factories.subscription(session, "kare@example.no", "Kåre")
    issue = _draft(session)
    _log_in(page)
    page.goto(f"/admin/issues/{issue.id}")
    first, second, third = _titles(page)

    page.click(f'button[value="down:{issue.items[0].article_id}"]')
    page.wait_for_load_state()
    assert _titles(page) == [second, first, third]

    page.click(f'button[value="remove:{issue.items[2].article_id}"]')
    page.wait_for_load_state()
    assert _titles(page) == [second, first]

    option = page.locator("#article_id option", has_text="Ekstra sak")
    page.select_option("#article_id", option.get_attribute("value"))
    page.click("#add-article")
    page.wait_for_load_state()
    assert _titles(page)[-1] == "Ekstra sak: nytt kontor i Brussel"

    page.fill("#subject", "Mars fra Europakontoret")
    page.fill("#intro", "Velkommen til **mars**!\n\nHilsen *redaksjonen*")
    page.click("#save-content")
    page.wait_for_load_state()
    assert page.locator("#issue-subject").inner_text() == "Mars fra Europakontoret"
    assert page.locator("#intro-preview strong").inner_text() == "mars"
    assert page.locator("#intro-preview em").inner_text() == "redaksjonen"
    page.screenshot(path=screenshot_path("admin-issue-draft"), full_page=True)

    session.expire_all()
    saved = session.get(Issue, issue.id)
    assert saved.subject == "Mars fra Europakontoret"
    assert saved.intro.startswith("Velkommen til **mars**!")
    assert [i.article.title for i in saved.items] == [second, first, _titles(page)[-1]]
    kinds = [e.kind for e in session.scalars(select(Event).where(Event.issue_id == issue.id))]
    assert {"admin.article_down", "admin.article_remove", "admin.article_add"} <= set(kinds)


def test_preview_as_a_chosen_subscriber(page, session):
    make_editors(session)
    factories.subscription(session, "kare@example.no", "Kåre Ødegård")
    factories.subscription(session, "ann@example.no", "Ann Smith", language="en")
    issue = _draft(session)
    _log_in(page)
    page.goto(f"/admin/issues/{issue.id}")
    page.fill("#as", "ann@example.no")
    page.click("#preview")
    page.wait_for_url("**/preview?as=ann%40example.no")
    assert page.locator("#preview-recipient").inner_text() == "ann@example.no"
    assert page.locator("#preview-subject").inner_text().startswith("Newsletter ")
    frame = page.frame_locator("#preview-html")
    assert "Hello Ann Smith" in frame.locator("body").inner_text()
    assert frame.locator("a[href*='/unsubscribe/']").count() >= 1
    assert "Hello Ann Smith," in page.locator("#preview-text").inner_text()
    headers = page.locator("#preview-headers").inner_text()
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in headers
    assert "To: Ann Smith <ann@example.no>" in headers


def test_a_test_send_reaches_the_smtp_server(page, session, smtp_sink):
    make_editors(session)
    factories.subscription(session, "kare@example.no", "Kåre")
    issue = _draft(session)
    _log_in(page)
    page.goto(f"/admin/issues/{issue.id}")
    assert page.input_value("#to") == ADMIN
    page.click("#send-test")
    page.wait_for_load_state()
    assert f"Testen er sendt til {ADMIN}" in _flash(page)
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == [ADMIN]
    assert str(mail.message["Subject"]).startswith("[TEST] Nyhetsbrev ")
    assert issue.items[0].article.title in mail.part("text/plain")
    session.expire_all()
    assert session.scalar(select(Delivery.id)) is None  # the ledger is untouched


ERRORS = {
    DeliveryStatus.FAILED: "550 5.1.1 mailbox unavailable",
    DeliveryStatus.IN_DOUBT: "connection lost after DATA",
}
PROGRESS_DONE = """total => {
  const bar = document.getElementById('progress-bar');
  return bar && bar.max === total && bar.value === total
    && document.getElementById('progress-status').textContent.trim() === 'Sendt';
}"""


def test_send_now_with_the_live_progress_bar_to_100_percent(
    page, session, smtp_sink, celery_worker
):
    make_editors(session)
    readers = [f"leser{i}@example.no" for i in range(5)]
    for address in readers:
        factories.subscription(session, address, "Leser")
    issue = _draft(session)
    _log_in(page)
    page.goto(f"/admin/issues/{issue.id}")
    page.click("#send-now")
    assert "til 5 abonnenter?" in page.locator("#send-summary").inner_text()
    page.click("#confirm-send")
    page.wait_for_url(f"**/admin/issues/{issue.id}")
    page.wait_for_function(PROGRESS_DONE, arg=5, timeout=WAIT_MS)
    assert page.locator("#progress-percent").inner_text() == "100"
    assert page.locator("#count-sent").inner_text() == "5"
    # The script writes the rate as Norwegian does, with a decimal comma.
    assert re.fullmatch(r"\d+,\d", page.locator("#progress-rate").inner_text())
    assert page.locator("#progress-finished").is_visible()
    got = smtp_sink.wait_for(5)
    assert sorted(m.rcpt_tos[0] for m in got) == readers
    session.expire_all()
    assert session.get(Issue, issue.id).status == "sent"
    assert session.scalars(select(Event.kind).where(Event.kind == "admin.send")).all()


def test_pause_resume_then_the_outcome_with_resend(page, session, smtp_sink, celery_worker):
    make_editors(session)
    subs = [factories.subscription(session, f"r{i}@example.no", f"R {i}") for i in range(6)]
    issue = _draft(session)
    # A send already under way: rows exist, some done; nothing queued at the broker yet
    # (the start task this commit queues is held back, so the worker leaves the rows alone).
    held = queue.set_sender(lambda name, args: None)
    try:
        assert ledger.request_send(session, issue.id)
        ledger.create_deliveries(session, issue.id)
        session.commit()
    finally:
        queue.set_sender(held)
    rows = {d.subscription_id: d.id for d in session.scalars(select(Delivery))}
    for sub, status in zip(
        subs[:4],
        (DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.IN_DOUBT),
        strict=True,
    ):
        session.execute(
            update(Delivery)
            .where(Delivery.id == rows[sub.id])
            .values(status=status, attempts=1, last_error=ERRORS.get(status))
        )
    # One of the two still queued leaves before the rest goes out: skipped, not sent.
    unsubscribe(session, subs[5].id, RequestContext(channel="web"))
    session.commit()

    _log_in(page)
    page.goto(f"/admin/issues/{issue.id}")
    assert page.locator("#progress-percent").inner_text() == "67"
    assert page.locator("#count-failed").inner_text() == "1"
    page.screenshot(path=screenshot_path("admin-issue-mid-send"), full_page=True)

    page.click("#pause")
    page.wait_for_load_state()
    assert page.locator("#issue-status").inner_text() == "På pause"
    assert page.locator("#resume").is_visible() and page.locator("#pause").count() == 0
    session.expire_all()
    assert session.get(Issue, issue.id).status == "paused"

    page.click("#resume")
    page.wait_for_load_state()
    page.wait_for_function(PROGRESS_DONE, arg=6, timeout=WAIT_MS)
    assert page.locator("#count-skipped").inner_text() == "1"
    assert [m.rcpt_tos[0] for m in smtp_sink.wait_for(1)] == ["r4@example.no"]

    page.click("#progress-finished a")
    page.wait_for_load_state()
    assert "r2@example.no" in page.locator("#list-failed").inner_text()
    assert "r3@example.no" in page.locator("#list-in-doubt").inner_text()
    page.check("#list-in-doubt input[name=confirm]")
    page.click("#resend-in-doubt")
    page.wait_for_load_state()
    assert "1 e-post lagt i kø igjen." in _flash(page)
    got = smtp_sink.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in got) == ["r3@example.no", "r4@example.no"]
    kinds = set(session.scalars(select(Event.kind).where(Event.issue_id == issue.id)))
    assert {"admin.pause", "admin.resume", "admin.resend"} <= kinds


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def test_csv_import_reports_the_bad_row_and_imports_the_rest(page, session):
    make_editors(session)
    data = _csv(
        [
            ["E-post", "Navn", "Språk", "Temaer"],
            ["bjorn@example.no", "Bjørn Ås", "nb", "Klima"],
            ["ikke-en-adresse", "Feil Person", "nb", ""],
            ["ann@example.no", "Ann Smith", "en", "Klima;Forskning"],
            ["BJORN@example.no", "Bjørn igjen", "nb", ""],
            ["siv@example.no", "Siv Ødegård", "", ""],
        ]
    )
    _log_in(page)
    page.goto("/admin/subscribers")
    page.click("#import-link")
    page.set_input_files(
        "#file", files=[{"name": "liste.csv", "mimeType": "text/csv", "buffer": data}]
    )
    page.click("#upload")
    page.wait_for_load_state()
    assert page.locator("#row-count").inner_text() == "5"
    assert page.locator("#csv-preview th").all_inner_texts() == [
        "E-post",
        "Navn",
        "Språk",
        "Temaer",
    ]
    assert page.input_value("#column_email") == "E-post"
    assert page.input_value("#column_topics") == "Temaer"
    page.check("#mode-consented")
    page.click("#confirm-import")
    page.wait_for_load_state()
    assert page.locator("#imported").inner_text() == "3"
    assert page.locator("#error-count").inner_text() == "1"
    assert page.locator("#duplicate-count").inner_text() == "1"
    errors = page.locator("#row-errors").inner_text()
    assert "Linje 3" in errors and "E-postadresse" in errors
    page.screenshot(path=screenshot_path("admin-import-done"), full_page=True)

    session.expire_all()
    rows = session.execute(
        select(Subscriber.email, Subscription.status, Subscription.topics).join(
            Subscription, Subscription.subscriber_id == Subscriber.id
        )
    ).all()
    assert sorted((e, s) for e, s, _ in rows) == [
        ("ann@example.no", "active"),
        ("bjorn@example.no", "active"),
        ("siv@example.no", "active"),
    ]
    assert dict((e, t) for e, _, t in rows)["ann@example.no"] == ["Klima", "Forskning"]
    sources = set(session.scalars(select(Consent.text)))
    assert f"already consented: import:liste.csv by {ADMIN}" in sources


def test_export_downloads_every_subscriber_as_csv(page, session):
    make_editors(session)
    factories.subscription(session, "kare@example.no", "Kåre Ødegård")
    factories.subscription(session, "ann@example.no", "Ann", status="pending")
    session.commit()
    _log_in(page)
    page.goto("/admin/subscribers")
    with page.expect_download() as info:
        page.click("#export-link")
    download = info.value
    assert download.suggested_filename == "subscribers.csv"
    with open(download.path(), encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:4] == ["email", "name", "language", "status"]
    assert sorted((r[0], r[1], r[3]) for r in rows[1:]) == [
        ("ann@example.no", "Ann", "pending"),
        ("kare@example.no", "Kåre Ødegård", "active"),
    ]


def test_subscriber_page_and_erase(page, session):
    make_editors(session)
    reader = factories.subscription(session, "kare@example.no", "Kåre Ødegård")
    reader.topics = ["Klima"]
    session.add(
        Consent(
            subscription_id=reader.id,
            action="signup",
            text="Ja, send meg nyhetsbrevet.",
            text_version="2026-11",
            channel="web",
            ip="192.0.2.7",
            user_agent="Firefox",
        )
    )
    session.add(Event(kind="signup", subscription_id=reader.id, data={"channel": "web"}))
    issue = factories.drafted_issue(session)
    session.add(Delivery(issue_id=issue.id, subscription_id=reader.id, status=DeliveryStatus.SENT))
    session.commit()
    subscriber_id = reader.subscriber_id

    _log_in(page)
    page.goto("/admin/subscribers")
    page.fill("#q", "kåre")
    page.click("#search")
    page.wait_for_load_state()
    page.click("text=kare@example.no")
    page.wait_for_load_state()
    assert page.locator("#subscriber-email").inner_text() == "kare@example.no"
    assert "192.0.2.7" in page.locator("#consents").inner_text()
    assert "Sendt" in page.locator("#deliveries").inner_text()
    page.screenshot(path=screenshot_path("admin-subscriber"), full_page=True)

    page.click("#erase")
    page.check("#erase-confirm")
    page.click("#erase-submit")
    page.wait_for_url("**/admin/subscribers")
    assert "slettet" in _flash(page)
    assert "kare@example.no" not in page.content()
    session.expire_all()
    assert session.get(Subscriber, subscriber_id) is None
    assert session.scalar(select(Subscription.id)) is None
    [hashed] = session.scalars(select(Suppression.email_hash)).all()
    assert hashed == suppression_hash("kare@example.no", SECRET)


def test_an_admin_changes_the_topics_and_the_signup_form_offers_them(page, session):
    make_editors(session)
    _log_in(page)
    page.wait_for_url("**/admin/")
    page.click("#nav-settings")
    page.wait_for_url("**/admin/settings")
    assert page.input_value("#settings-topics") == "Innovasjon\nKlima\nForskning"
    # A duplicate is refused next to the field, and what was typed stays to be corrected.
    page.fill("#settings-topics", "Klima\nEnergi\nklima")
    page.click("#save-settings")
    assert "«klima»" in page.locator("#topics-error").inner_text()
    page.fill("#settings-name", "Europakontorets nyhetsbrev")
    page.fill("#settings-topics", "Klima\nEnergi og industri\nForskning")
    page.click("#save-settings")
    page.wait_for_url("**/admin/settings")
    assert "lagret" in _flash(page)
    page.screenshot(path=screenshot_path("admin-settings"), full_page=True)

    page.goto("/subscribe")
    offered = page.eval_on_selector_all("input[name=topics]", "els => els.map(e => e.value)")
    assert offered == ["Klima", "Energi og industri", "Forskning"]
