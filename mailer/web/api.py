"""JSON API for readers' signups (no CSRF: it carries no cookie-based authority)."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from mailer.app import csrf, runtime
from mailer.subscriptions import ValidationFailed, parse_signup, subscribe
from mailer.web.request_info import request_context
from worker.celery_app import enqueue

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

ACCEPTED = {
    "status": "accepted",
    "message": "If the address can receive the newsletter, a confirmation link has been sent.",
}


@bp.post("/subscribers")
def create_subscriber():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {"errors": {"body": "expected a JSON object (Content-Type: application/json)"}}, 400
    rt = runtime()
    try:
        signup = parse_signup(data, rt.settings.newsletter_topics)
    except ValidationFailed as exc:
        return {"errors": exc.errors}, 400
    with rt.db.session() as session:
        outcome = subscribe(session, signup, request_context("api"))
        session.commit()
    if outcome.send_confirmation:
        enqueue(current_app, "mailer.send_confirmation", outcome.subscription_id)
    # The same answer for new, pending, active and former subscribers.
    return ACCEPTED, 202
