"""`mailer digest draft|preview|test`: an issue drafted from the articles since the last
one, the exact bytes a reader would get, a test copy. The send lifecycle commands join this
group from mailer/sending/cli.py."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup, with_appcontext

from mailer.cli_output import fail
from mailer.errors import NotFound, ValidationFailed
from mailer.i18n import ngettext
from mailer.issues.drafting import NothingToDraft, draft_issue, issue_subject
from mailer.issues.previews import NothingToPreview, preview_for, send_test
from mailer.mail.smtp import SMTPFailure
from mailer.runtime import runtime
from mailer.site.cli import warn_if_base_url_differs


@click.group("digest", cls=AppGroup, help="Monthly digests.")
@with_appcontext
def digest_group() -> None:
    warn_if_base_url_differs()


@digest_group.command("draft", help="Draft an issue from articles since the last sent one.")
def digest_draft() -> None:
    with runtime().db.session() as session:
        try:
            issue = draft_issue(session)
        except NothingToDraft as exc:
            fail(str(exc))
        session.commit()
        subject = issue_subject(issue, issue.language)
        articles = ngettext("%(num)s artikkel", "%(num)s artikler", len(issue.items), "en")
        click.echo(f"drafted «{subject}» with {articles}")
        click.echo(issue.id)


@digest_group.command("preview", help="Print the exact bytes a subscriber would receive.")
@click.argument("issue_id", type=int)
@click.option("--as", "address", required=True, help="The subscriber's email address.")
def digest_preview(issue_id: int, address: str) -> None:
    rt = runtime()
    with rt.db.session() as session:
        try:
            message = preview_for(session, rt.settings, rt.tokens, issue_id, address)
        except (NotFound, NothingToPreview) as exc:
            fail(str(exc))
        except ValidationFailed as exc:
            fail("; ".join(f"--{k}: {v}" for k, v in exc.errors.items()))
    click.echo(f"MAIL FROM:<{message.sender}> RCPT TO:<{message.recipient}>", err=True)
    sys.stdout.buffer.write(message.data)
    sys.stdout.flush()


@digest_group.command("test", help="Send one copy marked [TEST] to an address (no ledger entry).")
@click.argument("issue_id", type=int)
@click.option("--to", "address", required=True)
@click.option("--language", type=click.Choice(["nb", "en"]), default=None)
def digest_test(issue_id: int, address: str, language: str | None) -> None:
    rt = runtime()
    with rt.db.session() as session:
        try:
            message = send_test(session, rt.settings, rt.tokens, issue_id, address, language)
        except (NotFound, NothingToPreview, SMTPFailure) as exc:
            fail(str(exc))
        except ValidationFailed as exc:
            fail("; ".join(f"--{k}: {v}" for k, v in exc.errors.items()))
    click.echo(f"test copy of issue {issue_id} sent to {message.recipient}")
