"""Provider webhooks for bounces and complaints: /webhooks/ses, /webhooks/mailgun,
/webhooks/postmark. Each is 404 until its secret is set; a request that does not
authenticate is refused (403, 401 for Postmark) and changes nothing; an accepted one is
stored and its processing queued (mailer.bounces.service), so a retry is harmless.

Their bodies may be as large as a report may be anywhere (MAILER_BOUNCE_MAX_BYTES, 10 MB:
a provider's event can carry the bounced mail's headers and more); every other route keeps
the app's small limit. A larger body is 413 and nothing is stored."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, request
from werkzeug.exceptions import RequestEntityTooLarge

from mailer.bounces.service import store_report
from mailer.bounces.webhooks import (
    SubscribeConfirmation,
    ToStore,
    WebhookRefused,
    confirm_subscription,
    read_mailgun,
    read_postmark,
    read_ses,
)
from mailer.db import utcnow
from mailer.runtime import runtime
from mailer.web.csrf import csrf
from mailer.web.limits import limiter
from mailer.web.request_info import client_ip

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)
LIMIT = "600 per minute"


@bp.before_request
def _larger_bodies() -> None:
    # Before anything reads the body: the app's MAX_CONTENT_LENGTH is for forms and JSON.
    request.max_content_length = runtime().settings.bounces.max_bytes


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge):
    limit = runtime().settings.bounces.max_bytes
    message = f"the body is larger than {limit} bytes (MAILER_BOUNCE_MAX_BYTES)"
    log.warning("webhook %s refused: %s", request.path, message)
    return {"errors": {"body": message}}, 413


def _refused(exc: WebhookRefused, status: int = 403):
    log.warning("webhook %s refused: %s", request.path, exc)
    return {"errors": {"signature": str(exc)}}, status


def _store(item: ToStore):
    rt = runtime()
    with rt.db.session() as session:
        stored = store_report(session, rt.settings, item.source, item.payload, key=item.key)
    return {"status": "stored", "new": stored.new}, 200


@bp.post("/ses")
@limiter.limit(LIMIT, key_func=client_ip)
def ses():
    settings = runtime().settings
    if not settings.bounces.ses_topic_arns:
        abort(404)
    try:
        found = read_ses(settings, request.get_data(cache=False), utcnow())
        if isinstance(found, SubscribeConfirmation):
            confirm_subscription(settings, found)
            return {"status": "subscribed"}, 200
    except WebhookRefused as exc:
        return _refused(exc)
    if found is None:
        return {"status": "ignored"}, 200
    return _store(found)


@bp.post("/mailgun")
@limiter.limit(LIMIT, key_func=client_ip)
def mailgun():
    settings = runtime().settings
    if not settings.bounces.mailgun_signing_key:
        abort(404)
    try:
        item = read_mailgun(settings, request.get_data(cache=False), utcnow())
    except WebhookRefused as exc:
        return _refused(exc)
    return _store(item)


@bp.post("/postmark")
@limiter.limit(LIMIT, key_func=client_ip)
def postmark():
    settings = runtime().settings
    if not (settings.bounces.postmark_user and settings.bounces.postmark_password):
        abort(404)
    try:
        item = read_postmark(
            settings, request.headers.get("Authorization", ""), request.get_data(cache=False)
        )
    except WebhookRefused as exc:
        body, status = _refused(exc, 401)
        return body, status, {"WWW-Authenticate": 'Basic realm="mailer webhooks"'}
    return _store(item)
