"""The accessibility check itself (tests/harness/axe.py): pages with known WCAG violations,
served here on loopback under a strict CSP (bypassed or enforced), fail the browser test
that visits them, reached by goto, a link, a form submit or set_content; a clean page
passes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.harness import axe

HEAD = '<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>{}</title></head>'
PAGES = {
    "/good": HEAD.format("Bra") + '<body><main><h1>Bra</h1><p><a href="/no-alt">Bilde</a></p>'
    '<form method="post" action="/no-label"><label for="e">E-post</label>'
    '<input id="e" name="e"><button>Send</button></form></main></body></html>',
    "/no-alt": HEAD.format("Bilde") + '<body><main><h1>Bilde</h1><img src="/x.png">'
    "</main></body></html>",
    "/no-label": HEAD.format("Skjema") + '<body><main><h1>Feil</h1><input name="e">'
    "</main></body></html>",
    "/no-lang": "<!doctype html><html><head><title>Uten språk</title></head>"
    "<body><main><h1>Hei</h1></main></body></html>",
}


class Handler(BaseHTTPRequestHandler):
    def _send(self) -> None:
        body = PAGES.get(self.path.split("?")[0], "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        # As strict as the app's: axe is injected all the same (bypass_csp).
        self.send_header("Content-Security-Policy", "default-src 'none'; img-src 'self'")
        self.end_headers()
        self.wfile.write(body)

    do_GET = _send
    do_POST = _send

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(params=[True, False], ids=["bypass_csp", "csp_enforced"])
def bypass(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def visit_and_close(browser: Any, action: Any, bypass: bool = True) -> str:
    context = browser.new_context(bypass_csp=bypass)
    page = context.new_page()
    action(page)
    with pytest.raises(AssertionError) as failure:
        context.close()
    return str(failure.value)


def test_a_clean_page_passes_and_is_checked_once(browser, site):
    axe.CHECKED_URLS.clear()
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{site}/good")
    assert page.locator("h1").inner_text() == "Bra"
    context.close()  # no violation, no AssertionError
    assert axe.CHECKED_URLS == [f"{site}/good"]


def test_an_image_without_alt_fails_with_rule_impact_target_and_url(browser, site, bypass):
    message = visit_and_close(browser, lambda page: page.goto(f"{site}/no-alt"), bypass)
    assert f"{site}/no-alt: image-alt (critical)" in message
    assert "-> img" in message


def test_a_page_reached_by_a_link_is_checked(browser, site):
    def follow(page: Any) -> None:
        page.goto(f"{site}/good")
        page.get_by_role("link", name="Bilde").click()
        page.wait_for_url("**/no-alt")

    assert f"{site}/no-alt: image-alt" in visit_and_close(browser, follow)


def test_an_error_page_after_a_form_submit_is_checked(browser, site):
    def submit(page: Any) -> None:
        page.goto(f"{site}/good")
        with page.expect_navigation():
            page.get_by_role("button", name="Send").click()

    assert f"{site}/no-label: label (critical)" in visit_and_close(browser, submit)


def test_a_missing_lang_fails_in_a_page_from_browser_new_page(browser, site):
    page = browser.new_page()
    page.goto(f"{site}/no-lang")
    with pytest.raises(AssertionError, match="html-has-lang"):
        page.close()


def test_a_violation_in_a_context_the_test_leaves_open_is_found_at_the_end(browser, site):
    context = browser.new_context()
    context.new_page().goto(f"{site}/no-alt")
    found = axe.unreported()  # what the autouse fixture runs after every test
    context.close()
    assert any("image-alt" in line for line in found), found


def test_content_set_on_a_page_is_checked(browser):
    """As the mail tests show a mail's HTML: set_content is a load like any other."""
    message = visit_and_close(
        browser, lambda page: page.set_content('<html lang="nb"><title>T</title><img src="">')
    )
    assert "about:blank: image-alt" in message
