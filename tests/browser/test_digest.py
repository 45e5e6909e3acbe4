"""The digest's HTML in a real Chromium at phone and desktop widths."""

from __future__ import annotations

import pytest

from mailer.issues.drafting import draft_issue
from mailer.sending.claims import Recipient
from mailer.sending.copies import compiled_digest, personal_copy
from tests.conftest import screenshot_path
from tests.harness import factories

WIDTHS = (375, 1200)


def _digest_html(session, rt, language: str) -> str:
    for i, title in enumerate(
        [
            "Fjordbyer deler klimaløsninger på nettverksmøte i Drammen",
            "Ny utlysning i Horisont Europa: frist 14. mars – søk sammen med bedrifter",
            "Innovasjonsuke i Brussel med «smarte byer» og digital forvaltning",
        ]
    ):
        row = factories.article(session, f"b{i}", title, days_ago=i + 1)
        row.image_url = (
            "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='1200' "
            "height='600'><rect width='1200' height='600' fill='%230b5394'/></svg>"
        )
        row.summary = (
            "Kommunene i regionen samarbeider om nye løsninger for klima, helse og "
            "digitalisering – og deler erfaringene med hverandre. " * 2
        )
    issue = draft_issue(session)
    issue.intro = "Her er månedens saker fra Europakontoret i Oslo og Brussel."
    session.commit()
    compiled = compiled_digest(rt.settings, issue, language)
    recipient = Recipient(0, 1, "secret", "kare@example.no", "Kåre Ødegård", language, 0, [])
    message = personal_copy(rt.settings, rt.tokens, compiled, recipient)
    assert message is not None
    import email
    import email.policy

    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    [html] = [p.get_content() for p in parsed.walk() if p.get_content_type() == "text/html"]
    return str(html)


@pytest.mark.parametrize("language", ["nb", "en"])
def test_digest_fits_phone_and_desktop_with_proper_links_and_images(browser, session, rt, language):
    html = _digest_html(session, rt, language)
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.set_content(html)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"horizontal scroll at {width}px: {scroll_width}"
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => ({alt: e.getAttribute('alt'), w: e.clientWidth}))"
        )
        assert len(images) == 3
        assert all(img["alt"] for img in images)
        assert all(img["w"] <= width for img in images)
        hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
        assert hrefs and all(h.startswith(("https://", "http://")) for h in hrefs)
        assert any("/unsubscribe/" in h for h in hrefs)
        assert any("/preferences/" in h for h in hrefs)
        labels = page.eval_on_selector_all(
            "a.more", "els => els.map(e => e.getAttribute('aria-label'))"
        )
        assert len(labels) == 3 and all(":" in label for label in labels)
        page.screenshot(path=screenshot_path(f"digest-{language}-{width}"), full_page=True)
        page.close()


def test_digest_dark_mode_changes_the_colours(browser, session, rt):
    html = _digest_html(session, rt, "nb")
    colours = {}
    for scheme in ("light", "dark"):
        page = browser.new_page(viewport={"width": 600, "height": 900}, color_scheme=scheme)
        page.set_content(html)
        colours[scheme] = page.eval_on_selector(".card", "e => getComputedStyle(e).backgroundColor")
        page.screenshot(path=screenshot_path(f"digest-nb-{scheme}"), full_page=False)
        page.close()
    assert colours["light"] != colours["dark"]
