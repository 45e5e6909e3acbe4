"""Feed images, "Foto:" captions, redirect limits and `mailer feeds …`: real HTTP, real DB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.orm import Session

from mailer.articles import feeds
from mailer.articles.feeds import FeedError, import_feed
from mailer.articles.models import Article, Feed
from mailer.migrate import alembic_config
from tests.harness.feeds import atom, default_items, image_items, rss
from tests.harness.http import FeedServer, LocalHTTPServer, QuietHandler

SITE = "https://europakontor.example.no"


def _articles(session: Session) -> dict[str, Article]:
    session.expire_all()
    return {a.guid.rsplit(":", 1)[-1]: a for a in session.scalars(select(Article))}


def _count(rt) -> int:
    with rt.db.session() as other:
        return int(other.scalar(select(func.count()).select_from(Article)) or 0)


def _feed_row(rt, url: str) -> Feed | None:
    with rt.db.session() as other:
        return other.scalar(select(Feed).where(Feed.url == url))


# --- images ------------------------------------------------------------------------------


def test_first_img_in_the_html_is_the_image_resolved_on_the_entry_link(session, feed_server, rt):
    feed_server.body = rss(image_items())

    import_feed(session, rt.settings, feed_server.url)
    session.commit()

    stored = _articles(session)
    moss = stored["havnelosing-moss"]
    assert moss.image_url == f"{SITE}/bilder/2026/moss-havn.jpg"
    assert moss.image_alt == "Havna i Moss & ferjeleiet sett fra lufta"
    # A data: URL is no picture for a mail; the next <img>, relative to the page, is.
    hamar = stored["sykkelby-hamar"]
    assert hamar.image_url == f"{SITE}/nyheter/bilder/sykkel.jpg"
    assert hamar.image_alt is None
    # An enclosure wins over the body's picture, whose alt text is then not borrowed.
    bodo = stored["enclosure-bodo"]
    assert bodo.image_url == "https://cdn.europakontor.example.no/bodo-stor.jpg"
    assert bodo.image_alt is None
    # Articles without any picture keep none.
    feed_server.body = rss(default_items())
    import_feed(session, rt.settings, feed_server.url)
    session.commit()
    assert _articles(session)["fjordbyer-klima"].image_url is None


def test_image_of_an_atom_entry_comes_from_its_html_too(session, feed_server, rt):
    feed_server.body = atom(image_items()[:1])
    feed_server.content_type = "application/atom+xml; charset=utf-8"

    import_feed(session, rt.settings, feed_server.url)
    session.commit()

    [article] = _articles(session).values()
    assert article.image_url == f"{SITE}/bilder/2026/moss-havn.jpg"
    assert article.image_alt == "Havna i Moss & ferjeleiet sett fra lufta"


def test_first_image_keeps_only_http_urls():
    link = f"{SITE}/nyheter/sak"
    assert feeds.first_image('<img src="javascript:alert(1)"><img src="x.png">', link) == (
        f"{SITE}/nyheter/x.png",
        None,
    )
    assert feeds.first_image('<img src="//cdn.example.no/a.jpg" alt=" To\n ord ">', link) == (
        "https://cdn.example.no/a.jpg",
        "To ord",
    )
    assert feeds.first_image('<img src="ftp://example.no/a.jpg"><img alt="uten kilde">', link) == (
        None,
        None,
    )
    assert feeds.first_image("<p>Ingen bilder her.</p>", link) == (None, None)


# --- "Foto:" captions --------------------------------------------------------------------


def test_foto_paragraph_becomes_the_caption_not_body_text(session, feed_server, rt):
    feed_server.body = rss(default_items() + image_items())

    import_feed(session, rt.settings, feed_server.url)
    session.commit()

    stored = _articles(session)
    fjord = stored["fjordbyer-klima"]
    assert fjord.image_caption == "Foto: Deltakerne på kaia."
    assert "Foto" not in fjord.summary and "kaia" not in fjord.summary
    assert fjord.summary.endswith("sa leder for nettverket, Åse Løvås.")

    moss = stored["havnelosing-moss"]
    assert moss.image_caption == "Foto: Moss havn KF"
    assert moss.summary == (
        "Moss havn tok imot tjue partnere fra seks land. Neste møte blir i Gdańsk."
    )

    # Only the first caption is kept; every "Foto:"/"Photo:" line leaves the text, but a
    # paragraph that merely starts with the word "Fotografene" stays.
    hamar = stored["sykkelby-hamar"]
    assert hamar.image_caption == "Photo: Hamar kommune"
    assert hamar.summary == (
        "Hamar kommune får midler fra Interreg til nye sykkelveier. "
        "Fotografene var også med på befaringen."
    )
    assert "Åsheim" not in hamar.summary

    # No caption line, no caption.
    assert stored["innovasjon-brussel"].image_caption is None
    assert stored["enclosure-bodo"].image_caption is None


def test_caption_in_atom_content_and_caption_edits_update_the_article(session, feed_server, rt):
    items = default_items()
    feed_server.content_type = "application/atom+xml; charset=utf-8"
    feed_server.body = atom(items)
    import_feed(session, rt.settings, feed_server.url)
    session.commit()
    assert _articles(session)["fjordbyer-klima"].image_caption == "Foto: Deltakerne på kaia."

    items[0].body_html = items[0].body_html.replace(
        "Foto: Deltakerne på kaia.", "Foto: Nettverket samlet på Bragernes torg."
    )
    feed_server.body = atom(items)
    result = import_feed(session, rt.settings, feed_server.url)
    session.commit()

    assert (result.new, result.updated, result.unchanged) == (0, 1, 2)
    fjord = _articles(session)["fjordbyer-klima"]
    assert fjord.image_caption == "Foto: Nettverket samlet på Bragernes torg."
    assert "Bragernes" not in fjord.summary


def test_split_captions_edges():
    rest, caption = feeds.split_captions(
        '<p class="bildetekst">Foto:</p><p>Brødtekst.</p><p>photo : Kari Nes / NTB</p>'
    )
    assert caption == "Photo: Kari Nes / NTB"
    assert feeds.clean_text(rest) == "Brødtekst."
    # An unclosed caption paragraph ends at the next paragraph, not at the end of the text.
    rest, caption = feeds.split_captions("<div><p>Foto: Per Ås<p>Teksten fortsetter.</div>")
    assert caption == "Foto: Per Ås"
    assert feeds.clean_text(rest) == "Teksten fortsetter."
    assert feeds.split_captions("<p>Uten bildetekst.</p>") == ("<p>Uten bildetekst.</p>", None)


# --- redirects -----------------------------------------------------------------------------


class RedirectServer(LocalHTTPServer):
    """/loop redirects to itself; /hops/N redirects N times, then serves the feed."""

    def __init__(self, body: bytes) -> None:
        self.paths: list[str] = []
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.paths.append(self.path)
                if self.path == "/loop":
                    self._redirect("/loop")
                elif self.path.startswith("/hops/") and self.path[6:].isdigit():
                    left = int(self.path[6:])
                    if left > 0:
                        self._redirect(f"/hops/{left - 1}")
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.base = self._serve(Handler)
        self.start()


@pytest.fixture
def redirect_server() -> Iterator[RedirectServer]:
    server = RedirectServer(rss(default_items()))
    yield server
    server.stop()


def test_redirect_loop_is_a_feed_error_and_stores_nothing(session, rt, redirect_server):
    url = f"{redirect_server.base}/loop"

    with pytest.raises(FeedError) as caught:
        import_feed(session, rt.settings, url)
    session.commit()

    assert str(caught.value) == f"cannot fetch {url}: too many redirects (more than 5)"
    # The first request and five redirects followed, then it gives up.
    assert redirect_server.paths == ["/loop"] * 6
    assert _count(rt) == 0
    feed = _feed_row(rt, url)
    assert feed is not None and feed.last_error == str(caught.value)


def test_five_redirects_are_followed_six_are_not(session, rt, redirect_server):
    five = f"{redirect_server.base}/hops/5"
    result = import_feed(session, rt.settings, five)
    session.commit()
    assert result.new == 3
    assert redirect_server.paths[-1] == "/hops/0"

    six = f"{redirect_server.base}/hops/6"
    with pytest.raises(FeedError, match="too many redirects"):
        import_feed(session, rt.settings, six)
    session.commit()
    assert _count(rt) == 3
    assert "/hops/0" not in redirect_server.paths[redirect_server.paths.index("/hops/6") :]


# --- the migration -----------------------------------------------------------------------


def test_migration_0003_adds_and_removes_the_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'migration.db'}"
    cfg = alembic_config(url)

    def article_columns() -> set[str]:
        engine = create_engine(url)
        try:
            return {c["name"] for c in inspect(engine).get_columns("article")}
        finally:
            engine.dispose()

    command.upgrade(cfg, "0003")
    assert {"image_caption", "image_alt"} <= article_columns()
    command.downgrade(cfg, "0002")
    assert not {"image_caption", "image_alt"} & article_columns()
    command.upgrade(cfg, "head")
    assert {"image_caption", "image_alt"} <= article_columns()


# --- `mailer feeds add | list | poll` --------------------------------------------------------


@pytest.fixture
def broken_feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    server.status = 404
    server.content_type = "text/html; charset=utf-8"
    server.body = b"<html><body><h1>Fant ikke siden</h1></body></html>"
    server.start()
    yield server
    server.stop()


def _feed_urls(rt) -> list[str]:
    with rt.db.session() as other:
        return list(other.scalars(select(Feed.url).order_by(Feed.id)))


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://europakontor.example.no/feed.xml",
        "europakontor.example.no/feed.xml",
        "https:///feed.xml",
        "javascript:alert(1)",
        "https://europakontor.example.no/nyheter med mellomrom.xml",
        "https://europakontor.example.no/" + "a" * 2000,
    ],
)
def test_cli_add_refuses_what_is_not_a_web_url(cli, session, rt, bad):
    result = cli.invoke(args=["feeds", "add", bad])

    assert result.exit_code == 1, result.output
    assert "Error: " in result.output
    assert "http:// or https://" in result.output or "longer than 2000" in result.output
    assert _feed_urls(rt) == []


def test_cli_add_stores_a_feed_once(cli, session, rt):
    url = f"{SITE}/nyheter/rss"

    first = cli.invoke(args=["feeds", "add", f"  {url} "])
    again = cli.invoke(args=["feeds", "add", url])

    assert first.exit_code == 0, first.output
    assert f"feed {url} added" in first.output
    assert again.exit_code == 1, again.output
    assert f"Error: {url} is already registered" in again.output
    assert _feed_urls(rt) == [url]


def test_cli_poll_imports_good_feeds_and_records_the_bad(
    cli, session, rt, feed_server, broken_feed_server
):
    assert cli.invoke(args=["feeds", "poll"]).output.strip() == "no feeds to poll"
    listing = cli.invoke(args=["feeds", "list"])
    assert listing.exit_code == 0 and "no feeds" in listing.output

    feed_server.body = rss(default_items())
    for url in (feed_server.url, broken_feed_server.url):
        assert cli.invoke(args=["feeds", "add", url]).exit_code == 0
    listing = cli.invoke(args=["feeds", "list"])
    assert listing.output.splitlines() == [
        f"{url}\tlast polled: never\tarticles: 0\tlast error: -"
        for url in (feed_server.url, broken_feed_server.url)
    ]

    poll = cli.invoke(args=["feeds", "poll"])

    assert poll.exit_code == 1, poll.output
    assert f"{feed_server.url}: 3 new, 0 updated, 0 unchanged" in poll.output
    bad_error = f"{broken_feed_server.url} answered HTTP 404"
    assert f"{broken_feed_server.url}: failed: {bad_error}" in poll.output
    assert "Error: 1 of 2 feeds failed" in poll.output
    with rt.db.session() as other:
        sources = list(other.scalars(select(Article.source)))
    assert sources == [feed_server.url] * 3
    good, bad = _feed_row(rt, feed_server.url), _feed_row(rt, broken_feed_server.url)
    assert good is not None and bad is not None
    assert good.last_error is None and good.last_polled_at is not None
    assert bad.last_error == bad_error and bad.last_polled_at is not None

    lines = cli.invoke(args=["feeds", "list"]).output.splitlines()
    assert len(lines) == 2
    good_line, bad_line = lines
    assert good_line.startswith(f"{feed_server.url}\tlast polled: 20")
    assert good_line.endswith("\tarticles: 3\tlast error: -")
    assert bad_line.startswith(f"{broken_feed_server.url}\tlast polled: 20")
    assert bad_line.endswith(f"\tarticles: 0\tlast error: {bad_error}")

    # The bad feed is fixed: the next poll succeeds and clears its error.
    broken_feed_server.status = 200
    broken_feed_server.content_type = "application/rss+xml; charset=utf-8"
    broken_feed_server.body = rss(image_items())
    again = cli.invoke(args=["feeds", "poll"])
    assert again.exit_code == 0, again.output
    assert f"{feed_server.url}: not modified since the last poll" in again.output
    assert f"{broken_feed_server.url}: 3 new, 0 updated, 0 unchanged" in again.output
    assert _count(rt) == 6
    fixed = _feed_row(rt, broken_feed_server.url)
    assert fixed is not None and fixed.last_error is None
