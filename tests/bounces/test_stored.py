"""The page of one stored report (/admin/bounces/<id>): kind, status, time, the delivery and
reader it matched, and what was kept of it, as text (never rendered as HTML); linked from
the dashboard's unrecognised mail and from the reader's events; in nb and en."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from mailer.bounces import service
from mailer.bounces.models import BounceReport
from mailer.editors.models import Editor
from tests.bounces import reports
from tests.bounces.scenario import send_digest
from tests.harness.admin import log_in, make_editors

pytestmark = pytest.mark.rolled_back

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _judge(session, rt, raw: bytes, envelope_to: str = "") -> BounceReport:
    stored = service.store_report(session, rt.settings, "smtp", raw, envelope_to=envelope_to)
    service.process_report(session, rt.settings, rt.tokens, stored.report_id)
    return session.get(BounceReport, stored.report_id)


def _hard_bounce(session, rt, smtp_sink):
    issue, copies = send_digest(session, rt, smtp_sink, ["borte@example.no"])
    gone = copies["borte@example.no"]
    report = _judge(
        session,
        rt,
        reports.dsn(
            to=gone.verp,
            recipient="borte@example.no",
            diagnostic=f"smtp; 550 5.1.1 no such user {HOSTILE}",
        ),
        gone.verp,
    )
    assert report.kind == "hard"
    return issue, gone, report


def test_a_matched_report_shows_its_match_and_its_content_as_text(session, rt, smtp_sink, client):
    issue, gone, report = _hard_bounce(session, rt, smtp_sink)
    ids = make_editors(session)
    response = log_in(client, ids["editor"]).get(f"/admin/bounces/{report.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="report-kind">Permanent avvist<' in html
    assert 'id="report-status">Behandlet<' in html
    assert f'href="/admin/subscribers/{gone.subscription.subscriber_id}"' in html
    assert "borte@example.no" in html and "Avvist (bounce)" in html
    assert f'href="/admin/issues/{issue.id}"' in html
    assert "(Avvist)" in html  # the copy's delivery state
    # The stored DSN part, escaped: the hostile diagnostic is text, in the facts and below.
    assert "Final-Recipient: rfc822; borte@example.no" in html
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # Never the returned body with the reader's personal links.
    assert "PERSONAL-TOKEN" not in html


def test_the_page_speaks_english_to_an_english_editor(session, rt, smtp_sink, client):
    _, _, report = _hard_bounce(session, rt, smtp_sink)
    ids = make_editors(session)
    session.execute(update(Editor).where(Editor.id == ids["editor"]).values(language="en"))
    session.commit()
    html = log_in(client, ids["editor"]).get(f"/admin/bounces/{report.id}").get_data(as_text=True)
    assert 'id="report-kind">Bounced for good<' in html
    assert f"Bounce report {report.id}" in html
    assert "Permanent avvist" not in html and "Returrapport" not in html


def test_the_reader_page_and_the_dashboard_link_to_their_reports(session, rt, smtp_sink, client):
    _, gone, report = _hard_bounce(session, rt, smtp_sink)
    unread = _judge(
        session, rt, f"From: x@example.net\r\nSubject: {HOSTILE}\r\n\r\nHei\r\n".encode()
    )
    assert unread.status == "unrecognised"
    ids = make_editors(session)
    log_in(client, ids["editor"])
    reader = client.get(f"/admin/subscribers/{gone.subscription.subscriber_id}")
    assert f'href="/admin/bounces/{report.id}"' in reader.get_data(as_text=True)
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert f'href="/admin/bounces/{unread.id}"' in dashboard
    assert "<script>" not in dashboard
    page = client.get(f"/admin/bounces/{unread.id}").get_data(as_text=True)
    assert 'id="report-status">Ukjent format<' in page
    assert 'id="report-reader">Ingen funnet<' in page
    assert "<script>" not in page and "Subject: &lt;script&gt;" in page


def test_an_unknown_report_is_404_and_the_page_needs_a_login(session, rt, client):
    assert client.get("/admin/bounces/1").status_code == 302  # to the login
    ids = make_editors(session)
    log_in(client, ids["editor"])
    assert client.get("/admin/bounces/999999").status_code == 404
    assert client.get(f"/admin/bounces/{2**40}").status_code == 404
