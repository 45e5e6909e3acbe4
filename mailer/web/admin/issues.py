"""Issues: the drafted digest reviewed, previewed, tested, scheduled or sent, and watched."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from mailer.bounces.stats import issue_bounces
from mailer.db import utcnow
from mailer.errors import TransitionRefused, ValidationFailed
from mailer.i18n import LANGUAGES, LOCAL_ZONE, N_
from mailer.issues import editing as issue_editing
from mailer.issues import scheduling
from mailer.issues.drafting import NothingToDraft, draft_issue, issue_subject
from mailer.issues.intro import intro_html
from mailer.issues.models import Issue
from mailer.issues.states import IssueStatus
from mailer.reports.stats import recent_issues
from mailer.runtime import runtime
from mailer.sending import ledger, service
from mailer.sending import progress as send_progress
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.states import SubscriptionStatus
from mailer.web.admin.base import audit, bp, current_editor, language, page, t, tn, translated
from mailer.web.admin.labels import ISSUE

PROBLEM_ROWS = 200
NOT_NOW = N_("Dette kan ikke gjøres med nummeret nå. Status:")
CONFIRM_BOX = N_("Kryss av for å bekrefte.")
RECOVERY_WAIT = N_(
    "Venter på gjenoppretting av %(rows)s rader fra en stoppet arbeider (neste sjekk kl. %(time)s)."
)


def recovery_text(state: send_progress.Progress) -> str | None:
    """The send stands still because a worker stopped: say so, and when it is looked at."""
    if not state.recovery_rows or state.next_check_at is None:
        return None
    at = state.next_check_at.astimezone(LOCAL_ZONE).strftime("%H:%M:%S")
    return t(RECOVERY_WAIT).replace("%(rows)s", str(state.recovery_rows)).replace("%(time)s", at)


def issue_or_404(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None:
        abort(404)
    return issue


# A failed or in-doubt reader: id, address, attempts, last error, message id (in doubt:
# set when the content went out).
ProblemRow = Row[int, str, int, str | None, str | None]


def _problems(session: Session, issue_id: int) -> dict[str, Sequence[ProblemRow]]:
    lists: dict[str, Sequence[ProblemRow]] = {}
    for state in (DeliveryStatus.FAILED, DeliveryStatus.IN_DOUBT):
        lists[state] = session.execute(
            select(
                Subscriber.id,
                Subscriber.email,
                Delivery.attempts,
                Delivery.last_error,
                # In doubt: noted before DATA when its content went out (journal lost: none).
                Delivery.message_id,
            )
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Delivery.issue_id == issue_id, Delivery.status == state)
            .order_by(Delivery.id)
            .limit(PROBLEM_ROWS)
        ).all()
    return lists


def _first_reader(session: Session, issue: Issue) -> str:
    return (
        session.scalar(
            select(Subscriber.email)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(
                Subscription.newsletter_id == issue.newsletter_id,
                Subscription.status == SubscriptionStatus.ACTIVE,
            )
            .order_by(Subscriber.id)
            .limit(1)
        )
        or ""
    )


def issue_page(
    issue_id: int, status: int = 200, errors: dict[str, str] | None = None, **extra: Any
) -> tuple[str, int]:
    with runtime().db.session() as session:
        issue = issue_or_404(session, issue_id)
        editable = issue.status in issue_editing.EDITABLE
        context = {
            "issue": issue,
            "subject": issue_subject(issue, issue.language),
            "editable": editable,
            "articles": [item.article for item in issue.items],
            "candidates": issue_editing.candidates(session, issue) if editable else [],
            "recipients": ledger.count_recipients(session, issue),
            "progress": (state := send_progress.progress(session, issue_id, runtime().settings)),
            "recovery_text": recovery_text(state),
            "problems": _problems(session, issue_id),
            "bounces": issue_bounces(session, issue_id),
            "intro_html": intro_html(issue.intro or ""),
            "preview_as": extra.pop("preview_as", None) or _first_reader(session, issue),
            "test_to": current_editor().email,
        }
        context.update(extra)
        return page(
            "issue.html", status, errors=translated(errors or {}), languages=LANGUAGES, **context
        )


def _refused(issue_id: int, current: str) -> tuple[str, int]:
    return issue_page(issue_id, 409, {"status": f"{t(NOT_NOW)} {t(ISSUE.get(current, current))}"})


def _article_id(field: str = "article_id") -> int:
    raw = request.form.get(field, "").strip()
    if not raw.isdigit() or len(raw) > 12:
        raise ValidationFailed({field: issue_editing.UNKNOWN_ARTICLE})
    return int(raw)


@bp.get("/issues")
def issues():
    with runtime().db.session() as session:
        rows = recent_issues(session, language(), limit=100)
    return page("issues.html", issues=rows, error=None)


@bp.post("/issues/draft")
def draft():
    with runtime().db.session() as session:
        try:
            issue = draft_issue(session)
        except NothingToDraft:
            session.rollback()
            rows = recent_issues(session, language(), limit=100)
            return page(
                "issues.html", 400, issues=rows, error=t("Ingen nye artikler å lage et nummer av.")
            )
        audit(session, "draft", issue_id=issue.id)
        session.commit()
        issue_id = issue.id
    flash(t("Nytt utkast laget."), "ok")
    return redirect(url_for("admin.issue", issue_id=issue_id))


@bp.get("/issues/<int:issue_id>")
def issue(issue_id: int):
    return issue_page(issue_id)


def _edit(issue_id: int, action: str, change: Callable[[Session], Any], **data: Any):
    """Run one editing change; on bad input re-render the page with 400 and change nothing."""
    with runtime().db.session() as session:
        issue_or_404(session, issue_id)
        try:
            change(session)
        except ValidationFailed as exc:
            session.rollback()
            return issue_page(issue_id, 400, exc.errors, form=request.form)
        audit(session, action, issue_id=issue_id, data=data)
        session.commit()
    flash(t("Lagret."), "ok")
    return redirect(url_for("admin.issue", issue_id=issue_id) + "#articles")


@bp.post("/issues/<int:issue_id>/content")
def content(issue_id: int):
    subject = request.form.get("subject")
    intro = request.form.get("intro")
    if subject is None and intro is None:
        return issue_page(issue_id, 400, {"subject": issue_editing.EMPTY_SUBJECT})
    return _edit(
        issue_id,
        "content",
        lambda s: issue_editing.update_content(s, issue_id, subject, intro),
    )


@bp.post("/issues/<int:issue_id>/articles")
def issue_articles(issue_id: int):
    verb, _, raw = request.form.get("action", "").partition(":")
    if verb not in ("up", "down", "remove") or not raw.isdigit() or len(raw) > 12:
        return issue_page(issue_id, 400, {"article_id": issue_editing.UNKNOWN_ARTICLE})
    article_id = int(raw)

    def change(session: Session) -> None:
        if verb == "remove":
            issue_editing.remove_article(session, issue_id, article_id)
        else:
            offset = -1 if verb == "up" else 1
            issue_editing.move_article(session, issue_id, article_id, offset)

    return _edit(issue_id, f"article_{verb}", change, article_id=article_id)


@bp.post("/issues/<int:issue_id>/articles/add")
def issue_add_article(issue_id: int):
    try:
        article_id = _article_id()
    except ValidationFailed as exc:
        return issue_page(issue_id, 400, exc.errors)
    return _edit(
        issue_id,
        "article_add",
        lambda s: issue_editing.add_article(s, issue_id, article_id),
        article_id=article_id,
    )


@bp.get("/issues/<int:issue_id>/send")
def send_confirm(issue_id: int):
    with runtime().db.session() as session:
        issue = issue_or_404(session, issue_id)
        if issue.status not in (IssueStatus.DRAFT, IssueStatus.SCHEDULED):
            return redirect(url_for("admin.issue", issue_id=issue_id))
        return page(
            "send_confirm.html",
            issue=issue,
            subject=issue_subject(issue, issue.language),
            recipients=ledger.count_recipients(session, issue),
        )


@bp.post("/issues/<int:issue_id>/send")
def send(issue_id: int):
    with runtime().db.session() as session:
        issue = issue_or_404(session, issue_id)
        try:
            started = service.start(session, issue_id)
        except ValidationFailed as exc:
            return issue_page(issue_id, 400, exc.errors)
        if started:
            audit(session, "send", issue_id=issue_id)
        session.commit()
        status = issue.status
    if not started:
        return _refused(issue_id, status)
    flash(t("Utsendelsen har startet."), "ok")
    return redirect(url_for("admin.issue", issue_id=issue_id))


@bp.post("/issues/<int:issue_id>/schedule")
def schedule(issue_id: int):
    if request.form.get("confirm") != "yes":
        return issue_page(issue_id, 400, {"confirm": CONFIRM_BOX})

    def change(session: Session) -> None:
        when = scheduling.parse_local_time(request.form.get("when", ""))
        scheduling.schedule(session, issue_id, when, utcnow())

    with runtime().db.session() as session:
        issue_or_404(session, issue_id)
        try:
            change(session)
        except ValidationFailed as exc:
            session.rollback()
            return issue_page(issue_id, 400, exc.errors)
        audit(session, "schedule", issue_id=issue_id, data={"when": request.form.get("when")})
        session.commit()
    flash(t("Utsendelsen er planlagt."), "ok")
    return redirect(url_for("admin.issue", issue_id=issue_id))


@bp.post("/issues/<int:issue_id>/unschedule")
def unschedule(issue_id: int):
    with runtime().db.session() as session:
        issue = issue_or_404(session, issue_id)
        if not scheduling.unschedule(session, issue_id):
            return _refused(issue_id, issue.status)
        audit(session, "unschedule", issue_id=issue_id)
        session.commit()
    return redirect(url_for("admin.issue", issue_id=issue_id))


def _lifecycle(issue_id: int, action: str, change: Callable[[Session, int], bool]):
    with runtime().db.session() as session:
        issue_or_404(session, issue_id)
        if not change(session, issue_id):
            session.rollback()
            return _refused(issue_id, issue_or_404(session, issue_id).status)
        audit(session, action, issue_id=issue_id)
        session.commit()
    return redirect(url_for("admin.issue", issue_id=issue_id))


@bp.post("/issues/<int:issue_id>/pause")
def pause(issue_id: int):
    return _lifecycle(issue_id, "pause", service.pause)


@bp.post("/issues/<int:issue_id>/resume")
def resume(issue_id: int):
    return _lifecycle(issue_id, "resume", service.resume)


@bp.post("/issues/<int:issue_id>/cancel")
def cancel(issue_id: int):
    if request.form.get("confirm") != "yes":
        return issue_page(issue_id, 400, {"confirm": CONFIRM_BOX})
    return _lifecycle(issue_id, "cancel", service.cancel)


@bp.post("/issues/<int:issue_id>/resend")
def resend(issue_id: int):
    """Queue the in-doubt (or failed) rows again: the editor's decision, after a warning."""
    which = request.form.get("which", DeliveryStatus.IN_DOUBT)
    if which not in service.RESENDABLE:
        return issue_page(issue_id, 400, {"status": NOT_NOW})
    if request.form.get("confirm") != "yes":
        return issue_page(issue_id, 400, {"confirm": CONFIRM_BOX})
    with runtime().db.session() as session:
        issue = issue_or_404(session, issue_id)
        try:
            count = service.resend(session, issue_id, which)
        except TransitionRefused:
            return _refused(issue_id, issue.status)
        audit(session, "resend", issue_id=issue_id, data={"which": which, "rows": count})
        session.commit()
    flash(tn("%(num)s e-post lagt i kø igjen.", "%(num)s e-poster lagt i kø igjen.", count), "ok")
    return redirect(url_for("admin.issue", issue_id=issue_id))


@bp.get("/issues/<int:issue_id>/progress.json")
def progress(issue_id: int):
    with runtime().db.session() as session:
        issue_or_404(session, issue_id)
        state = send_progress.progress(session, issue_id, runtime().settings)
    body = state.as_dict()
    body["recovery_text"] = recovery_text(state)
    body["percent"] = round(100 * state.done / state.total) if state.total else 0
    body["status_label"] = t(ISSUE.get(state.status, state.status))
    body["finished"] = state.finished
    return body
