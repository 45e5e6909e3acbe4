"""The `mailer` command: thin click commands over the domain functions."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer import migrate
from mailer.articles.cli import feeds_group
from mailer.articles.feeds import FeedError, import_feed
from mailer.csv_cells import SafeCsvWriter
from mailer.db import utcnow
from mailer.editors.accounts import create_editor, disable_editor, enable_editor, end_sessions
from mailer.editors.models import Editor
from mailer.errors import ValidationFailed
from mailer.issues.newsletter import current_topics
from mailer.runtime import runtime
from mailer.sending.cli import digest_group
from mailer.sending.cli import fail as _fail
from mailer.subscribers.csv_files import export_rows, import_csv
from mailer.subscribers.subscriptions import normalise_email


@click.group("db", cls=AppGroup, help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Apply all migrations.")
def db_upgrade() -> None:
    settings = runtime().settings
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    click.echo("database is up to date")


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
    from mailer.editors.api_tokens import create_token

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
    from mailer.editors.api_tokens import tokens_of

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
    from mailer.editors.api_tokens import revoke_token

    with runtime().db.session() as session:
        if not revoke_token(session, token_id):
            _fail(f"no API token with id {token_id}")
        session.commit()
    click.echo(f"API token {token_id} revoked")


@click.group("articles", cls=AppGroup, help="Articles from the site.")
def articles_group() -> None:
    pass


@articles_group.command("import-feed", help="Import the articles of an RSS or Atom feed.")
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


@click.group("subscribers", cls=AppGroup, help="Subscriber lists.")
def subscribers_group() -> None:
    pass


@subscribers_group.command(
    "import", help="Import subscribers from a CSV file with an email column."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--already-consented",
    is_flag=True,
    help="The readers consented elsewhere: make them active without a confirmation mail.",
)
def subscribers_import(file: Path, already_consented: bool) -> None:
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        _fail(f"{file}: not UTF-8 text")
    rt = runtime()
    with rt.db.session() as session:
        try:
            report = import_csv(
                session,
                text,
                current_topics(session, rt.settings),
                already_consented,
                f"csv:{file.name}",
            )
        except ValidationFailed as exc:
            _fail("; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
        session.commit()
    for line, errors in report.errors:
        click.echo(f"line {line}: " + "; ".join(f"{k}: {v}" for k, v in errors.items()), err=True)
    click.echo(
        f"{report.imported} imported, {report.unchanged} unchanged, "
        f"{len(report.errors)} with errors"
    )


@subscribers_group.command("export", help="Write all subscribers as CSV to standard output.")
def subscribers_export() -> None:
    writer = SafeCsvWriter(sys.stdout)
    with runtime().db.session() as session:
        for row in export_rows(session):
            writer.writerow(row)


@click.group("dkim", cls=AppGroup, help="DKIM signing keys.")
def dkim_group() -> None:
    pass


@dkim_group.command(
    "keygen", help="Write a new RSA-2048 DKIM key and print the DNS TXT record to publish."
)
@click.option("--selector", help="DKIM selector [default: mailer<YYYYMM>].")
@click.option("--domain", help="Signing domain (d=) [default: the domain of MAILER_FROM].")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key file, written with mode 0600 [default: var/dkim_private.pem].",
)
def dkim_keygen(selector: str | None, domain: str | None, out: Path | None) -> None:
    from datetime import date

    from mailer.mail.dkim import (
        DkimError,
        dns_name,
        dns_record,
        generate_key,
        write_private_key,
    )

    settings = runtime().settings
    try:
        domain = dns_name(domain or settings.from_address.rpartition("@")[2], "domain")
        selector = dns_name(selector or f"mailer{date.today():%Y%m}", "selector")
    except DkimError as exc:
        _fail(str(exc))
    out = (out or settings.var_dir / "dkim_private.pem").absolute()
    if out.exists():
        _fail(f"{out} exists; not overwriting a key. Move it away or choose another --out.")
    private_pem, _ = generate_key()
    try:
        write_private_key(out, private_pem)
    except FileExistsError:
        _fail(f"{out} exists; not overwriting a key. Move it away or choose another --out.")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    click.echo(f"Private key written to {out} (mode 0600).")
    click.echo("")
    click.echo("1. Publish this TXT record in DNS:")
    click.echo("")
    click.echo(dns_record(selector, domain, private_pem))
    click.echo("")
    click.echo("2. Once it resolves, set these and restart the web app and the workers:")
    click.echo("")
    click.echo(f"MAILER_DKIM_DOMAIN={domain}")
    click.echo(f"MAILER_DKIM_SELECTOR={selector}")
    click.echo(f"MAILER_DKIM_PRIVATE_KEY_FILE={out}")


@click.command("outbox", help="Run the dev SMTP outbox (stores mails in var/outbox).")
@with_appcontext
def outbox_command() -> None:
    from mailer.mail.outbox import start_outbox

    settings = runtime().settings
    controller = start_outbox(settings.outbox_dir, settings.smtp_host, settings.smtp_port)
    click.echo(
        f"dev SMTP outbox on {settings.smtp_host}:{settings.smtp_port} → {settings.outbox_dir}"
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


COMMANDS = (
    db_group,
    editor_group,
    tokens_group,
    articles_group,
    feeds_group,
    digest_group,
    subscribers_group,
    outbox_command,
    dkim_group,
)


def register_commands(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app() -> Flask:
    from mailer.app import create_app
    from mailer.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # `mailer run` and every command: "Error: <what to set>", exit status 1.
        raise click.ClickException(str(exc)) from None


def main() -> None:
    FlaskGroup(create_app=_create_app, add_version_option=False, help="mailer newsletter service")(
        prog_name="mailer"
    )
