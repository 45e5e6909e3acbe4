"""The embed snippet in Debian's Chromium, served by a stand-in CMS on another origin (a
second local HTTP server): it signs a reader up; from an origin not allowed it is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from mailer.subscribers.embed_snippet import embed_snippet
from mailer.subscribers.models import Consent
from tests.harness.browser import TEXT, confirm_from_mail, page_opener, shoot, submit
from tests.harness.http import LocalHTTPServer, QuietHandler
from tests.harness.reader import configure, subscription_of


@pytest.fixture
def reader_page(browser) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield from page_opener(browser)


class CMSServer(LocalHTTPServer):
    """A stand-in for the organisation's CMS on another port (so another origin)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "").encode())

        self.origin = self._serve(Handler)
        self.start()


@pytest.fixture
def cms() -> Iterator[CMSServer]:
    server = CMSServer()
    yield server
    server.stop()


def _cms_page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="nb"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{title}</title>'
        "<style>body{font-family:Georgia,serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
        "color:#222}*{box-sizing:border-box}input[type=email],input[type=text]{width:100%;"
        "padding:.5rem}</style></head>"
        f"<body><header><strong>Europakontoret</strong></header><h1>{title}</h1>{body}</body></html>"
    )


def test_the_embed_snippet_on_another_origin_signs_a_reader_up(
    live_server, session, rt, monkeypatch, cms, reader_page, celery_worker, smtp_sink
):
    assert cms.origin != live_server  # same host, another port: another origin
    configure(rt, monkeypatch, allowed_origins=(cms.origin,))
    snippet = embed_snippet(live_server, "nb", f"{cms.origin}/takk", rt.settings.newsletter_topics)
    cms.pages["/nyheter"] = _cms_page(
        "Nyheter fra Europakontoret", "<p>Få de siste sakene i innboksen.</p>" + snippet
    )
    cms.pages["/takk"] = _cms_page("Takk for påmeldingen!", "<p>Sjekk e-posten din.</p>")
    watch = reader_page()
    page = watch.page
    page.goto(f"{cms.origin}/nyheter")
    shoot(page, "embed-cms")

    page.fill("#newsletter-email", "cms-lesar@example.no")
    page.fill("#newsletter-name", "Åse Ødegård")
    page.check("#newsletter-topic-1")
    page.check("#newsletter-consent")
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"{cms.origin}/takk")

    assert page.locator("h1").inner_text() == "Takk for påmeldingen!"
    shoot(page, "embed-thanks")
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["cms-lesar@example.no"]
    confirm_from_mail(page, mail, live_server, TEXT["nb"])
    subscription = subscription_of(session, "cms-lesar@example.no")
    assert subscription.status == "active"
    assert subscription.topics == ["Klima"]
    assert subscription.subscriber.name == "Åse Ødegård"
    channels = session.scalars(
        select(Consent.channel)
        .where(Consent.subscription_id == subscription.id)
        .order_by(Consent.id)
    ).all()
    assert channels == ["embed", "web"]  # signed up through the snippet, confirmed on our page
    assert watch.problems == []


def test_the_embed_snippet_from_an_origin_not_allowed_is_refused(
    live_server, session, rt, cms, reader_page
):
    cms.pages["/nyheter"] = _cms_page("Nyheter", embed_snippet(live_server, "nb", None))
    page = reader_page().page
    page.goto(f"{cms.origin}/nyheter")
    page.fill("#newsletter-email", "cms-lesar@example.no")
    page.check("#newsletter-consent")
    submit(page, page.locator("form button[type=submit]").click)

    assert page.url == f"{live_server}/subscribe"
    assert page.locator("[data-field=csrf_token]").count() == 1
    shoot(page, "embed-refused")
    session.rollback()
    assert session.scalars(select(Consent)).all() == []


def test_embed_help_page(live_server, session, rt, monkeypatch, reader_page):
    configure(rt, monkeypatch, allowed_origins=("https://www.example.no",))
    page = reader_page().page
    page.goto(f"{live_server}/help/embed")
    assert "https://www.example.no" in page.locator("main ul").inner_text()
    assert page.locator("pre.snippet").count() == 2
    shoot(page, "embed-help")
