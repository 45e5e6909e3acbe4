"""Issue 12 part B in Debian's Chromium: an admin fills in the site settings and requires
two-factor; an editor enrols and logs in with a code; a reader sees the newsletter's facts
on the signup page, what comes next after confirming, the address on the preferences page,
the archive copy with an image from an http site. Screenshots (375/1200 px, light/dark)
in test-artifacts/screenshots/month-*.png."""

from __future__ import annotations

import email
import email.policy
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
import segno
from sqlalchemy import select

from mailer.editors.models import Editor
from mailer.issues.previews import preview_for
from mailer.issues.states import IssueStatus
from mailer.tokens import Purpose
from mailer.web.limits import limiter
from tests.conftest import screenshot_path
from tests.harness import factories
from tests.harness.admin import ADMIN, EDITOR, PASSWORD, make_editors
from tests.harness.browser import submit
from tests.harness.http import FeedServer
from tests.harness.reader import link_token, subscription_of

WAIT_MS = 60_000
SHOTS = [(375, "light"), (1200, "light"), (375, "dark"), (1200, "dark")]
WORDS = {
    "nb": {
        "save": "Lagre",
        "code": "Kode fra appen",
        "required": "Administratorene krever tofaktorinnlogging",
        "next": "Neste utgave av Europanytt kommer i innboksen din.",
        "signup_call": "Vil du få Europanytt på e-post?",
    },
    "en": {
        "save": "Save",
        "code": "Code from the app",
        "required": "The administrators require two-factor login",
        "next": "The next issue of Europanytt will arrive in your inbox.",
        "signup_call": "Would you like Europanytt by email?",
    },
}


@pytest.fixture(autouse=True)
def _fresh_limits(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        limiter.reset()


@pytest.fixture
def tab(browser, live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    contexts: list[Any] = []

    def open_tab(locale: str = "nb-NO") -> Any:
        context = browser.new_context(
            base_url=live_server, viewport={"width": 1200, "height": 900}, locale=locale
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and "status of 40" not in m.text
                else None
            ),
        )
        page.problems = problems
        return page

    yield open_tab
    for context in contexts:
        context.close()


def shoot(page: Any, name: str) -> None:
    """Each width and colour scheme; the page must never scroll sideways."""
    for width, scheme in SHOTS:
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": width, "height": 900})
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name}: horizontal scroll at {width}px ({scroll})"
        page.screenshot(path=str(screenshot_path(f"month-{name}-{width}-{scheme}")), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1200, "height": 900})


def _log_in(page: Any, address: str) -> None:
    page.goto("/admin/login")
    page.fill("#email", address)
    page.fill("#password", PASSWORD)
    submit(page, lambda: page.click("button[type=submit]"))


def _set_language(session: Any, address: str, language: str) -> None:
    editor = session.scalar(select(Editor).where(Editor.email == address))
    editor.language = language
    session.commit()


@pytest.mark.parametrize("language", ["nb", "en"])
def test_admin_requires_two_factor_and_an_editor_enrols_and_logs_in_with_a_code(
    tab, session, rt, language
):
    make_editors(session)
    for address in (ADMIN, EDITOR):
        _set_language(session, address, language)
    words = WORDS[language]

    admin = tab()
    _log_in(admin, ADMIN)
    admin.goto("/admin/settings")
    submit(admin, lambda: admin.click("#site-settings-link"))
    assert admin.locator("#site-sender").get_attribute("readonly") is not None  # MAILER_FROM
    admin.fill("#site-organisation", "Europakontoret Oslo–Brussel")
    admin.check("#site-require_two_factor")
    shoot(admin, f"site-settings-{language}")
    submit(admin, lambda: admin.get_by_role("button", name=words["save"], exact=True).click())
    # Saved; the admin has no two-factor either, so even they go to enrolment first.
    assert admin.url.endswith("/admin/account/two-factor")
    assert rt.settings.organisation == "Europakontoret Oslo–Brussel"
    assert rt.settings.site.require_two_factor

    editor = tab()
    _log_in(editor, EDITOR)
    assert editor.url.endswith("/admin/account/two-factor")  # right after the password
    assert words["required"] in editor.locator("#two-factor-required").inner_text()
    assert editor.evaluate("document.querySelector('#qr-code').naturalWidth") > 0
    shoot(editor, f"two-factor-enrol-{language}")
    secret = editor.locator("#totp-secret").inner_text()
    editor.fill("#code", pyotp.TOTP(secret).now())
    submit(editor, lambda: editor.click("#enable-two-factor"))
    codes = editor.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    submit(editor, lambda: editor.click("#codes-done"))
    assert editor.url.endswith("/admin/")

    # Next time: password, then a code; a recovery code works once.
    fresh = tab()
    _log_in(fresh, EDITOR)
    assert fresh.url.endswith("/admin/login/code")
    assert fresh.locator("label[for=code]").count() == 1
    shoot(fresh, f"two-factor-code-{language}")
    fresh.fill("#code", codes[0])
    submit(fresh, lambda: fresh.click("button[type=submit]"))
    assert fresh.url.endswith("/admin/")
    for page in (admin, editor, fresh):
        assert page.problems == []


