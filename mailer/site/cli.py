"""`mailer settings base-url URL` (what `make run` does at start), and the warning a
command gives when its MAILER_BASE_URL differs from the one stored for the service."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from mailer.cli_output import fail
from mailer.errors import ValidationFailed
from mailer.runtime import runtime
from mailer.site.store import set_by_env, store_base_url, stored_base_url


@click.group("settings", cls=AppGroup, help="Settings every process reads.")
def settings_group() -> None:
    pass


@settings_group.command("base-url", help="Store the URL the service answers on (links in mails).")
@click.argument("url")
def base_url_command(url: str) -> None:
    rt = runtime()
    with rt.db.session() as session:
        try:
            clean = store_base_url(session, url)
        except ValidationFailed as exc:
            fail(exc.errors["base_url"])
        session.commit()
    rt.site.invalidate()
    click.echo(f"base URL: {clean}")
    warn_if_base_url_differs()


def warn_if_base_url_differs() -> None:
    """Say so when this command's MAILER_BASE_URL is not what the other processes use:
    the links in the mails it makes would point elsewhere than the web's."""
    rt = runtime()
    env = rt.env_settings
    if not set_by_env(env, "base_url"):
        return
    with rt.db.session() as session:
        stored = stored_base_url(session)
    if stored and stored != env.base_url:
        click.echo(
            f"Warning: MAILER_BASE_URL is {env.base_url}, but the service's stored base URL "
            f"is {stored}; links made by this command use {env.base_url}.",
            err=True,
        )
