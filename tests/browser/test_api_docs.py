"""The API's docs page in Debian's Chromium: readable at phone and desktop width, no script
or CSP error, and every request it makes goes to our own server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.harness.browser import page_opener, shoot


@pytest.fixture
def docs_page(browser) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield from page_opener(browser)


def test_the_docs_page_is_readable_and_loads_only_from_us(live_server, session, docs_page):
    watch = docs_page("en-GB")
    page = watch.page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live_server}/api/v1/docs")

    assert page.locator("h1").inner_text() == "mailer API 1"
    page.get_by_role("link", name="POST /api/v1/issues/{issue_id}/send").first.click()
    assert page.url.endswith("#post__api_v1_issues_{issue_id}_send")
    assert page.locator("#schema-IssueDetail pre").is_visible()
    shoot(page, "api-docs")
    ours = urlsplit(live_server).netloc
    assert requested and {urlsplit(url).netloc for url in requested} == {ours}
    assert watch.problems == []
