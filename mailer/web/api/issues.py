"""JSON API for editors: an issue's progress and its send lifecycle (bearer token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.bounces.stats import issue_bounces
from mailer.errors import NotFound, TransitionRefused, ValidationFailed
from mailer.events import record_event
from mailer.i18n import gettext
from mailer.issues import editing as issue_editing
from mailer.issues.drafting import NothingToDraft, draft_issue, issue_subject
from mailer.issues.models import Issue
from mailer.reports.stats import recent_issues
from mailer.runtime import runtime
from mailer.sending import ledger, service
from mailer.sending import progress as send_progress
from mailer.sending import states as ds
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus
from mailer.subscribers.models import Subscriber, Subscription
from mailer.web.api import schemas
from mailer.web.api.spec import operation
from mailer.web.auth import token_required
from mailer.web.csrf import csrf

bp = Blueprint("api_issues", __name__, url_prefix="/api/v1/issues")
csrf.exempt(bp)
TAGS = ("issues",)
ISSUE = ("issue_id",)


def _progress(issue_id: int) -> tuple[dict[str, Any], int]:
    rt = runtime()
    with rt.db.session() as session:
        try:
            state = send_progress.progress(session, issue_id, rt.settings)
        except ledger.IssueNotFound as exc:
            return {"errors": {"issue_id": str(exc)}}, 404
        issue = session.get(Issue, issue_id)
        assert issue is not None
        subject = issue_subject(issue, issue.language)
        bounces = issue_bounces(session, issue_id).as_dict()
    return {**state.as_dict(), "subject": subject, "bounces": bounces}, 200


def _audit(action: str, issue_id: int, **data: Any) -> None:
    with runtime().db.session() as session:
        record_event(
            session, f"api.{action}", issue_id=issue_id, data={"editor_id": g.editor_id, **data}
        )
        session.commit()


def _english(errors: dict[str, str]) -> dict[str, str]:
    return {field: gettext(message, "en") for field, message in errors.items()}


def _summary(session: Session, issue: Issue) -> dict[str, Any]:
    return {
        "id": issue.id,
        "subject": issue_subject(issue, issue.language),
        "custom_subject": issue.subject,
        "intro": issue.intro,
        "status": issue.status,
        "scheduled_at": issue.scheduled_at.isoformat() if issue.scheduled_at else None,
        "sent_at": issue.sent_at.isoformat() if issue.sent_at else None,
        "article_ids": [item.article_id for item in issue.items],
        "recipients": ledger.count_recipients(session, issue),
    }


@bp.get("")
@operation(tags=TAGS, HTTP_200=schemas.IssueList)
@token_required
def index():
    """The last 100 issues, newest first, with their delivery counts."""
    with runtime().db.session() as session:
        rows = recent_issues(session, "en", limit=100)
    return {
        "issues": [
            {
                "id": r.id,
                "subject": r.subject,
                "status": r.status,
                "created_at": r.created_at.isoformat(),
                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                "counts": r.counts,
            }
            for r in rows
        ]
    }


@bp.post("")
@operation(tags=TAGS, HTTP_201=schemas.IssueSummary, HTTP_409=schemas.Errors)
@token_required
def draft():
    """Draft an issue from the articles since the last sent one (like `mailer digest draft`)."""
    with runtime().db.session() as session:
        try:
            issue = draft_issue(session)
        except NothingToDraft as exc:
            return {"errors": {"articles": str(exc)}}, 409
        record_event(session, "api.draft", issue_id=issue.id, data={"editor_id": g.editor_id})
        session.commit()
        return _summary(session, issue), 201


@bp.get("/<int:issue_id>")
@operation(tags=TAGS, path_ids=ISSUE, HTTP_200=schemas.IssueDetail)
@token_required
def show(issue_id: int):
    """One issue: its content and its send progress (counts, rate, ETA, recovery)."""
    body, status = _progress(issue_id)
    if status == 200:
        with runtime().db.session() as session:
            issue = session.get(Issue, issue_id)
            assert issue is not None
            body = {**_summary(session, issue), **body}
    return body, status


@bp.patch("/<int:issue_id>")
@operation(
    tags=TAGS,
    path_ids=ISSUE,
    json_body=schemas.IssueEdit,
    HTTP_200=schemas.IssueSummary,
    HTTP_409=schemas.Errors,
)
@token_required
def edit(issue_id: int):
    """Change a draft: any of subject, intro (Markdown) and article_ids (the whole
    ordered list: reorder, drop and add in one call). All or nothing."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return {"errors": {"body": "expected a JSON object (Content-Type: application/json)"}}, 400
    errors: dict[str, str] = {}
    for key in ("subject", "intro"):
        if key in body and not isinstance(body[key], str):
            errors[key] = "must be a string"
    ids = body.get("article_ids")
    if ids is not None and (not isinstance(ids, list) or not all(type(i) is int for i in ids)):
        errors["article_ids"] = "must be a list of article ids (integers)"
    unknown = sorted(set(body) - {"subject", "intro", "article_ids"})
    if unknown:
        errors[unknown[0]] = "unknown field; use subject, intro or article_ids"
    if errors:
        return {"errors": errors}, 400
    with runtime().db.session() as session:
        if session.get(Issue, issue_id) is None:
            return {"errors": {"issue_id": f"no issue with id {issue_id}"}}, 404
        try:
            issue_editing.update_content(session, issue_id, body.get("subject"), body.get("intro"))
            if ids is not None:
                issue_editing.set_articles(session, issue_id, ids)
        except ValidationFailed as exc:
            session.rollback()
            status = 409 if "status" in exc.errors else 400
            return {"errors": _english(exc.errors)}, status
        record_event(
            session,
            "api.edit",
            issue_id=issue_id,
            data={"editor_id": g.editor_id, "fields": sorted(body)},
        )
        session.commit()
        issue = session.get(Issue, issue_id)
        assert issue is not None
        session.refresh(issue)
        return _summary(session, issue), 200


