"""An editor's corrections survive the next poll; the feed's own values stay visible."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer.articles.editing import edit_article, field_states
from mailer.articles.feeds import import_feed
from mailer.articles.models import Article
from mailer.errors import ValidationFailed
from tests.harness.feeds import default_items, rss

pytestmark = pytest.mark.rolled_back


def _article(session, guid: str) -> Article:
    row = session.scalar(select(Article).where(Article.guid == guid))
    assert row is not None
    return row


def test_a_later_poll_never_overwrites_an_edit_but_keeps_the_feed_value(session, rt, feed_server):
    items = default_items()
    feed_server.body = rss(items)
    import_feed(session, rt.settings, feed_server.url)
    article = _article(session, "fjordbyer-klima")
    feed_title = article.title

    changed = edit_article(
        session,
        article.id,
        {"title": "Fjordbyene deler klimaløsninger", "image_alt": "Kaia i Drammen"},
    )
    assert changed == ["title", "image_alt"]
    session.commit()

    # The site changes the title and the summary; only the summary (not edited) follows.
    items[0].title = "Fjordbyer i Drammen: ny tittel fra nettstedet"
    items[0].body_html = "<p>Ny tekst fra nettstedet.</p>"
    feed_server.body = rss(items)
    result = import_feed(session, rt.settings, feed_server.url)
    session.commit()

    assert result.updated == 1
    article = _article(session, "fjordbyer-klima")
    assert article.title == "Fjordbyene deler klimaløsninger"
    assert article.image_alt == "Kaia i Drammen"
    assert article.summary == "Ny tekst fra nettstedet."
    states = {s.name: s for s in field_states(article)}
    assert states["title"].edited and states["title"].feed_value == items[0].title
    assert feed_title != items[0].title
    assert states["image_alt"].edited and states["image_alt"].feed_value == ""
    assert not states["summary"].edited

    # Setting a field back to the feed's value ends the edit: the next poll updates it.
    edit_article(session, article.id, {"title": items[0].title})
    assert article.feed_values == {"image_alt": None}
    items[0].title = "Tredje tittel"
    feed_server.body = rss(items)
    import_feed(session, rt.settings, feed_server.url)
    assert _article(session, "fjordbyer-klima").title == "Tredje tittel"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": "  "}, "title"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"image_url": "ftp://bilder.example.no/a.jpg"}, "image_url"),
        ({"image_caption": "Foto: " + "ø" * 1000}, "image_caption"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(session, rt, feed_server, values, field):
    feed_server.body = rss(default_items())
    import_feed(session, rt.settings, feed_server.url)
    article = _article(session, "innovasjon-brussel")
    before = (article.title, article.url, article.image_url, article.image_caption)
    with pytest.raises(ValidationFailed) as failed:
        edit_article(session, article.id, {"summary": "Ny tekst.", **values})
    assert list(failed.value.errors) == [field]
    assert (article.title, article.url, article.image_url, article.image_caption) == before
    assert article.feed_values is None
    assert "Ny tekst." not in article.summary
