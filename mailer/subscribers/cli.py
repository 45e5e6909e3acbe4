"""`mailer subscribers …`: import and export the list as CSV."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from mailer.cli_output import fail as _fail
from mailer.csv_cells import SafeCsvWriter
from mailer.errors import ValidationFailed
from mailer.i18n import gettext
from mailer.issues.newsletter import current_topics
from mailer.runtime import runtime
from mailer.subscribers.csv_files import ImportReport, export_rows, import_csv


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
                secret_keys=rt.settings.secret_keys,
                message_language="en",
            )
        except ValidationFailed as exc:
            _fail("; ".join(f"{k}: {gettext(v, 'en')}" for k, v in exc.errors.items()))
        session.commit()
    for line, errors in report.errors:
        click.echo(f"line {line}: " + "; ".join(f"{k}: {v}" for k, v in errors.items()), err=True)
    for line, first in report.duplicates:
        click.echo(f"line {line}: the same address as line {first} (imported once)", err=True)
    for line in report.former:
        click.echo(f"line {line}: the reader unsubscribed before; not added again", err=True)
    for line in report.suppressed:
        click.echo(f"line {line}: on the suppression list; not added", err=True)
    click.echo(import_summary(report))


def import_summary(report: ImportReport) -> str:
    """One line in which every row of the file is counted once."""
    parts = [
        f"{report.imported} imported",
        f"{report.unchanged} unchanged",
        f"{len(report.errors)} with errors",
        f"{len(report.duplicates)} duplicate{'s' if len(report.duplicates) != 1 else ''}",
        f"{len(report.former)} unsubscribed before (not added again)",
        f"{len(report.suppressed)} suppressed",
    ]
    if report.blank:
        parts.append(f"{report.blank} blank")
    rows = "row" if report.rows == 1 else "rows"
    to_confirm = len(report.to_confirm)
    mails = (
        f"; {to_confirm} confirmation mail{'s' if to_confirm != 1 else ''} queued"
        if to_confirm
        else ""
    )
    return f"{report.rows} {rows}: " + ", ".join(parts) + mails


@subscribers_group.command("export", help="Write all subscribers as CSV to standard output.")
def subscribers_export() -> None:
    writer = SafeCsvWriter(sys.stdout)
    with runtime().db.session() as session:
        for row in export_rows(session):
            writer.writerow(row)
