"""`mailer digest …`: draft, send, watch, pause, resume, cancel, resend in-doubt."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import NoReturn

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.i18n import ngettext
from mailer.issues import states as issue_states
from mailer.issues.drafting import NothingToDraft, draft_issue, issue_subject
from mailer.models import Issue
from mailer.runtime import runtime
from mailer.sending import ledger
from mailer.sending import progress as send_progress
from mailer.subscribers.subscriptions import ValidationFailed
from worker.celery_app import enqueue

POLL_SECONDS = 0.25
NO_WORKER_HINT_SECONDS = 30


def fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@click.group("digest", cls=AppGroup, help="Monthly digests.")
def digest_group() -> None:
    pass


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
    from mailer.issues.previews import NothingToPreview, preview_for

    rt = runtime()
    with rt.db.session() as session:
        try:
            message = preview_for(session, rt.settings, rt.tokens, issue_id, address)
        except (ledger.IssueNotFound, NothingToPreview) as exc:
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
    from mailer.issues.previews import NothingToPreview, send_test
    from mailer.mail.smtp import SMTPFailure

    rt = runtime()
    with rt.db.session() as session:
        try:
            message = send_test(session, rt.settings, rt.tokens, issue_id, address, language)
        except (ledger.IssueNotFound, NothingToPreview, SMTPFailure) as exc:
            fail(str(exc))
        except ValidationFailed as exc:
            fail("; ".join(f"--{k}: {v}" for k, v in exc.errors.items()))
    click.echo(f"test copy of issue {issue_id} sent to {message.recipient}")


def _line(state: send_progress.Progress) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in state.counts.items() if v)
    eta = state.eta_seconds
    rate = f"{state.rate:.1f}/s" + (f", ETA {eta:.0f} s" if eta else "")
    reason = f" ({state.pause_reason})" if state.pause_reason else ""
    return f"issue {state.issue_id} is {state.status}{reason}: {counts or 'no recipients'}; {rate}"


def watch(issue_id: int) -> send_progress.Progress:
    """A progress bar over the deliveries until the issue is sent, paused or cancelled."""
    rt = runtime()
    started = time.monotonic()
    hinted = False
    with rt.db.session() as session:
        state = send_progress.progress(session, issue_id)
        while not state.deliveries_created and state.status == issue_states.SENDING:
            if not hinted and time.monotonic() - started > NO_WORKER_HINT_SECONDS:
                click.echo("waiting for a worker to pick up the send (is one running?)", err=True)
                hinted = True
            time.sleep(POLL_SECONDS)
            state = send_progress.progress(session, issue_id)
        with click.progressbar(length=max(state.total, 1), label=f"issue {issue_id}") as bar:
            shown = 0
            while True:
                state = send_progress.progress(session, issue_id)
                bar.update(state.done - shown)
                shown = state.done
                if state.status != issue_states.SENDING:
                    break
                time.sleep(POLL_SECONDS)
    click.echo(_line(state))
    return state


def _exit_for(state: send_progress.Progress) -> None:
    if state.status != issue_states.SENT or state.counts["failed"] or state.counts["in-doubt"]:
        sys.exit(1)


@digest_group.command("send", help="Send an issue and watch it until every mail is out.")
@click.argument("issue_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def digest_send(issue_id: int, yes: bool) -> None:
    rt = runtime()
    with rt.db.session() as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            fail(f"no issue with id {issue_id}")
        if issue.status in (issue_states.DRAFT, issue_states.SCHEDULED) and not yes:
            recipients = ledger.count_recipients(session, issue)
            subject = issue_subject(issue, issue.language)
            readers = ngettext("%(num)s abonnent", "%(num)s abonnenter", recipients, "en")
            click.confirm(f"Send «{subject}» to {readers}?", abort=True)
        started = ledger.request_send(session, issue_id)
        session.commit()
        status = issue.status
    if started:
        enqueue(current_app, "mailer.start_send", issue_id)
    elif status not in (issue_states.SENDING, issue_states.SENT):
        fail(f"issue {issue_id} is {status} and cannot be sent")
    _exit_for(watch(issue_id))


@digest_group.command("status", help="Counts per state, rate and ETA; follows a running send.")
@click.argument("issue_id", type=int)
@click.option("--no-follow", is_flag=True, help="Print the counts once and return.")
def digest_status(issue_id: int, no_follow: bool) -> None:
    with runtime().db.session() as session:
        try:
            state = send_progress.progress(session, issue_id)
        except ledger.IssueNotFound as exc:
            fail(str(exc))
    if no_follow or state.status != issue_states.SENDING:
        click.echo(_line(state))
        return
    watch(issue_id)


def resume_and_queue(issue_id: int) -> bool:
    """Shared by the CLI and the API: resume, then queue what is left after the commit."""
    from worker.tasks import queue_issue

    rt = runtime()
    with rt.db.session() as session:
        resumed = ledger.resume(session, issue_id)
        session.commit()
    if resumed:
        queue_issue(issue_id, utcnow())
    return resumed


def committed(fn: Callable[[Session, int], bool], issue_id: int) -> Callable[[], bool]:
    """A ledger change (pause, cancel) as a call that runs and commits in its own session."""

    def run() -> bool:
        with runtime().db.session() as session:
            changed = fn(session, issue_id)
            session.commit()
        return changed

    return run


def resend_and_queue(issue_id: int) -> int:
    from worker.tasks import queue_issue

    rt = runtime()
    with rt.db.session() as session:
        count = ledger.resend_in_doubt(session, issue_id)
        session.commit()
    queue_issue(issue_id, utcnow())
    return count


def _simple(issue_id: int, action: str) -> None:
    with runtime().db.session() as session:
        try:
            changed = {"pause": ledger.pause, "cancel": ledger.cancel}[action](session, issue_id)
        except ledger.IssueNotFound as exc:
            fail(str(exc))
        session.commit()
        status = session.get(Issue, issue_id).status  # type: ignore[union-attr]
    if not changed:
        fail(f"issue {issue_id} is {status}; cannot {action} it")
    click.echo(f"issue {issue_id} is now {status}")


@digest_group.command("pause", help="Stop sending after the mails in flight.")
@click.argument("issue_id", type=int)
def digest_pause(issue_id: int) -> None:
    _simple(issue_id, "pause")


@digest_group.command("cancel", help="Stop for good; what was sent stays sent.")
@click.argument("issue_id", type=int)
def digest_cancel(issue_id: int) -> None:
    _simple(issue_id, "cancel")


@digest_group.command("resume", help="Continue a paused send.")
@click.argument("issue_id", type=int)
def digest_resume(issue_id: int) -> None:
    try:
        resumed = resume_and_queue(issue_id)
    except ledger.IssueNotFound as exc:
        fail(str(exc))
    if not resumed:
        fail(f"issue {issue_id} is not paused")
    click.echo(f"issue {issue_id} is sending again")


@digest_group.command("resend-in-doubt", help="Send the in-doubt mails again (may duplicate).")
@click.argument("issue_id", type=int)
@click.option("--yes", is_flag=True)
def digest_resend_in_doubt(issue_id: int, yes: bool) -> None:
    if not yes:
        click.confirm(
            "Mails in doubt may have arrived already; resending can give those readers two "
            "copies. Resend?",
            abort=True,
        )
    try:
        count = resend_and_queue(issue_id)
    except (ledger.IssueNotFound, ledger.TransitionRefused) as exc:
        fail(str(exc))
    click.echo(f"{count} in-doubt mails queued again")
