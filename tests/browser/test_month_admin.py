"""The first month in a real office, in the admin (issue 12, part A), in Debian's Chromium
against the app on a real HTTP server: each test runs in nb and in en."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import update

from mailer.editors.models import Editor
from mailer.web.limits import limiter
from tests.conftest import screenshot_path
from tests.harness import factories
from tests.harness.admin import ADMIN, PASSWORD, make_editors

WAIT_MS = 20_000
LANGS = ["nb", "en"]
WORDS = {
    "nb": {
        "edit": "Rediger",
        "save": "Lagre",
        "saved": "Artikkelen er lagret.",
        "edited": "Endret",
        "from_feed": "Fra strømmen:",
        "title": "Tittel",
        "url": "Adresse",
        "not_url": "Skriv en fullstendig adresse",
    },
    "en": {
        "edit": "Edit",
        "save": "Save",
        "saved": "The article is saved.",
        "edited": "Edited",
        "from_feed": "From the feed:",
        "title": "Title",
        "url": "Address",
        "not_url": "Enter a full address",
    },
}


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        limiter.reset()


@pytest.fixture
def open_admin(browser, live_server, session) -> Iterator[Callable[[str], Any]]:
    """open_admin(language) → a logged-in tab whose editor reads that language."""
    contexts = []

    def open_tab(language: str, width: int = 1280) -> Any:
        make_editors(session)
        session.execute(update(Editor).where(Editor.email == ADMIN).values(language=language))
        session.commit()
        context = browser.new_context(
            base_url=live_server,
            viewport={"width": width, "height": 900},
            locale="nb-NO" if language == "nb" else "en-GB",
        )
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(WAIT_MS)
        tab.goto("/admin/login")
        tab.fill("#email", ADMIN)
        tab.fill("#password", PASSWORD)
        with tab.expect_navigation():
            tab.click("button[type=submit]")
        return tab

    yield open_tab
    for context in contexts:
        context.close()


@pytest.mark.parametrize("language", LANGS)
def test_an_editor_corrects_an_article_and_sees_what_the_feed_says(open_admin, session, language):
    words = WORDS[language]
    article = factories.article(session, "klima", "Fjordbyer deler klimaløsninger")
    session.commit()
    page = open_admin(language)

    page.goto("/admin/articles")
    row = page.locator(f"tr[data-article='{article.id}']")
    row.get_by_role("link", name=words["edit"]).click()
    page.wait_for_url(f"**/admin/articles/{article.id}/edit")
    page.get_by_label(words["title"], exact=True).fill("Fjordbyene deler klimaløsninger")
    with page.expect_navigation():
        page.get_by_role("button", name=words["save"]).click()

    assert words["saved"] in page.locator(".flash").first.inner_text()
    title_field = page.locator(".field[data-field='title']")
    assert words["edited"] in title_field.locator("label").inner_text()
    assert title_field.locator(".feed-value").inner_text() == (
        f"{words['from_feed']} «Fjordbyer deler klimaløsninger»"
    )
    assert page.locator(".field.edited").count() == 1
    session.refresh(article)
    assert article.title == "Fjordbyene deler klimaløsninger"

    # A link that is not http(s) is refused, with the field named, and nothing changes.
    page.get_by_label(words["url"], exact=True).fill("javascript:alert(1)")
    # The edited field's label now carries its "edited" mark as well.
    page.get_by_label(f"{words['title']} {words['edited']}", exact=True).fill("Skal ikke lagres")
    page.evaluate("document.getElementById('article-form').noValidate = true")
    with page.expect_navigation():
        page.get_by_role("button", name=words["save"]).click()
    errors = page.locator("#errors").inner_text()
    assert words["url"] in errors and words["not_url"] in errors
    session.refresh(article)
    assert article.title == "Fjordbyene deler klimaløsninger"
    assert article.url.startswith("https://")

    page.goto("/admin/articles")
    assert words["edited"] in page.locator(f"tr[data-article='{article.id}']").inner_text()
    page.screenshot(path=str(screenshot_path(f"admin-articles-edited-{language}")))
