"""JSON API for readers' signups (no CSRF: it carries no cookie-based authority).

CORS: a browser on one of ``MAILER_ALLOWED_ORIGINS`` may call it (the preflight is
answered for those origins only); any other origin gets no Access-Control headers, so
its page cannot read the answer, and its JSON POST never passes the preflight.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from mailer.errors import ValidationFailed
from mailer.issues.newsletter import load_topics
from mailer.origins import is_allowed
from mailer.runtime import runtime
from mailer.subscribers.abuse import HONEYPOT_FIELD, honeypot_filled
from mailer.subscribers.signup_requests import parse_signup
from mailer.subscribers.subscriptions import subscribe
from mailer.web.api import schemas
from mailer.web.api.spec import operation
from mailer.web.csrf import csrf
from mailer.web.reader.limits import per_ip_post_limit
from mailer.web.request_info import request_context

log = logging.getLogger("mailer.subscribers.abuse")

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

ACCEPTED = {
    "status": "accepted",
    "message": "If the address can receive the newsletter, a confirmation link has been sent.",
}


CORS_PATHS = ("/api/v1/subscribers",)


@bp.after_request
def cors(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if request.path not in CORS_PATHS:
        return response
    response.vary.add("Origin")
    if origin and is_allowed(origin, runtime().settings.allowed_origins):
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
    return response


@bp.post("/subscribers")
@operation(
    tags=("subscribers",),
    public=True,
    json_body=schemas.SignupIn,
    HTTP_202=schemas.Accepted,
    HTTP_429=schemas.Errors,
)
@per_ip_post_limit()
def create_subscriber():
    """A reader signs up (double opt-in); the same answer whether or not the address
    was known."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {"errors": {"body": "expected a JSON object (Content-Type: application/json)"}}, 400
    rt = runtime()
    if honeypot_filled(data.get(HONEYPOT_FIELD)):
        log.info("API signup dropped: honeypot filled")
        return ACCEPTED, 202
    try:
        signup = parse_signup(data, load_topics(rt.db, rt.settings))
    except ValidationFailed as exc:
        return {"errors": exc.errors}, 400
    with rt.db.session() as session:
        subscribe(session, signup, request_context("api"))
        session.commit()
    # The same answer for new, pending, active and former subscribers.
    return ACCEPTED, 202
