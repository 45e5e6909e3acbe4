"""The `mailer` command: thin click commands over the domain functions."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from mailer import backup, migrate
from mailer.articles.cli import articles_group, feeds_group
from mailer.bounces.cli import bounces_group
from mailer.cli_output import fail
from mailer.config import Settings
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


def _keys_reminder(settings: Settings) -> str:
    """What else a restore needs: the secret key signs every personal link already mailed."""
    if os.environ.get("MAILER_SECRET_KEY", "").strip():
        key = "MAILER_SECRET_KEY, from your environment"
    else:
        key = f"the file {settings.var_dir / 'secret_key'}"
    lines = [
        f"Keep the secret key ({key}) with this backup, in a safe place: the unsubscribe,",
        "preferences and confirmation links in mails already sent are signed with it.",
        "Restore with the same key, or every one of those links stops working.",
    ]
    if settings.dkim_domain:
        where = (
            "the file in MAILER_DKIM_PRIVATE_KEY_FILE"
            if settings.dkim_key_variable == "MAILER_DKIM_PRIVATE_KEY_FILE"
            else "MAILER_DKIM_PRIVATE_KEY"
        )
        lines.append(f"Keep the DKIM private key too ({where}), or publish a new selector.")
    return "\n".join(lines)


@db_group.command("backup", help="Write a backup of the database to FILE (a new file).")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(file: Path) -> None:
    settings = runtime().settings
    try:
        backup.backup(settings.database_url, file)
    except backup.BackupError as exc:
        fail(str(exc))
    click.echo(f"backup written to {file}")
    click.echo(_keys_reminder(settings))


@db_group.command(
    "restore", help="Restore a backup made by `mailer db backup` into an empty database."
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def db_restore(file: Path) -> None:
    settings = runtime().settings
    try:
        restored = backup.restore(settings.database_url, file)
    except backup.BackupError as exc:
        fail(str(exc))
    head = migrate.head_revision()
    click.echo(f"restored {restored.tables} tables (schema revision {restored.revision})")
    if restored.revision != head:
        click.echo(f"The code's schema is at {head}: run `mailer db upgrade` before starting.")
    click.echo(_keys_reminder(settings))


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
