"""The send lifecycle under `mailer digest …`: send, status, pause, resume, cancel,
resend-in-doubt (a progress bar until done). app.py adds them to the digest group."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from mailer.bounces.stats import IssueBounces, issue_bounces
from mailer.cli_output import fail
from mailer.db import utcnow
from mailer.errors import NotFound, TransitionRefused, ValidationFailed
from mailer.i18n import ngettext
from mailer.issues.drafting import issue_subject
from mailer.issues.models import Issue
from mailer.issues.states import IssueStatus
from mailer.runtime import runtime
from mailer.sending import ledger, recovery, service
from mailer.sending import progress as send_progress
from mailer.sending.states import DeliveryStatus

# Collects the commands (an AppGroup runs each in the app context); mailer/cli.py adds them to
# the `digest` group that issues/cli.py defines.
lifecycle = AppGroup("digest")
POLL_SECONDS = 0.25
NO_WORKER_HINT_SECONDS = 30


def _line(state: send_progress.Progress) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in state.counts.items() if v)
    eta, took = state.eta_seconds, state.duration_seconds
    if took is not None and state.average_rate is not None:
        # A finished send: how long it took and its average, not a rate or an ETA.
        rate = f"took {took:.0f} s, {state.average_rate:.1f}/s on average"
    else:
        rate = f"{state.rate:.1f}/s" + (f", ETA {eta:.0f} s" if eta else "")
    reason = f" ({state.pause_reason})" if state.pause_reason else ""
    note = f"; {state.recovery_note}" if state.recovery_note else ""
    return (
        f"issue {state.issue_id} is {state.status}{reason}: {counts or 'no recipients'}; "
        f"{rate}{note}"
    )


def _read_progress(issue_id: int, with_settings: bool = True) -> send_progress.Progress:
    """One look at the ledger in a transaction of its own: a watcher that kept one open for
    the whole send would hold back PostgreSQL's vacuum while every delivery row is updated
    (and block DDL), the longer the list the worse."""
    rt = runtime()
    with rt.db.session() as session:
        return send_progress.progress(session, issue_id, rt.settings if with_settings else None)


def _bounce_line(b: IssueBounces) -> str:
    return (
        f"bounces: {b.hard} hard, {b.soft} soft, {b.policy} refused as policy; "
        f"complaints: {b.complaints}; bounce rate {b.bounce_rate:.2%}, "
        f"complaint rate {b.complaint_rate:.2%} of {b.delivered} delivered"
    )


def bar_counts(state: send_progress.Progress | None) -> str | None:
    """What the bar shows beside itself: each outcome so far and the rate."""
    if state is None:
        return None
    c = state.counts
    failed = c.get(DeliveryStatus.FAILED, 0) + c.get(DeliveryStatus.BOUNCED, 0)
    return (
        f"sent {c.get(DeliveryStatus.SENT, 0)}, failed {failed}, "
        f"in-doubt {c.get(DeliveryStatus.IN_DOUBT, 0)}, skipped {c.get(DeliveryStatus.SKIPPED, 0)}"
        f" · {state.rate:.1f}/s"
    )


def watch(issue_id: int) -> send_progress.Progress:
    """A progress bar over the deliveries until the issue is sent, paused or cancelled."""
    started = time.monotonic()
    hinted = False
    state = _read_progress(issue_id, with_settings=False)
    while not state.deliveries_created and state.status == IssueStatus.SENDING:
        if not hinted and time.monotonic() - started > NO_WORKER_HINT_SECONDS:
            click.echo("waiting for a worker to pick up the send (is one running?)", err=True)
            hinted = True
        time.sleep(POLL_SECONDS)
        state = _read_progress(issue_id, with_settings=False)
    with click.progressbar(
        length=max(state.total, 1), label=f"issue {issue_id}", item_show_func=bar_counts
    ) as bar:
        shown, said = 0, None
        while True:
            state = _read_progress(issue_id)
            bar.update(state.done - shown, state)
            shown = state.done
            if state.recovery_note and state.recovery_note != said:
                # The bar stands still: say why (a worker stopped mid-send).
                said = state.recovery_note
                click.echo(f"\n{said}", err=True)
            if state.status != IssueStatus.SENDING:
                break
            time.sleep(POLL_SECONDS)
    click.echo(_line(state))
    return state


def _exit_for(state: send_progress.Progress) -> None:
    if (
        state.status != IssueStatus.SENT
        or state.counts[DeliveryStatus.FAILED]
        or state.counts[DeliveryStatus.IN_DOUBT]
    ):
        sys.exit(1)


@lifecycle.command("send", help="Send an issue and watch it until every mail is out.")
@click.argument("issue_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def digest_send(issue_id: int, yes: bool) -> None:
    rt = runtime()
    with rt.db.session() as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            fail(f"no issue with id {issue_id}")
        question = None
        if issue.status in (IssueStatus.DRAFT, IssueStatus.SCHEDULED) and not yes:
            recipients = ledger.count_recipients(session, issue)
            subject = issue_subject(issue, issue.language)
            readers = ngettext("%(num)s abonnent", "%(num)s abonnenter", recipients, "en")
            question = f"Send «{subject}» to {readers}?"
    if question:
        # Asked with no transaction open: a person may take minutes to answer.
        click.confirm(question, abort=True)
    with rt.db.session() as session:
        try:
            started = service.start(session, issue_id)
        except ValidationFailed as exc:
            fail("; ".join(exc.errors.values()))
        session.commit()
        status = ledger.get_issue(session, issue_id).status
    if not started and status not in (IssueStatus.SENDING, IssueStatus.SENT):
        fail(f"issue {issue_id} is {status} and cannot be sent")
    _exit_for(watch(issue_id))


@lifecycle.command("status", help="Counts per state, rate and ETA; follows a running send.")
@click.argument("issue_id", type=int)
@click.option("--no-follow", is_flag=True, help="Print the counts once and return.")
def digest_status(issue_id: int, no_follow: bool) -> None:
    rt = runtime()
    with rt.db.session() as session:
        try:
            state = send_progress.progress(session, issue_id, rt.settings)
        except ledger.IssueNotFound as exc:
            fail(str(exc))
        bounces = issue_bounces(session, issue_id)
    if no_follow or state.status != IssueStatus.SENDING:
        click.echo(_line(state))
        click.echo(_bounce_line(bounces))
        return
    watch(issue_id)


def _lifecycle(issue_id: int, action: Callable[[Session, int], bool], verb: str) -> str:
    """Run one lifecycle action of the service and commit; the new status, or exit 1."""
    with runtime().db.session() as session:
        try:
            changed = action(session, issue_id)
        except NotFound as exc:
            fail(str(exc))
        session.commit()
        status = ledger.get_issue(session, issue_id).status
    if not changed:
        fail(f"issue {issue_id} is {status}; cannot {verb} it")
    return status


@lifecycle.command("pause", help="Stop sending after the mails in flight.")
@click.argument("issue_id", type=int)
def digest_pause(issue_id: int) -> None:
    status = _lifecycle(issue_id, service.pause, "pause")
    click.echo(f"issue {issue_id} is now {status}")


@lifecycle.command("cancel", help="Stop for good; what was sent stays sent.")
@click.argument("issue_id", type=int)
def digest_cancel(issue_id: int) -> None:
    status = _lifecycle(issue_id, service.cancel, "cancel")
    click.echo(f"issue {issue_id} is now {status}")


@lifecycle.command("resume", help="Continue a paused send.")
@click.argument("issue_id", type=int)
def digest_resume(issue_id: int) -> None:
    _lifecycle(issue_id, service.resume, "resume")
    click.echo(f"issue {issue_id} is sending again")


@lifecycle.command("resend-in-doubt", help="Send the in-doubt mails again (may duplicate).")
@click.argument("issue_id", type=int)
@click.option("--yes", is_flag=True)
def digest_resend_in_doubt(issue_id: int, yes: bool) -> None:
    if not yes:
        click.confirm(
            "Mails in doubt may have arrived already; resending can give those readers two "
            "copies. Resend?",
            abort=True,
        )
    with runtime().db.session() as session:
        try:
            count = service.resend(session, issue_id)
        except (NotFound, TransitionRefused) as exc:
            fail(str(exc))
        session.commit()
    click.echo(f"{count} in-doubt mails queued again")


@lifecycle.command(
    "reconcile", help="Repair now what stopped workers left (what the beat does every minute)."
)
def digest_reconcile() -> None:
    rt = runtime()
    done = service.reconcile(rt.db, rt.settings, utcnow())
    click.echo(
        f"repaired {done.runs} stopped send runs: {done.sent} sent, {done.in_doubt} in doubt, "
        f"{done.requeued} back in the queue, {done.failed} failed"
    )
    if done.waiting:
        lease = rt.settings.claim_lease_seconds
        click.echo(
            f"{len(done.waiting)} stopped runs on other hosts: their rows waiting in the queue "
            "were handed back; their claimed rows wait for a worker on their host, or become "
            f"in doubt {recovery.GRACE_LEASES * lease:.0f} s after their lease expired"
        )


# The commands, each run in the app context, for the `mailer digest` group.
COMMANDS = tuple(lifecycle.commands.values())
