"""The reader's pages in Debian's Chromium: sign up (nb and en), field errors, keyboard use,
contrast, confirm through the mail the worker sent, topics, unsubscribe, come back, the GDPR
pages, expired links, the 429 page. Screenshots at 375 and 1200 px."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import itsdangerous.timed
import pytest
from sqlalchemy import select

from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.browser import (
    TEXT,
    assert_good_contrast,
    confirm_from_mail,
    page_opener,
    shoot,
    submit,
)
from tests.harness.reader import configure, link_in, link_token, local, subscription_of


@pytest.fixture
def reader_page(browser) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield from page_opener(browser)


def test_tab_order_reaches_every_field_and_skips_the_honeypot(live_server, session, reader_page):
    watch = reader_page()
    page = watch.page
    page.goto(f"{live_server}/subscribe")
    page.focus("#email")
    order = ["email"]
    for _ in range(7):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.name"))
    assert order == ["email", "name", "language", "topics", "topics", "topics", "consent", ""]
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"
    assert watch.problems == []


@pytest.mark.parametrize("language", ["nb", "en"])
def test_reader_signs_up_confirms_changes_topics_unsubscribes_and_comes_back(
    live_server, session, rt, reader_page, celery_worker, smtp_sink, language
):
    text = TEXT[language]
    email = f"lesar-{language}@example.no"
    watch = reader_page()
    page = watch.page
    page.goto(f"{live_server}/subscribe" + ("?lang=en" if language == "en" else ""))
    assert page.locator("h1").inner_text() == text["title"]
    assert page.locator("html").get_attribute("lang") == language
    assert not page.is_checked("#consent")  # consent is never ticked for the reader
    for field in ("email", "name", "language", "consent"):
        assert page.locator(f"label[for={field}]").count() == 1, field
    shoot(page, f"signup-{language}")

    # A bad address and no consent: errors next to each field, the summary focused.
    page.fill("#email", "ikke-en-adresse")
    page.fill("#name", "Kåre Ødegård")
    page.check("input[name=topics][value=Klima]")
    submit(page, page.locator("form button[type=submit]").click)
    assert text["email_error"] in page.locator("#email-error").inner_text()
    assert page.locator("#consent-error").inner_text() == text["consent_error"]
    assert page.get_attribute("#email", "aria-invalid") == "true"
    assert page.get_attribute("#email", "aria-describedby") == "email-error"
    assert page.get_attribute("#consent", "aria-describedby") == "consent-error"
    assert page.evaluate("document.activeElement.id") == "error-summary"
    # Each error sits right after its field.
    assert page.evaluate("document.querySelector('#email').nextElementSibling.id") == "email-error"
    assert page.input_value("#name") == "Kåre Ødegård"  # what the reader typed is kept
    assert_good_contrast(
        page, ["body", "label[for=email]", "#email-error", "#consent-error", "h1", "nav.lang a"]
    )
    assert_good_contrast(page, ["form button[type=submit]", ".muted", ".summary a"])
    shoot(page, f"signup-errors-{language}")

    # Fixed from the keyboard alone.
    page.focus("#email")
    page.keyboard.press("Control+A")
    page.keyboard.type(email)
    page.focus("#consent")
    page.keyboard.press("Space")
    assert page.is_checked("#consent")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    submit(page, lambda: page.keyboard.press("Enter"))
    assert page.locator("h1").inner_text() == text["done"]
    shoot(page, f"done-{language}")

    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == [email]
    assert mail.message["Subject"].startswith(text["subject"])
    page.goto(local(link_in(mail, "/confirm/"), live_server))
    assert subscription_of(session, email).status == "pending"  # the GET alone confirms nothing
    shoot(page, f"confirm-{language}")
    submit(page, page.get_by_role("button", name=text["confirm"]).click)
    assert page.locator("h1").inner_text() == text["confirmed"]
    shoot(page, f"confirmed-{language}")
    assert subscription_of(session, email).status == "active"

    # What comes next (issue 12 item 9): the archive and the preferences, linked here.
    assert page.locator("#archive-link").get_attribute("href") == "/archive"
    submit(page, page.locator("#preferences-link").click)
    assert email in page.locator("#for-address").inner_text()  # which address this is for
    assert page.is_checked("input[name=topics][value=Klima]")
    shoot(page, f"preferences-{language}")
    page.uncheck("input[name=topics][value=Klima]")
    page.check("input[name=topics][value=Forskning]")
    submit(page, page.get_by_role("button", name=text["save"], exact=True).click)
    assert page.locator(".saved").inner_text() == text["saved"]
    shoot(page, f"preferences-saved-{language}")
    assert subscription_of(session, email).topics == ["Forskning"]

    # The unsubscribe page (from a digest) links back to the preferences.
    subscription_id = subscription_of(session, email).id
    page.goto(f"{live_server}/unsubscribe/{link_token(rt, Purpose.UNSUBSCRIBE, subscription_id)}")
    [href] = page.eval_on_selector_all(
        "main a[href^='/preferences/']", "links => links.map(a => a.getAttribute('href'))"
    )
    preferences_link = rt.tokens.read(Purpose.PREFERENCES, href.removeprefix("/preferences/"))
    assert preferences_link.subscription_id == subscription_id
    shoot(page, f"unsubscribe-{language}")
    submit(page, page.locator("form button[type=submit]").click)
    assert page.locator("h1").inner_text().startswith(text["unsubscribed"])
    shoot(page, f"unsubscribed-{language}")
    assert subscription_of(session, email).status == "unsubscribed"

    # Coming back: the same double opt-in.
    submit(page, page.locator("main a[href='/subscribe']").click)
    page.fill("#email", email)
    if language == "en":
        page.select_option("#language", "en")
    page.check("#consent")
    submit(page, page.locator("form button[type=submit]").click)
    assert page.locator("h1").inner_text() == text["done"]
    second = smtp_sink.wait_for(2)[1]
    assert second.rcpt_tos == [email]
    assert subscription_of(session, email).status == "pending"
    confirm_from_mail(page, second, live_server, text)
    assert subscription_of(session, email).status == "active"
    assert watch.problems == []  # no CSP violation, no script error


def test_accept_language_picks_english(live_server, session, reader_page):
    page = reader_page(locale="en-GB").page
    page.goto(f"{live_server}/subscribe")
    assert page.locator("h1").inner_text() == TEXT["en"]["title"]
    assert page.input_value("#language") == "en"


# --- the other pages: data, erasure, expired links, limits, the embed help ---------------------


def test_gdpr_pages_send_my_data_and_delete_me(
    live_server, session, rt, reader_page, celery_worker, smtp_sink
):
    subscription = factories.subscription(session, "gdpr@example.no", "Gunn Dahl")
    session.commit()
    preferences = (
        f"{live_server}/preferences/{link_token(rt, Purpose.PREFERENCES, subscription.id)}"
    )
    watch = reader_page()
    page = watch.page
    page.goto(preferences)

    submit(page, page.get_by_role("button", name="Send meg dataene mine").click)
    assert page.locator("h1").inner_text() == "Sjekk e-posten din"
    shoot(page, "export-requested")
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["gdpr@example.no"]
    assert "/data/" in mail.part("text/plain")

    page.goto(preferences)
    submit(page, page.get_by_role("link", name="Slett meg").click)
    assert page.locator("h1").inner_text() == "Slette alt vi har lagret om deg?"
    assert subscription_of(session, "gdpr@example.no")  # asking deletes nothing
    shoot(page, "erase-confirm")
    submit(page, page.get_by_role("button", name="Ja, slett meg").click)
    assert page.locator("h1").inner_text() == "Alt vi hadde lagret om deg, er slettet."
    shoot(page, "erased")
    session.rollback()
    from mailer.subscribers.models import Subscriber

    assert session.scalars(select(Subscriber)).all() == []
    assert watch.problems == []


def test_expired_link_page_sends_a_new_link(
    live_server, session, rt, reader_page, celery_worker, smtp_sink, monkeypatch
):
    subscription = factories.subscription(session, "sein@example.no", status="pending")
    session.commit()

    class Past:
        @staticmethod
        def time() -> float:
            return datetime.now(UTC).timestamp() - 8 * 86400

    with monkeypatch.context() as patch:
        patch.setattr(itsdangerous.timed, "time", Past)
        token = link_token(rt, Purpose.CONFIRM, subscription.id)
    page = reader_page().page
    page.goto(f"{live_server}/confirm/{token}")
    assert page.locator("h1").inner_text() == "Lenken har utløpt"
    shoot(page, "link-expired")

    submit(page, page.get_by_role("button", name="Send meg en ny lenke").click)
    assert page.locator("h1").inner_text() == "Sjekk e-posten din"
    shoot(page, "link-resent")
    [mail] = smtp_sink.wait_for(1)
    confirm_from_mail(page, mail, live_server, TEXT["nb"])
    assert subscription_of(session, "sein@example.no").status == "active"


@pytest.mark.parametrize("locale", ["nb-NO", "en-GB"])
def test_too_many_signups_get_a_readable_page(
    live_server, session, rt, monkeypatch, reader_page, locale
):
    configure(rt, monkeypatch, signup_limits="1/minute")
    page = reader_page(locale=locale).page
    language = "nb" if locale.startswith("nb") else "en"
    for _ in range(2):
        page.goto(f"{live_server}/subscribe")
        page.fill("#email", "mange@example.no")
        page.check("#consent")
        submit(page, page.locator("form button[type=submit]").click)
    expected = {"nb": "For mange forespørsler", "en": "Too many requests"}[language]
    assert page.locator("h1").inner_text() == expected
    assert_good_contrast(page, ["h1", "main p"])
    shoot(page, f"too-many-{language}")


def test_the_browser_enforces_the_csp_on_our_pages(live_server, session, reader_page):
    """The control for the "no CSP violation" checks above: an inline script is refused."""
    watch = reader_page()
    page = watch.page
    page.goto(f"{live_server}/subscribe")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'document.title = \"injected\"'; document.head.appendChild(s); }"
    )
    assert page.title() != "injected"
    assert any("Content Security Policy" in problem for problem in watch.problems)
