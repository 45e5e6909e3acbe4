"""Feed import against a real HTTP server and the real database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.articles import feeds
from mailer.articles.feeds import FeedError, clean_text, import_feed, shorten
from mailer.articles.models import Article, Feed
from tests.harness.feeds import (
    CLOAK_NOTICE,
    Item,
    announcement_items,
    atom,
    default_items,
    rss,
)
from tests.harness.processes import free_port

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

HTML_PAGE = (
    b"<!DOCTYPE html><html lang='nb'><head><meta charset='utf-8'>"
    b"<title>Europakontoret \xe2\x80\x93 nyheter</title></head>"
    b"<body><h1>Nyheter</h1><p>Her kommer snart en oversikt.</p></body></html>"
)


def _articles(session: Session, source: str | None = None) -> dict[str, Article]:
    session.expire_all()
    query = select(Article)
    if source is not None:
        query = query.where(Article.source == source)
    return {a.url: a for a in session.scalars(query)}


def _article_count(rt) -> int:
    # A fresh session: what another process would see once the caller committed.
    with rt.db.session() as other:
        return int(other.scalar(select(func.count()).select_from(Article)) or 0)


def _stored_error(rt, url: str) -> str | None:
    with rt.db.session() as other:
        return other.scalar(select(Feed.last_error).where(Feed.url == url))


def _assert_plain_summary(summary: str) -> None:
    for fragment in ("<", ">", "&amp;", "&lt;", "&gt;", "&quot;", "&#"):
        assert fragment not in summary, summary
    for fragment in ("document.getElementById", "innerHTML", "cloak1", "<script"):
        assert fragment not in summary, summary
    assert CLOAK_NOTICE not in summary
    assert "beskyttet mot programmer" not in summary
    assert "javaskript" not in summary
    assert summary == summary.strip() and "  " not in summary


def _assert_imported(session: Session, url: str, items: list[Item], guid_prefix: str = "") -> None:
    stored = _articles(session)
    assert sorted(stored) == sorted(item.link for item in items)
    for item in items:
        article = stored[item.link]
        assert article.source == url
        assert article.guid == guid_prefix + item.guid
        assert article.title == item.title
        assert article.published_at.tzinfo is not None
        assert article.published_at.utcoffset().total_seconds() == 0
        assert article.published_at == item.published.replace(microsecond=0)
        assert article.topics == item.categories
        _assert_plain_summary(article.summary)


def _expected_summaries() -> dict[str, str]:
    base = "https://europakontor.example.no/nyheter/"
    return {
        base + "fjordbyer-klima": (
            "Tolv kommuner møttes i Drammen for å utveksle erfaringer med klimatilpasning "
            "langs fjorden. «Vi lærer mest av hverandre», sa leder for nettverket, "
            "Åse Løvås."
        ),
        base + "innovasjon-brussel": (
            "Under innovasjonsuka i Brussel presenterte fem norske kommuner prosjekter om "
            "smarte byer & digital forvaltning."
        ),
    }


# --- importing ---------------------------------------------------------------------------


def test_rss_import_stores_clean_articles(session, feed_server, rt):
    items = default_items()
    feed_server.body = rss(items)

    result = import_feed(session, rt.settings, feed_server.url)
    session.commit()

    assert (result.new, result.updated, result.unchanged, result.not_modified) == (3, 0, 0, False)
    _assert_imported(session, feed_server.url, items)
    stored = _articles(session)
    for link, summary in _expected_summaries().items():
        assert stored[link].summary == summary
    horisont = stored[items[1].link].summary
    assert horisont.startswith(
        "Forskningsmiljøer i regionen kan nå søke om midler til samarbeidsprosjekter innen "
        "helse og teknologi – søknadsfristen er 14. mars. Kontakt rådgiver Bjørn Ærø"
    )
    feed = session.scalar(select(Feed).where(Feed.url == feed_server.url))
    assert feed is not None and feed.last_error is None and feed.etag
    assert feed_server.requests[0]["User-Agent"] == feeds.USER_AGENT


def test_atom_import_stores_the_same_articles(session, feed_server, rt):
    items = default_items()
    feed_server.body = atom(items)
    feed_server.content_type = "application/atom+xml; charset=utf-8"

    result = import_feed(session, rt.settings, feed_server.url)
    session.commit()

    assert (result.new, result.updated, result.unchanged) == (3, 0, 0)
    _assert_imported(session, feed_server.url, items, guid_prefix="urn:europakontor:")
    stored = _articles(session)
    for link, summary in _expected_summaries().items():
        assert stored[link].summary == summary


def test_titles_and_block_text_are_unescaped_and_spaced(session, feed_server, rt):
    [item] = announcement_items()
    feed_server.body = rss([item])

    import_feed(session, rt.settings, feed_server.url)
    session.commit()

    [article] = _articles(session).values()
    assert article.title == "Forskning & innovasjon: «Horisont Europa» åpner ny runde"
    # Headings, paragraphs, line breaks and list items stay separate words.
    assert article.summary == (
        "Søknadsfrist 2. februar Kommunene på Østlandet kan søke sammen med bedrifter & "
        "universiteter. Spørsmål? Ring Ærøy på kontoret. Klima Helse"
    )
    assert article.topics == ["Forskning", "Innovasjon"]


# --- dedupe and conditional GET ----------------------------------------------------------


def test_importing_twice_stores_each_item_once(session, rt, feed_server):
    items = default_items()
    feed_server.body = rss(items)
    first = import_feed(session, rt.settings, feed_server.url)
    session.commit()
    ids = {link: a.id for link, a in _articles(session).items()}

    items[0].body_html = "<p>Oppdatert: nettverket møtes igjen i Tønsberg til våren.</p>"
    feed_server.body = rss(items)
    second = import_feed(session, rt.settings, feed_server.url)
    session.commit()

    assert first.new == 3
    assert (second.new, second.updated, second.unchanged, second.not_modified) == (0, 1, 2, False)
    stored = _articles(session)
    assert {link: a.id for link, a in stored.items()} == ids
    assert stored[items[0].link].summary == (
        "Oppdatert: nettverket møtes igjen i Tønsberg til våren."
    )

    # Same items, another channel title: a full fetch that changes no article.
    feed_server.body = rss(items, title="Europakontoret – alle nyheter")
    third = import_feed(session, rt.settings, feed_server.url)
    session.commit()
    assert (third.new, third.updated, third.unchanged, third.not_modified) == (0, 0, 3, False)
    assert _article_count(rt) == 3


def test_entry_without_guid_dedupes_by_link(session, feed_server, rt):
    items = default_items()
    body = rss(items)
    without_guid = re.sub(rb"\s*<guid[^>]*>[^<]*</guid>", b"", body)
    assert b"<guid" not in without_guid and without_guid != body
    feed_server.body = without_guid

    first = import_feed(session, rt.settings, feed_server.url)
    session.commit()
    assert first.new == 3
    assert {a.guid for a in _articles(session).values()} == {item.link for item in items}

    items[2].body_html = "<p>Fem kommuner – og én fylkeskommune – deltok.</p>"
    feed_server.body = re.sub(rb"\s*<guid[^>]*>[^<]*</guid>", b"", rss(items))
    second = import_feed(session, rt.settings, feed_server.url)
    session.commit()

    assert (second.new, second.updated, second.unchanged) == (0, 1, 2)
    stored = _articles(session)
    assert len(stored) == 3
    assert stored[items[2].link].summary == "Fem kommuner – og én fylkeskommune – deltok."


def test_second_fetch_is_conditional_and_304_changes_nothing(session, feed_server, rt):
    feed_server.body = rss(default_items())
    import_feed(session, rt.settings, feed_server.url)
    session.commit()
    before = {
        link: (a.id, a.title, a.summary, a.published_at, a.topics)
        for link, a in _articles(session).items()
    }
    feed = session.scalar(select(Feed).where(Feed.url == feed_server.url))
    assert feed is not None
    etag = feed.etag
    assert etag and "If-None-Match" not in feed_server.requests[0]

    result = import_feed(session, rt.settings, feed_server.url)
    session.commit()

    assert len(feed_server.requests) == 2
    assert feed_server.requests[1].get("If-None-Match") == etag
    assert result.not_modified is True
    assert (result.new, result.updated, result.unchanged) == (0, 0, 0)
    after = {
        link: (a.id, a.title, a.summary, a.published_at, a.topics)
        for link, a in _articles(session).items()
    }
    assert after == before
    session.expire_all()
    feed = session.scalar(select(Feed).where(Feed.url == feed_server.url))
    assert feed is not None and feed.etag == etag and feed.last_error is None


# --- bad feeds: a clear FeedError, no article, the error kept on the feed row -------------


def _import_fails(session: Session, rt, url: str) -> FeedError:
    with pytest.raises(FeedError) as caught:
        import_feed(session, rt.settings, url)
    session.commit()  # as `mailer articles import-feed` does: keep the error on the feed row
    assert _article_count(rt) == 0
    assert _stored_error(rt, url) == str(caught.value)
    return caught.value


def test_html_page_is_not_a_feed(session, rt, feed_server):
    feed_server.content_type = "text/html; charset=utf-8"
    feed_server.body = HTML_PAGE

    error = _import_fails(session, rt, feed_server.url)

    assert str(error).startswith(f"{feed_server.url} is not an RSS or Atom feed")


def test_http_404(session, rt, feed_server):
    feed_server.status = 404
    feed_server.body = HTML_PAGE

    error = _import_fails(session, rt, feed_server.url)

    assert str(error) == f"{feed_server.url} answered HTTP 404"


def test_unreachable_url(session, rt):
    url = f"http://127.0.0.1:{free_port()}/feed.xml"

    error = _import_fails(session, rt, url)

    assert str(error).startswith(f"cannot fetch {url}: ")
    assert "refused" in str(error).lower()


@pytest.mark.parametrize("date", [None, "ikke en dato"])
def test_one_entry_without_a_date_stores_nothing(session, rt, feed_server, date):
    items = default_items()
    good = rss(items)
    pub_date = f"<pubDate>{format_datetime(items[1].published)}</pubDate>".encode()
    assert good.count(pub_date) == 1
    replacement = b"" if date is None else f"<pubDate>{date}</pubDate>".encode()
    feed_server.body = good.replace(pub_date, replacement)

    error = _import_fails(session, rt, feed_server.url)

    assert str(error) == (f"{feed_server.url}: entry 2 ({items[1].link}) has no readable date")


def test_undated_entry_keeps_earlier_articles_and_adds_none(session, rt, feed_server):
    items = default_items()
    feed_server.body = rss(items)
    import_feed(session, rt.settings, feed_server.url)
    session.commit()
    newer = Item(
        "havbruk-sunnmore",
        "Ørsta og Ålesund med i europeisk havprosjekt",
        "<p>To kommuner på Sunnmøre er med i et nytt prosjekt om havbruk.</p>",
        datetime.now(UTC) - timedelta(hours=1),
    )
    undated = Item("uten-dato", "Uten dato", "<p>Mangler dato.</p>", datetime.now(UTC))
    body = rss([newer, undated, *items])
    feed_server.body = body.replace(
        f"<pubDate>{format_datetime(undated.published)}</pubDate>".encode(), b"", 1
    )
    assert feed_server.body != body

    with pytest.raises(FeedError, match="entry 2 .* has no readable date"):
        import_feed(session, rt.settings, feed_server.url)
    session.commit()

    assert sorted(_articles(session)) == sorted(item.link for item in items)
    assert "no readable date" in (_stored_error(rt, feed_server.url) or "")

    # Fixed at the source: the next import succeeds and clears the error.
    feed_server.body = rss([newer, *items])
    result = import_feed(session, rt.settings, feed_server.url)
    session.commit()
    assert (result.new, result.unchanged) == (1, 3)
    assert _stored_error(rt, feed_server.url) is None


def test_body_over_5_mb(session, rt, feed_server):
    filler = "<p>Lang rapport om klimatilpasning i fjordbyene. </p>" * (feeds.MAX_FEED_BYTES // 40)
    item = Item("lang-rapport", "Lang rapport", filler, datetime.now(UTC))
    feed_server.body = rss([item, *default_items()])
    assert len(feed_server.body) > 5 * 1024 * 1024

    error = _import_fails(session, rt, feed_server.url)

    assert str(error) == f"{feed_server.url} is larger than 5 MB"


def test_size_limit_boundary(session, rt, feed_server, monkeypatch):
    feed_server.body = rss(default_items())

    monkeypatch.setattr(feeds, "MAX_FEED_BYTES", len(feed_server.body) - 1)
    _import_fails(session, rt, feed_server.url)

    monkeypatch.setattr(feeds, "MAX_FEED_BYTES", len(feed_server.body))
    result = import_feed(session, rt.settings, feed_server.url)
    session.commit()
    assert result.new == 3
    assert _stored_error(rt, feed_server.url) is None


# --- the CLI -----------------------------------------------------------------------------


def test_cli_imports_a_feed(cli, session, rt, feed_server):
    feed_server.body = rss(default_items())

    result = cli.invoke(args=["articles", "import-feed", feed_server.url])

    assert result.exit_code == 0, result.output
    assert f"{feed_server.url}: 3 new, 0 updated, 0 unchanged" in result.output
    # It says that the feed now stays in the hourly polling, and it does.
    assert f"{feed_server.url} is in the feeds polled every hour" in result.output
    assert "polled every hour" in cli.invoke(args=["articles", "import-feed", "--help"]).output
    assert feed_server.url in cli.invoke(args=["feeds", "list"]).output
    assert _article_count(rt) == 3

    again = cli.invoke(args=["articles", "import-feed", feed_server.url])
    assert again.exit_code == 0, again.output
    assert "not modified" in again.output
    assert _article_count(rt) == 3


@pytest.mark.parametrize(
    ("status", "content_type", "reason"),
    [
        (404, "text/html; charset=utf-8", "answered HTTP 404"),
        (200, "text/html; charset=utf-8", "is not an RSS or Atom feed"),
    ],
)
def test_cli_reports_a_bad_feed(cli, session, rt, feed_server, status, content_type, reason):
    feed_server.status = status
    feed_server.content_type = content_type
    feed_server.body = HTML_PAGE

    result = cli.invoke(args=["articles", "import-feed", feed_server.url])

    assert result.exit_code == 1, result.output
    assert f"Error: {feed_server.url} {reason}" in result.output
    assert _article_count(rt) == 0
    assert reason in (_stored_error(rt, feed_server.url) or "")


# --- clean_text and shorten --------------------------------------------------------------


def test_clean_text():
    assert clean_text("") == ""
    assert clean_text("<p>Bjørn &amp; Åse sier «hei»</p>") == "Bjørn & Åse sier «hei»"
    assert clean_text("<p>a &amp;lt;b&amp;gt; c</p>") == "a &lt;b&gt; c"
    assert clean_text("<p>Før<script>alert('x')</script> etter</p>") == "Før etter"
    assert clean_text("<style>p { color: red }</style><p>Tekst</p>") == "Tekst"
    assert clean_text("<p>Én.</p><p>To.</p>") == "Én. To."
    assert clean_text("linje én<br>linje to<br/>linje tre") == "linje én linje to linje tre"
    assert clean_text("<p>Ring <b>Ærø</b>ya\n\n  nå</p>") == "Ring Ærøya nå"
    assert clean_text(f"<p>Kontakt oss: <span>{CLOAK_NOTICE}</span></p>") == "Kontakt oss:"
    assert (
        clean_text(
            "<p>Write to <span>This email address is being protected from spambots. "
            "You need JavaScript enabled to view it.</span> today</p>"
        )
        == "Write to today"
    )


def test_shorten():
    short = "Kort tekst om Ålesund."
    assert shorten(short) == short
    exact = "ø" * feeds.SUMMARY_LENGTH
    assert shorten(exact) == exact

    words = ("Fjordbyene på Østlandet samarbeider om klimatilpasning, " * 20).strip()
    result = shorten(words, 100)
    assert result.endswith(" …")
    kept = result.removesuffix(" …")
    assert len(kept) <= 100
    assert words.startswith(kept)
    assert words[len(kept)] in " ,"  # cut between words, never inside one
    assert not kept.endswith((",", " "))
    assert len(kept) > 80  # it keeps nearly all that fits

    assert shorten("a" * 50, 10) == "a" * 10 + " …"


def test_the_hourly_task_polls_every_feed_and_records_a_bad_one(app, session, feed_server):
    from mailer.articles.tasks import poll_feed, poll_feeds

    items = default_items()
    feed_server.body = rss(items)
    broken = f"http://127.0.0.1:{free_port()}/rss"  # nothing listens there
    session.add_all([Feed(url=broken), Feed(url=feed_server.url)])
    session.commit()

    with app.app_context():
        queued = poll_feeds()  # beat's task: one poll_feed task per feed
        for feed_id in queued:
            poll_feed(feed_id)  # each task's body, as a worker runs it

    session.expire_all()
    assert sorted(queued) == sorted(session.scalars(select(Feed.id)))
    _assert_imported(session, feed_server.url, items)
    error = session.scalar(select(Feed.last_error).where(Feed.url == broken))
    assert error == f"cannot fetch {broken}: connection refused"