@bp.post("/<int:issue_id>/send")
@operation(
    tags=TAGS,
    path_ids=ISSUE,
    HTTP_200=schemas.SendStarted,
    HTTP_202=schemas.SendStarted,
    HTTP_409=schemas.Errors,
)
@token_required
def send(issue_id: int):
    """Start sending (202); a send already started is watched (200)."""
    with runtime().db.session() as session:
        try:
            started = service.start(session, issue_id)
        except NotFound as exc:
            return {"errors": {"issue_id": str(exc)}}, 404
        except ValidationFailed as exc:
            return {"errors": _english(exc.errors)}, 400
        session.commit()
    _audit("send", issue_id, started=started)
    body, status = _progress(issue_id)
    if not started and body["status"] not in ("sending", "sent"):
        return {"errors": {"status": f"issue {issue_id} is {body['status']}"}}, 409
    return {**body, "started": started}, 202 if started else 200


def _lifecycle(issue_id: int, action: str, change: Callable[[Session, int], bool]):
    with runtime().db.session() as session:
        try:
            changed = change(session, issue_id)
        except NotFound as exc:
            return {"errors": {"issue_id": str(exc)}}, 404
        session.commit()
    body, _ = _progress(issue_id)
    if not changed:
        return {"errors": {"status": f"issue {issue_id} is {body['status']}; cannot {action}"}}, 409
    _audit(action, issue_id)
    return body, 200


@bp.post("/<int:issue_id>/pause")
@operation(tags=TAGS, path_ids=ISSUE, HTTP_200=schemas.Progress, HTTP_409=schemas.Errors)
@token_required
def pause(issue_id: int):
    """Pause a send: the mails in flight finish, the rest wait."""
    return _lifecycle(issue_id, "pause", service.pause)


@bp.post("/<int:issue_id>/cancel")
@operation(tags=TAGS, path_ids=ISSUE, HTTP_200=schemas.Progress, HTTP_409=schemas.Errors)
@token_required
def cancel(issue_id: int):
    """Cancel a send for good; what went out stays out."""
    return _lifecycle(issue_id, "cancel", service.cancel)


@bp.post("/<int:issue_id>/resume")
@operation(tags=TAGS, path_ids=ISSUE, HTTP_200=schemas.Progress, HTTP_409=schemas.Errors)
@token_required
def resume(issue_id: int):
    """Resume a paused send."""
    return _lifecycle(issue_id, "resume", service.resume)


@bp.post("/<int:issue_id>/resend-in-doubt")
@operation(tags=TAGS, path_ids=ISSUE, HTTP_200=schemas.Resent, HTTP_409=schemas.Errors)
@token_required
def resend_in_doubt(issue_id: int):
    """Send the in-doubt mails again (those readers may get two copies)."""
    with runtime().db.session() as session:
        try:
            count = service.resend(session, issue_id)
        except NotFound as exc:
            return {"errors": {"issue_id": str(exc)}}, 404
        except TransitionRefused as exc:
            return {"errors": {"status": str(exc)}}, 409
        session.commit()
    _audit("resend_in_doubt", issue_id, rows=count)
    body, _ = _progress(issue_id)
    return {**body, "requeued": count}, 200


@bp.get("/<int:issue_id>/deliveries")
@operation(tags=TAGS, path_ids=ISSUE, query=schemas.DeliveriesQuery, HTTP_200=schemas.Deliveries)
@token_required
def deliveries(issue_id: int):
    """The deliveries of one state (default in-doubt), at most 1000."""
    status = request.args.get("status", DeliveryStatus.IN_DOUBT)
    if status not in ds.ALL:
        return {"errors": {"status": f"one of {', '.join(ds.ALL)}"}}, 400
    with runtime().db.session() as session:
        rows = session.execute(
            select(
                Subscriber.email,
                Delivery.status,
                Delivery.attempts,
                Delivery.last_error,
                Delivery.message_id,
            )
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Delivery.issue_id == issue_id, Delivery.status == status)
            .order_by(Delivery.id)
            .limit(1000)
        ).all()
    listed = []
    for e, s, a, err, message_id in rows:
        row: dict[str, Any] = {"email": e, "status": s, "attempts": a, "last_error": err}
        if s == DeliveryStatus.IN_DOUBT:
            # Whether the server may have it: true when its content went out unanswered,
            # null when nobody knows (the worker's journal was lost).
            row["content_sent"] = send_progress.in_doubt_content_sent(message_id)
            row["message_id"] = message_id
        listed.append(row)
    return {"deliveries": listed}
