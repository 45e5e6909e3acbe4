"""The error pages in Chromium, nb and en, each through the axe-core check every browser
test runs (tests/harness/axe.py): 404 (a path, an archive issue), 405 (a POST-only URL
opened) and the CSRF refusal of a tampered sign-up form."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.browser import page_opener, submit


@pytest.fixture
def reader_page(browser) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield from page_opener(browser)


@pytest.mark.parametrize("language", ["nb", "en"])
def test_error_pages_say_what_happened_in_the_readers_language(
    live_server, session, reader_page, language
):
    page = reader_page().page
    for path, status in (("/finnes-ikke", 404), ("/archive/999999", 404), ("/admin/logout", 405)):
        response = page.goto(f"{live_server}{path}?lang={language}")
        assert response is not None and response.status == status, path
        assert page.locator("html").get_attribute("lang") == language
        assert page.locator("h1").count() == 1, path


def test_a_tampered_form_gets_the_error_page_naming_the_field(live_server, session, reader_page):
    watch = reader_page()
    page = watch.page
    page.goto(f"{live_server}/subscribe")
    page.fill("#email", "lesar@example.no")
    page.check("#consent")
    page.evaluate("document.querySelector('[name=csrf_token]').value = 'tampered'")
    submit(page, page.locator("form button[type=submit], form button").last.click)
    assert page.locator("h1").inner_text().startswith("Skjemaet er utløpt eller ugyldig")
    assert page.locator("[data-field=csrf_token]").count() == 1
