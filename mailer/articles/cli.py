"""`mailer feeds …`: the site feeds the digest is made from (beat polls them hourly)."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mailer.articles.feeds import URL_LENGTH, FeedError, import_feed, web_url
from mailer.models import Article, Feed
from mailer.runtime import runtime
from mailer.sending.cli import fail


@click.group("feeds", cls=AppGroup, help="Site feeds the digest takes its articles from.")
def feeds_group() -> None:
    pass


def _valid_url(raw: str) -> str:
    url = raw.strip()
    if len(url) > URL_LENGTH:
        fail(f"the URL is longer than {URL_LENGTH} characters")
    if web_url(url) != url:
        fail(f"{url!r} is not an http:// or https:// URL")
    return url


@feeds_group.command("add", help="Register a feed URL; it is then polled with the others.")
@click.argument("url")
def feeds_add(url: str) -> None:
    url = _valid_url(url)
    with runtime().db.session() as session:
        if session.scalar(select(Feed.id).where(Feed.url == url)) is not None:
            fail(f"{url} is already registered")
        session.add(Feed(url=url))
        try:
            session.commit()
        except IntegrityError:  # added by someone else a moment ago
            session.rollback()
            fail(f"{url} is already registered")
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
        urls = list(session.scalars(select(Feed.url).order_by(Feed.id)))
    if not urls:
        click.echo("no feeds to poll")
        return
    failed = 0
    for url in urls:
        with rt.db.session() as session:
            try:
                result = import_feed(session, url)
            except FeedError as exc:
                session.commit()  # keeps the error on the feed row; no article was added
                failed += 1
                click.echo(f"{url}: failed: {exc}", err=True)
                continue
            session.commit()
        if result.not_modified:
            click.echo(f"{url}: not modified since the last poll")
        else:
            click.echo(
                f"{url}: {result.new} new, {result.updated} updated, {result.unchanged} unchanged"
            )
    if failed:
        fail(f"{failed} of {len(urls)} feeds failed")
