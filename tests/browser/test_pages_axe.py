"""The pages no other browser test opens, so that axe-core (tests/harness/axe.py) checks
every reader and admin page: the archive list, the admin's account, password, editors,
tokens, issue list, preview (and its error states), send, a 404 in the admin, subscriber
import and erase pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailer.web.limits import limiter
from tests.harness import axe, factories
from tests.harness.admin import ADMIN, PASSWORD, make_editors


@pytest.fixture
def page(browser, live_server, app) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with app.app_context():
        limiter.reset()
    context = browser.new_context(base_url=live_server, locale="nb-NO")
    tab = context.new_page()
    yield tab
    context.close()


def test_every_remaining_page_opens_with_one_heading(page, session, live_server):
    axe.CHECKED_URLS.clear()
    make_editors(session)
    subscriber_id = factories.subscription(session, "kare@example.no", "Kåre").subscriber_id
    issue = factories.drafted_issue(session, articles=2)
    page.goto("/admin/login")
    page.fill("#email", ADMIN)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith("/admin/")
    paths = [
        ("/archive", 200),
        ("/admin/account", 200),
        ("/admin/account/password", 200),
        ("/admin/editors", 200),
        ("/admin/tokens", 200),
        ("/admin/issues", 200),
        (f"/admin/issues/{issue.id}/preview?as=kare@example.no", 200),
        (f"/admin/issues/{issue.id}/preview", 400),  # the error state: no address given
        (f"/admin/issues/{issue.id}/preview?as=ikke-en-adresse", 400),
        (f"/admin/issues/{issue.id}/send", 200),
        (f"/admin/issues/{issue.id}/deliveries", 404),  # a draft has none: the 404 page
        ("/admin/subscribers/import", 200),
        (f"/admin/subscribers/{subscriber_id}/erase", 200),
    ]
    for path, status in paths:
        response = page.goto(path)
        assert response is not None and response.status == status, path
        assert page.locator("h1").count() == 1, path
    page.goto("/admin/")  # leaving the last page checks it
    checked = {url.removeprefix(live_server) for url in axe.CHECKED_URLS}
    assert {path for path, _ in paths} <= checked
