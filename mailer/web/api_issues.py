"""JSON API for editors: an issue's progress and its send lifecycle (bearer token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, g, request
from sqlalchemy import select

from mailer import delivery_states as ds
from mailer import ledger
from mailer.app import csrf, runtime
from mailer.digest_cli import resend_and_queue, resume_and_queue
from mailer.digests import issue_subject
from mailer.models import Delivery, Issue, Subscriber, Subscription, record_event
from mailer.web.auth import token_required
from worker.celery_app import enqueue

bp = Blueprint("api_issues", __name__, url_prefix="/api/v1/issues")
csrf.exempt(bp)


def _progress(issue_id: int) -> tuple[dict[str, Any], int]:
    with runtime().db.session() as session:
        try:
            state = ledger.progress(session, issue_id)
        except ledger.IssueNotFound as exc:
            return {"errors": {"issue_id": str(exc)}}, 404
        issue = session.get(Issue, issue_id)
        assert issue is not None
        subject = issue_subject(issue, issue.language)
    return {**state.as_dict(), "subject": subject}, 200


def _audit(action: str, issue_id: int, **data: Any) -> None:
    with runtime().db.session() as session:
        record_event(
            session, f"api.{action}", issue_id=issue_id, data={"editor_id": g.editor_id, **data}
        )
        session.commit()


@bp.get("/<int:issue_id>")
@token_required
def show(issue_id: int):
    return _progress(issue_id)


@bp.post("/<int:issue_id>/send")
@token_required
def send(issue_id: int):
    with runtime().db.session() as session:
        try:
            started = ledger.request_send(session, issue_id)
        except ledger.IssueNotFound as exc:
            return {"errors": {"issue_id": str(exc)}}, 404
        session.commit()
    if started:
        enqueue(current_app, "mailer.start_send", issue_id)
    _audit("send", issue_id, started=started)
    body, status = _progress(issue_id)
    if not started and body["status"] not in ("sending", "sent"):
        return {"errors": {"status": f"issue {issue_id} is {body['status']}"}}, 409
    return {**body, "started": started}, 202 if started else 200


def _lifecycle(issue_id: int, action: str, change: Callable[[], bool]):
    try:
        changed = change()
    except ledger.IssueNotFound as exc:
        return {"errors": {"issue_id": str(exc)}}, 404
    body, _ = _progress(issue_id)
    if not changed:
        return {"errors": {"status": f"issue {issue_id} is {body['status']}; cannot {action}"}}, 409
    _audit(action, issue_id)
    return body, 200


def _in_session(fn: Callable[..., bool], issue_id: int) -> Callable[[], bool]:
    def run() -> bool:
        with runtime().db.session() as session:
            changed = fn(session, issue_id)
            session.commit()
        return changed

    return run


@bp.post("/<int:issue_id>/pause")
@token_required
def pause(issue_id: int):
    return _lifecycle(issue_id, "pause", _in_session(ledger.pause, issue_id))


@bp.post("/<int:issue_id>/cancel")
@token_required
def cancel(issue_id: int):
    return _lifecycle(issue_id, "cancel", _in_session(ledger.cancel, issue_id))


@bp.post("/<int:issue_id>/resume")
@token_required
def resume(issue_id: int):
    return _lifecycle(issue_id, "resume", lambda: resume_and_queue(issue_id))


@bp.post("/<int:issue_id>/resend-in-doubt")
@token_required
def resend_in_doubt(issue_id: int):
    try:
        count = resend_and_queue(issue_id)
    except ledger.IssueNotFound as exc:
        return {"errors": {"issue_id": str(exc)}}, 404
    except ledger.TransitionRefused as exc:
        return {"errors": {"status": str(exc)}}, 409
    _audit("resend_in_doubt", issue_id, rows=count)
    body, _ = _progress(issue_id)
    return {**body, "requeued": count}, 200


@bp.get("/<int:issue_id>/deliveries")
@token_required
def deliveries(issue_id: int):
    status = request.args.get("status", ds.IN_DOUBT)
    if status not in ds.ALL:
        return {"errors": {"status": f"one of {', '.join(ds.ALL)}"}}, 400
    with runtime().db.session() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.status, Delivery.attempts, Delivery.last_error)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Delivery.issue_id == issue_id, Delivery.status == status)
            .order_by(Delivery.id)
            .limit(1000)
        ).all()
    return {
        "deliveries": [
            {"email": e, "status": s, "attempts": a, "last_error": err} for e, s, a, err in rows
        ]
    }