@pytest.fixture
def http_site() -> Iterator[FeedServer]:
    """A site on plain http (loopback) serving the article's image."""
    server = FeedServer()
    buffer = io.BytesIO()
    segno.make("bilde").save(buffer, kind="png", scale=12)
    server.body, server.content_type = buffer.getvalue(), "image/png"
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_reader_sees_the_newsletters_facts_from_signup_to_archive(
    tab, session, rt, live_server, http_site, language
):
    from mailer.site.store import save

    save(
        session,
        {
            "organisation": "Europakontoret Oslo–Brussel",
            "postal_address": "Rue Belliard 20, 1040 Brussel",
            "description": "Nytt om EU-programmer for regionene på Østlandet.",
            "frequency": "én gang i måneden",
            "privacy_url": "https://www.example.no/personvern",
        },
        rt.env_settings,
    )
    newsletter_issue = factories.drafted_issue(session, articles=2)
    newsletter_issue.newsletter.name = "Europanytt"
    image = http_site.url.replace("/feed.xml", "/bilde.png")
    newsletter_issue.items[0].article.image_url = image
    session.commit()
    rt.site.invalidate()
    words = WORDS[language]
    page = tab("nb-NO" if language == "nb" else "en-GB")

    page.goto("/subscribe")
    assert page.locator("#about .name").inner_text() == "Europanytt"
    assert "én gang i måneden" in page.locator("#about").inner_text()
    assert (
        page.locator("#privacy-link").get_attribute("href") == "https://www.example.no/personvern"
    )
    topics_border = page.evaluate(
        "getComputedStyle(document.querySelector('#topics')).borderTopStyle"
    )
    assert topics_border == "solid"
    shoot(page, f"signup-{language}")

    reader = factories.subscription(
        session, f"lesar-{language}@example.no", status="pending", language=language
    )
    session.commit()
    page.goto(f"/confirm/{link_token(rt, Purpose.CONFIRM, reader.id)}")
    submit(page, lambda: page.locator("form button[type=submit]").click())
    assert page.locator("#what-next").inner_text().startswith(words["next"])
    shoot(page, f"confirmed-{language}")
    submit(page, lambda: page.click("#preferences-link"))
    assert f"lesar-{language}@example.no" in page.locator("#for-address").inner_text()
    shoot(page, f"preferences-{language}")
    assert subscription_of(session, f"lesar-{language}@example.no").status == "active"

    newsletter_issue = session.merge(newsletter_issue)
    newsletter_issue.status, newsletter_issue.sent_at = IssueStatus.SENT, datetime.now(UTC)
    session.commit()
    page.goto(f"/archive/{newsletter_issue.id}?lang={language}")
    assert words["signup_call"] in page.locator("body").inner_text()
    img = page.locator(f"img[src='{image}']")
    assert img.evaluate("el => el.complete && el.naturalWidth") > 0  # an http image shows
    shoot(page, f"archive-{language}")
    assert page.problems == []

    # The digest itself, as the reader gets it.
    mail = preview_for(
        session, rt.settings, rt.tokens, newsletter_issue.id, reader.subscriber.email
    )
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Rue Belliard 20, 1040 Brussel" in html
    page.set_content(re.sub(r"<img [^>]*>", "", html))  # about:blank has no http image rights
    shoot(page, f"digest-{language}")


def test_an_admin_writes_the_english_texts_and_an_english_reader_sees_them(tab, session, rt):
    """The description and frequency per language (issue 12: every item in nb and en): the
    English fields of /admin/settings/site reach /subscribe?lang=en, the Norwegian ones
    /subscribe in Norwegian. Fails when the signup page shows one text to both."""
    make_editors(session)
    admin = tab()
    _log_in(admin, ADMIN)
    admin.goto("/admin/settings/site")
    admin.fill("#site-description", "Nytt om EU-programmer for regionene på Østlandet.")
    admin.fill("#site-frequency", "én gang i måneden")
    admin.fill("#site-description_en", "News on EU programmes for the regions of Eastern Norway.")
    admin.fill("#site-frequency_en", "once a month")
    assert "norske teksten" in admin.locator("#description_en-hint").inner_text()
    submit(admin, lambda: admin.get_by_role("button", name="Lagre", exact=True).click())
    assert admin.url.endswith("/admin/settings/site")
    assert admin.locator("#site-description_en").input_value().startswith("News on EU")

    english = tab("en-GB")
    english.goto("/subscribe?lang=en")
    about = english.locator("#about").inner_text()
    assert "News on EU programmes for the regions of Eastern Norway." in about
    assert "once a month" in about and "Østlandet" not in about
    shoot(english, "signup-english-texts")

    norwegian = tab()
    norwegian.goto("/subscribe")
    about = norwegian.locator("#about").inner_text()
    assert "regionene på Østlandet" in about and "én gang i måneden" in about
    assert "Eastern Norway" not in about
    for page in (admin, english, norwegian):
        assert page.problems == []
