"""Images in the digest: each links to its article, a «Foto:» credit keeps its prefix, and
an image without a caption keeps the normal space before the headline."""

from __future__ import annotations

import re

import pytest

from mailer.issues.rendering import render_digest
from tests.harness import factories

pytestmark = pytest.mark.rolled_back


def _image_tags(html_doc: str) -> list[tuple[str, str]]:
    """(link href around the image, the img tag) for every hero image."""
    return re.findall(r'<a href="([^"]+)"[^>]*>\s*(<img[^>]*class="hero[^"]*"[^>]*>)', html_doc)


@pytest.mark.parametrize("language", ["nb", "en"])
def test_images_link_to_the_article_and_captions_keep_the_credit(session, rt, language):
    with_caption = factories.article(session, "havn", "Havnesamarbeid i Moss", days_ago=1)
    with_caption.image_url = "https://europakontor.example.no/bilder/havn.jpg"
    with_caption.image_alt = "Kaia i Moss"
    with_caption.image_caption = "Foto: Mari Løvås"
    bare = factories.article(session, "sykkel", "Sykkelby Hamar", days_ago=2)
    bare.image_url = "https://europakontor.example.no/bilder/sykkel.jpg"
    issue = factories.drafted_issue(session, articles=0)

    _, text, html_doc = render_digest(rt.settings, issue, language)

    images = _image_tags(html_doc)
    assert [href for href, _ in images] == [with_caption.url, bare.url]
    assert "Foto: Mari Løvås</p>" in html_doc
    captioned, plain = (tag for _, tag in images)
    # The caption sits close under its picture; a picture alone gets a paragraph's space.
    assert re.search(r"margin-bottom:\s*4px", captioned)
    assert re.search(r"margin:\s*0 0 12px", plain) and "4px" not in plain
