"""`mailer editor …` and `mailer tokens …`: editor accounts and their API tokens."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.cli_output import fail as _fail
from mailer.db import utcnow
from mailer.editors.accounts import create_editor, disable_editor, enable_editor, end_sessions
from mailer.editors.api_tokens import create_token, revoke_token, tokens_of
from mailer.editors.models import Editor
from mailer.errors import ValidationFailed
from mailer.runtime import runtime
from mailer.subscribers.addresses import normalise_email


@click.group("editor", cls=AppGroup, help="Editor accounts.")
def editor_group() -> None:
    pass


@editor_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "editor"]), default="editor")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def editor_create(email: str, role: str, password_stdin: bool) -> None:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with runtime().db.session() as session:
        try:
            editor = create_editor(session, email, password, role)
        except ValidationFailed as exc:
            _fail("; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
        session.commit()
        click.echo(f"editor {editor.email} created ({editor.role})")


@editor_group.command("token", help="Print a new API token for an editor (shown once).")
@click.argument("email")
@click.option(
    "--expires-days",
    type=click.IntRange(min=1),
    help="Valid this many days (default: until revoked).",
)
def editor_token(email: str, expires_days: int | None) -> None:
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
    with runtime().db.session() as session:
        try:
            token = create_token(session, email, expires_at)
        except ValidationFailed as exc:
            _fail("; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
        session.commit()
    click.echo(token)


def _editor(session: Session, email: str) -> Editor:
    try:
        address = normalise_email(email, "en")
    except ValidationFailed as exc:
        _fail("; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
    editor = session.scalar(select(Editor).where(Editor.email == address))
    if editor is None:
        _fail(f"no editor with the address {address}")
    return editor


@editor_group.command("disable", help="Disable an editor: sessions end, API tokens are revoked.")
@click.argument("email")
def editor_disable(email: str) -> None:
    with runtime().db.session() as session:
        editor = _editor(session, email)
        try:
            revoked = disable_editor(session, editor)
        except ValidationFailed:
            _fail(f"{editor.email} is the last active admin: enable or make another admin first")
        session.commit()
        click.echo(f"editor {editor.email} disabled; {revoked} API token(s) revoked")


@editor_group.command("enable", help="Let a disabled editor log in again.")
@click.argument("email")
def editor_enable(email: str) -> None:
    with runtime().db.session() as session:
        editor = _editor(session, email)
        enable_editor(session, editor)
        session.commit()
        click.echo(f"editor {editor.email} enabled")


@editor_group.command("end-sessions", help="Log an editor out of every browser.")
@click.argument("email")
def editor_end_sessions(email: str) -> None:
    with runtime().db.session() as session:
        editor = _editor(session, email)
        end_sessions(session, editor)
        session.commit()
        click.echo(f"every session of {editor.email} has ended")


@click.group("tokens", cls=AppGroup, help="The editors' API tokens.")
def tokens_group() -> None:
    pass


@tokens_group.command("list", help="One line a token: id, editor, created, last used, expires.")
@click.option("--editor", "email", help="Only this editor's tokens.")
def tokens_list(email: str | None) -> None:
    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%dT%H:%MZ") if value else "-"

    with runtime().db.session() as session:
        editor_id = _editor(session, email).id if email else None
        emails = {row.id: row.email for row in session.execute(select(Editor.id, Editor.email))}
        for token in tokens_of(session, editor_id):
            click.echo(
                f"{token.id}\t{emails[token.editor_id]}\tcreated {when(token.created_at)}"
                f"\tlast used {when(token.last_used_at)}\texpires {when(token.expires_at)}"
            )


@tokens_group.command("revoke", help="Revoke an API token by its id (from `tokens list`).")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    with runtime().db.session() as session:
        if not revoke_token(session, token_id):
            _fail(f"no API token with id {token_id}")
        session.commit()
    click.echo(f"API token {token_id} revoked")


@editor_group.command("reset-2fa", help="Turn two-factor login off for an editor (lost phone).")
@click.argument("email")
def editor_reset_two_factor(email: str) -> None:
    from mailer.editors.two_factor import reset_two_factor  # only this command needs it

    with runtime().db.session() as session:
        editor = _editor(session, email)
        reset_two_factor(session, editor)
        session.commit()
        click.echo(
            f"two-factor login is off for {editor.email}; their sessions ended, "
            "and they can set it up again under Account"
        )
