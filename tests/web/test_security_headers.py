"""Security headers on every page, token pages without Referer, no inline script anywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.reader import SITE, configure, link_token

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

ROOT = Path(__file__).resolve().parents[2]
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' https: data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@pytest.fixture
def tokens(rt, session):  # type: ignore[no-untyped-def]
    subscription = factories.subscription(session, "kari@example.no", "Kari")
    session.commit()
    return {purpose: link_token(rt, purpose, subscription.id) for purpose in Purpose}


def _pages(tokens) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [
        ("GET", "/subscribe"),
        ("GET", "/subscribe?lang=en"),
        ("GET", "/archive"),
        ("GET", "/healthz"),
        ("GET", "/help/embed"),
        ("GET", "/no-such-page"),
        ("GET", "/static/site.css"),
        ("POST", "/subscribe"),  # no CSRF token: the 400 page
        ("POST", "/api/v1/subscribers"),
        ("GET", f"/confirm/{tokens[Purpose.CONFIRM]}"),
        ("GET", f"/unsubscribe/{tokens[Purpose.UNSUBSCRIBE]}"),
        ("GET", f"/preferences/{tokens[Purpose.PREFERENCES]}"),
        ("GET", f"/erase/{tokens[Purpose.PREFERENCES]}"),
        ("GET", f"/data/{tokens[Purpose.EXPORT]}"),
        ("GET", "/confirm/forged"),
    ]


def _request(client, method: str, path: str):  # type: ignore[no-untyped-def]
    if method == "POST" and path.startswith("/api/"):
        return client.post(path, json={"email": "x"})
    return client.open(path, method=method)


def test_every_page_sends_the_security_headers(client, session, tokens):
    for method, path in _pages(tokens):
        response = _request(client, method, path)
        headers = response.headers
        assert headers["Content-Security-Policy"] == CSP, path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "no-referrer")


def test_token_pages_send_no_referrer_and_are_not_cached(client, session, tokens):
    for method, path in _pages(tokens):
        response = _request(client, method, path)
        is_token_page = path.startswith(
            ("/confirm/", "/unsubscribe/", "/preferences/", "/data/", "/erase/")
        )
        expected = "no-referrer" if is_token_page else "strict-origin-when-cross-origin"
        assert response.headers["Referrer-Policy"] == expected, path
        if is_token_page:
            assert response.headers["Cache-Control"] == "no-store", path


def test_erase_page_sends_no_referrer_either(client, session, tokens):
    response = client.get(f"/erase/{tokens[Purpose.PREFERENCES]}")
    assert response.status_code == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_signup_pages_may_be_framed_by_allowed_origins_only(
    client, session, tokens, rt, monkeypatch
):
    configure(rt, monkeypatch, allowed_origins=(SITE,))

    signup = client.get("/subscribe")
    preferences = client.get(f"/preferences/{tokens[Purpose.PREFERENCES]}")
    unsubscribe = client.get(f"/unsubscribe/{tokens[Purpose.UNSUBSCRIBE]}")

    assert f"frame-ancestors 'self' {SITE}" in signup.headers["Content-Security-Policy"]
    assert f"form-action 'self' {SITE};" in signup.headers["Content-Security-Policy"]
    assert signup.headers["X-Frame-Options"] == "SAMEORIGIN"
    for page in (preferences, unsubscribe):
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Frame-Options"] == "DENY"


def test_without_allowed_origins_no_page_may_be_framed(client, session):
    assert "frame-ancestors 'none'" in client.get("/subscribe").headers["Content-Security-Policy"]


# --- no inline script: CSP forbids it, so a template with one would simply break ---------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def test_no_template_has_an_inline_script_an_event_handler_or_a_javascript_url():
    templates = sorted((ROOT / "templates" / "web").rglob("*.html"))
    assert len(templates) > 10
    for template in templates:
        text = template.read_text()
        assert not INLINE_SCRIPT.search(text), template
        assert not EVENT_HANDLER.search(text), template
        assert not JS_URL.search(text), template


def test_the_patterns_above_would_catch_one():
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert not INLINE_SCRIPT.search('<script src="/static/a.js" defer></script>')
    assert EVENT_HANDLER.search('<button onclick="go()">')
    assert JS_URL.search('<a href="javascript:go()">')


def test_rendered_reader_pages_have_no_inline_script(client, session, tokens):
    for method, path in _pages(tokens):
        body = _request(client, method, path).get_data(as_text=True)
        assert not INLINE_SCRIPT.search(body), path
        assert not EVENT_HANDLER.search(body), path
