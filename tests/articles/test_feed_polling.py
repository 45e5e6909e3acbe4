"""Polling isolates each feed (a database error included) and every task has time limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from mailer.articles.feeds import STORE_FAILED
from mailer.articles.models import Article, Feed
from mailer.sending import batch as sending
from tests.harness.admin import log_in, make_editors, token_from
from tests.harness.feeds import Item, default_items, rss
from tests.harness.http import LocalHTTPServer, QuietHandler

# --- time limits ---------------------------------------------------------------------------


def test_every_task_has_a_soft_and_a_hard_time_limit(app, rt):
    import mailer.celery_app  # noqa: F401  (the task modules, as the worker loads them)

    tasks = {n: t for n, t in app.extensions["celery"].tasks.items() if n.startswith("mailer.")}
    assert {"mailer.send_confirmation", "mailer.send_batch", "mailer.poll_feed"} <= set(tasks)
    for name, task in tasks.items():
        assert task.soft_time_limit and task.time_limit, name
        assert 0 < task.soft_time_limit < task.time_limit, name
    # One mail is quick: a stuck confirmation never holds its slot for long.
    assert tasks["mailer.send_confirmation"].time_limit <= 120
    # A feed's task outlives its fetch's deadline, so the fetch reports its own timeout.
    assert tasks["mailer.poll_feed"].soft_time_limit > rt.settings.feed_deadline_seconds
    from mailer.sending.tasks import batch_time_limits

    assert (tasks["mailer.send_batch"].soft_time_limit, tasks["mailer.send_batch"].time_limit) == (
        batch_time_limits(
            rt.settings.send_rate, sending.BATCH_SIZE, rt.settings.network.smtp_timeout_seconds
        )
    )


def test_the_batch_limits_scale_with_the_send_rate_and_the_batch_size(rt):
    from mailer.celery_app import task_time_limits
    from mailer.sending.tasks import batch_time_limits

    unlimited = batch_time_limits(0, 200, 30.0)
    fast, slow = batch_time_limits(50.0, 200, 30.0), batch_time_limits(1.0, 200, 30.0)
    assert unlimited[0] < fast[0] < slow[0]
    assert slow[0] >= 2 * 200 / 1.0  # twice the paced time at least: never cut a healthy batch
    assert batch_time_limits(1.0, 400, 30.0)[0] > slow[0]
    # A stuck connect and a stuck reply fit in, however long MAILER_SMTP_TIMEOUT_SECONDS is.
    assert batch_time_limits(0, 200, 300.0)[0] >= unlimited[0] + 2 * (300.0 - 30.0)
    for soft, hard in (unlimited, fast, slow):
        assert soft < hard
    paced = dataclasses.replace(rt.settings, send_rate=2.0)
    assert task_time_limits(paced)["mailer.send_batch"] == batch_time_limits(
        2.0, sending.BATCH_SIZE, rt.settings.network.smtp_timeout_seconds
    )
    longer = dataclasses.replace(rt.settings, feed_deadline_seconds=90.0)
    assert task_time_limits(longer)["mailer.poll_feed"][0] > 90.0


# --- one feed's failure is that feed's alone -----------------------------------------------


class _FeedWithEtag(LocalHTTPServer):
    def __init__(self, body: bytes, etag: str) -> None:
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", "Mon, 02 Mar 2026 10:00:00 GMT " + "x" * 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.url = f"{self._serve(Handler)}/feed.xml"
        self.start()


def test_an_etag_too_long_for_its_column_costs_only_the_conditional_get(
    cli, session, rt, feed_server
):
    long_etag = '"' + "e" * 500 + '"'  # the column holds 400: PostgreSQL would refuse it
    odd = _FeedWithEtag(rss(default_items()[:1]), long_etag)
    try:
        feed_server.body = rss(default_items())
        for url in (odd.url, feed_server.url):
            assert cli.invoke(args=["feeds", "add", url]).exit_code == 0

        first = cli.invoke(args=["feeds", "poll"])
        second = cli.invoke(args=["feeds", "poll"])
    finally:
        odd.stop()

    assert first.exit_code == 0, first.output
    assert f"{odd.url}: 1 new" in first.output and f"{feed_server.url}: 3 new" in first.output
    assert second.exit_code == 0, second.output
    session.expire_all()
    row = session.scalar(select(Feed).where(Feed.url == odd.url))
    assert row is not None and row.etag is None and row.last_modified is None
    assert row.last_error is None
    assert "If-None-Match" not in odd.requests[1]


@pytest.fixture
def failing_insert(rt) -> Iterator[str]:
    """A real database error on both backends: a trigger refuses one article's insert."""
    title = "Denne saken kan ikke lagres"
    with rt.db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_article() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.title = '{title}' THEN RAISE EXCEPTION 'refused'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_article BEFORE INSERT ON article "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_article()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_article BEFORE INSERT ON article "
                    f"WHEN NEW.title = '{title}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    yield title
    with rt.db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER IF EXISTS refuse_article ON article"))
            conn.execute(text("DROP FUNCTION IF EXISTS refuse_article()"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS refuse_article"))


class _OneFeed(LocalHTTPServer):
    def __init__(self, body: bytes) -> None:
        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.url = f"{self._serve(Handler)}/feed.xml"
        self.start()


def _articles_from(rt, url: str) -> list[str]:
    with rt.db.session() as other:
        return list(other.scalars(select(Article.title).where(Article.source == url)))


def _error_of(rt, url: str) -> str | None:
    with rt.db.session() as other:
        return other.scalar(select(Feed.last_error).where(Feed.url == url))


def test_a_database_error_in_one_feed_is_recorded_there_and_the_others_go_on(
    app, cli, session, rt, feed_server, failing_insert
):
    items = default_items()
    bad = _OneFeed(rss([Item("nei", failing_insert, "<p>Tekst.</p>", items[0].published), *items]))
    feed_server.body = rss(items)
    try:
        for url in (bad.url, feed_server.url):  # the bad one first: it must not stop the next
            assert cli.invoke(args=["feeds", "add", url]).exit_code == 0
        bad_id = session.scalar(select(Feed.id).where(Feed.url == bad.url))

        poll = cli.invoke(args=["feeds", "poll"])

        assert poll.exit_code == 1, poll.output
        expected = f"{bad.url}: {STORE_FAILED}"
        assert f"{bad.url}: failed: {expected}" in poll.output
        assert f"{feed_server.url}: 3 new" in poll.output
        assert "Error: 1 of 2 feeds failed" in poll.output
        assert _articles_from(rt, bad.url) == []  # nothing of the failed feed, not half
        assert len(_articles_from(rt, feed_server.url)) == 3
        assert _error_of(rt, bad.url) == expected
        assert "refused" not in poll.output  # the database's own words stay in the log

        # "Fetch now" in the admin: the error on the page and the row, never a 500.
        client = log_in(app.test_client(), make_editors(session)["editor"])
        response = client.post(
            f"/admin/feeds/{bad_id}/poll",
            data={"csrf_token": token_from(client, "/admin/feeds")},
        )
        assert response.status_code == 302
        page = client.get("/admin/feeds").get_data(as_text=True)
        assert STORE_FAILED in page

        # The worker's task for that feed: recorded, no exception.
        from mailer.articles.tasks import poll_feed

        with app.app_context():
            poll_feed(bad_id)
        assert _error_of(rt, bad.url) == expected
        assert _articles_from(rt, bad.url) == []
    finally:
        bad.stop()
