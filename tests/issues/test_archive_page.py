"""The archive (issue 12 items 11 and 17): each issue's page is the mail as sent, without
what speaks to one reader and with a call to sign up; /archive.xml carries the newsletter's
name and a description per item; the 404 page speaks nb and en; http images show on the
pages that show a mail, and only there."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime

import pytest

from mailer.issues.states import IssueStatus
from mailer.site.store import save
from tests.harness import factories
from tests.harness.admin import log_in, make_editors

pytestmark = pytest.mark.rolled_back


@pytest.fixture
def sent_issue(session, rt):  # type: ignore[no-untyped-def]
    save(
        session,
        {"frequency": "én gang i måneden", "description": "Nytt fra Brussel."},
        rt.env_settings,
    )
    issue = factories.drafted_issue(session, articles=2)
    issue.newsletter.name = "Europanytt"
    issue.intro = "Velkommen til **februar**-utgaven."
    issue.items[0].article.image_url = "http://www.kommune.example.no/bilder/bro.jpg"
    issue.status, issue.sent_at = IssueStatus.SENT, datetime.now(UTC)
    session.commit()
    rt.site.invalidate()
    return issue


@pytest.mark.parametrize(
    ("language", "greeting", "because", "call", "self_link"),
    [
        ("nb", "Hei", "Du får denne e-posten", "Vil du få Europanytt på e-post?", "i nettleseren"),
        (
            "en",
            "Hello",
            "You get this email",
            "Would you like Europanytt by email?",
            "in your browser",
        ),
    ],
)
def test_the_archive_page_is_the_mail_without_the_personal_parts(
    client, sent_issue, language, greeting, because, call, self_link
):
    page = client.get(f"/archive/{sent_issue.id}?lang={language}").get_data(as_text=True)
    assert "Sak nummer 0 fra Bærum" in page and "<strong>februar</strong>" in page
    assert not re.search(rf"<p>{greeting}\b", page)
    assert because not in page and self_link not in page
    assert f"/archive/{sent_issue.id}" not in page  # no link to itself
    assert call in page and 'href="https://nyhetsbrev.example.no/subscribe"' in page
    assert "én gang i måneden" in page
    assert "%%" not in page and "/unsubscribe/" not in page and "/preferences/" not in page
    for href in re.findall(r'href="([^"]+)"', page):
        assert href.startswith(("https://", "http://")), href  # every link absolute, working


def test_the_mail_itself_keeps_its_personal_parts(session, rt, sent_issue):
    from mailer.issues.previews import preview_for

    factories.subscription(session, "kari@example.no", "Kari")
    mail = preview_for(session, rt.settings, rt.tokens, sent_issue.id, "kari@example.no")
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hei Kari," in text and f"/archive/{sent_issue.id}" in text
    assert "Vil du få Europanytt" not in text


def test_the_feed_names_the_newsletter_and_describes_each_issue(client, sent_issue):
    feed = client.get("/archive.xml").get_data(as_text=True)
    assert "<title>Europanytt</title>" in feed
    assert "<description>Nytt fra Brussel.</description>" in feed
    [item] = re.findall(r"<item>(.*?)</item>", feed)
    assert "<description>Velkommen til februar-utgaven.</description>" in item


@pytest.mark.parametrize(
    ("language", "title", "sentence"),
    [
        ("nb", "Siden finnes ikke", "Adressen kan være skrevet feil"),
        ("en", "Page not found", "The address may be mistyped"),
    ],
)
def test_the_404_page_speaks_the_readers_language(client, session, language, title, sentence):
    response = client.get(f"/archive/9999?lang={language}")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert f"<h1>{title}</h1>" in page and sentence in page
    assert f'<html lang="{language}">' in page
    assert 'href="/archive"' in page and 'href="/subscribe"' in page


def test_http_images_are_allowed_on_mail_pages_only(client, session, sent_issue):
    def img_src(path: str) -> str:
        csp = client.get(path).headers["Content-Security-Policy"]
        return next(d for d in csp.split("; ") if d.startswith("img-src"))

    assert "http:" in img_src(f"/archive/{sent_issue.id}").split()
    assert "http:" not in img_src("/subscribe").split()
    assert "http:" not in img_src("/archive").split()
    log_in(client, make_editors(session)["editor"])
    assert "http:" in img_src(f"/admin/issues/{sent_issue.id}/preview").split()
    assert "http:" not in img_src("/admin/").split()
