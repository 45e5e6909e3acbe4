"""The `mailer` command: thin click commands over the domain functions."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from mailer import migrate
from mailer.articles.cli import articles_group, feeds_group
from mailer.bounces.cli import bounces_group
from mailer.editors.cli import editor_group, tokens_group
from mailer.issues.cli import digest_group
from mailer.mail.cli import dkim_group, outbox_command
from mailer.runtime import runtime
from mailer.sending.cli import COMMANDS as SEND_COMMANDS
from mailer.site.cli import settings_group
from mailer.subscribers.cli import subscribers_group


@click.group("db", cls=AppGroup, help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Apply all migrations.")
def db_upgrade() -> None:
    settings = runtime().settings
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    click.echo("database is up to date")


def _digest_group() -> click.Group:
    """`mailer digest`: drafting, preview and test from issues/, the send lifecycle from
    sending/ — one group, as the interface contract names it."""
    for command in SEND_COMMANDS:
        digest_group.add_command(command)
    return digest_group


def commands() -> tuple[click.Command, ...]:
    return (
        db_group,
        editor_group,
        tokens_group,
        articles_group,
        feeds_group,
        _digest_group(),
        subscribers_group,
        outbox_command,
        dkim_group,
        bounces_group,
        settings_group,
    )


def register_commands(app: Flask) -> None:
    for command in commands():
        app.cli.add_command(command)
