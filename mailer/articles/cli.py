"""`mailer feeds …`: the site feeds the digest is made from (beat polls them hourly)."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from mailer.articles import registry as feed_registry
from mailer.articles.feeds import URL_LENGTH, FeedError, import_feed
from mailer.articles.models import Article, Feed
from mailer.articles.registry import add_feed, feed_ids, poll_one
from mailer.cli_output import fail
from mailer.cli_output import fail as _fail
from mailer.errors import ValidationFailed
from mailer.i18n import gettext
from mailer.outbound.policy import PRIVATE
from mailer.runtime import runtime


@click.group("feeds", cls=AppGroup, help="Site feeds the digest takes its articles from.")
def feeds_group() -> None:
    pass


def _cli_message(url: str, error: str) -> str:
    """The registry's reason, as the (English) CLI has always said it."""
    return {
        feed_registry.TOO_LONG: f"the URL is longer than {URL_LENGTH} characters",
        feed_registry.NOT_A_URL: f"{url!r} is not an http:// or https:// URL",
        feed_registry.ALREADY_THERE: f"{url} is already registered",
        feed_registry.PRIVATE_ADDRESS: f"{url}: {PRIVATE}",
    }.get(error, f"{url}: {gettext(error, 'en')}")


@feeds_group.command(
    "add",
    help="Register a feed URL; it is then polled with the others (adding it in the admin "
    "also fetches it at once and refuses what is not a feed).",
)
@click.argument("url")
def feeds_add(url: str) -> None:
    rt = runtime()
    with rt.db.session() as session:
        try:
            feed = add_feed(session, rt.settings, url)
        except ValidationFailed as exc:
            session.rollback()
            fail(_cli_message(url.strip(), exc.errors["url"]))
        session.commit()
        url = feed.url
    click.echo(f"feed {url} added; `mailer feeds poll` imports it now, the beat every hour")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


@feeds_group.command("list", help="Each feed: last poll, last error and number of articles.")
def feeds_list() -> None:
    count = func.count(Article.id)
    with runtime().db.session() as session:
        rows = session.execute(
            select(Feed.url, Feed.last_polled_at, Feed.last_error, count)
            .outerjoin(Article, Article.source == Feed.url)
            .group_by(Feed.id, Feed.url, Feed.last_polled_at, Feed.last_error)
            .order_by(Feed.id)
        ).all()
    if not rows:
        click.echo("no feeds; add one with `mailer feeds add URL`")
        return
    for url, polled, error, articles in rows:
        click.echo(
            f"{url}\tlast polled: {_when(polled)}\tarticles: {articles}\tlast error: {error or '-'}"
        )


@feeds_group.command("poll", help="Import every feed now; exit status 1 if any failed.")
def feeds_poll() -> None:
    rt = runtime()
    with rt.db.session() as session:
        ids = feed_ids(session)
    if not ids:
        click.echo("no feeds to poll")
        return
    failed = 0
    for feed_id in ids:
        outcome = poll_one(rt.db, rt.settings, feed_id)
        if outcome is None:
            continue  # removed while we polled the others
        result = outcome.result
        if result is None:
            failed += 1
            click.echo(f"{outcome.url}: failed: {outcome.error}", err=True)
        elif result.not_modified:
            click.echo(f"{outcome.url}: not modified since the last poll")
        else:
            click.echo(
                f"{outcome.url}: {result.new} new, {result.updated} updated, "
                f"{result.unchanged} unchanged" + (f"; {result.note}" if result.note else "")
            )
    if failed:
        fail(f"{failed} of {len(ids)} feeds failed")


@click.group("articles", cls=AppGroup, help="Articles from the site.")
def articles_group() -> None:
    pass


@articles_group.command(
    "import-feed",
    help="Import the articles of an RSS or Atom feed now. The feed is also added to the "
    "feeds polled every hour (see `mailer feeds list`).",
)
@click.argument("url")
def articles_import_feed(url: str) -> None:
    rt = runtime()
    with rt.db.session() as session:
        try:
            result = import_feed(session, rt.settings, url)
        except FeedError as exc:
            session.commit()  # keeps the error on the feed row; no article was added
            _fail(str(exc))
        session.commit()
    if result.not_modified:
        click.echo(f"{url}: not modified since the last import")
    else:
        click.echo(
            f"{url}: {result.new} new, {result.updated} updated, {result.unchanged} unchanged"
            + (f"; {result.note}" if result.note else "")
        )
    click.echo(f"{url} is in the feeds polled every hour; `mailer feeds list` shows them")
