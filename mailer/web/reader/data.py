"""GDPR self-service from the preferences page: "send me my data" and "delete me".

- POST /data-request/<preferences token> queues a mail to the address on file with a
  signed link (7 days) to GET /data/<export token>: the JSON export as a download.
- GET /erase/<preferences token> asks once more; POST erases the reader: everything
  is deleted, only a keyed hash of the address stays on the suppression list.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, render_template, request

from mailer.db import utcnow
from mailer.models import Subscription
from mailer.runtime import runtime
from mailer.subscribers.erasure import erase_subscriber, export_subscriber
from mailer.subscribers.export import request_export
from mailer.tokens import ExpiredToken, InvalidToken, Purpose
from mailer.web.reader.limits import per_ip_post_limit
from mailer.web.request_info import page_language, request_context
from worker.celery_app import enqueue

bp = Blueprint("gdpr", __name__)


def _link_error(language: str, purpose: Purpose, expired: bool):
    page = render_template(
        "link_error.html", language=language, expired=expired, purpose=purpose.value
    )
    return page, 400


def _language(subscriber_language: str) -> str:
    """The reader's own language, unless the page was asked for in another (?lang=)."""
    return page_language() if request.args.get("lang") else subscriber_language


def _subscription_id(purpose: Purpose, token: str) -> tuple[int | None, bool]:
    """(id, expired): id None when the token is not valid for ``purpose``."""
    try:
        return runtime().tokens.read(purpose, token), False
    except ExpiredToken:
        return None, True
    except InvalidToken:
        return None, False


@bp.post("/data-request/<token>")
@per_ip_post_limit()
def data_request(token: str):
    language = page_language()
    subscription_id, expired = _subscription_id(Purpose.PREFERENCES, token)
    if subscription_id is None:
        return _link_error(language, Purpose.PREFERENCES, expired)
    rt = runtime()
    with rt.db.session() as session:
        subscription = session.get(Subscription, subscription_id)
        if subscription is None:
            return _link_error(language, Purpose.PREFERENCES, False)
        language = _language(subscription.subscriber.language)
        send = request_export(session, subscription_id, utcnow())
        session.commit()
    if send:
        enqueue(current_app, "mailer.send_data_export", subscription_id)
    return render_template("export_requested.html", language=language, token=token)


@bp.get("/data/<token>")
def data_download(token: str):
    language = page_language()
    subscription_id, expired = _subscription_id(Purpose.EXPORT, token)
    if subscription_id is None:
        return _link_error(language, Purpose.EXPORT, expired)
    with runtime().db.session() as session:
        subscription = session.get(Subscription, subscription_id)
        if subscription is None:
            return _link_error(language, Purpose.EXPORT, False)
        data = export_subscriber(session, subscription.subscriber_id)
    body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="nyhetsbrev-data.json"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/erase/<token>", methods=["GET", "POST"])
@per_ip_post_limit()
def erase(token: str):
    language = page_language()
    subscription_id, expired = _subscription_id(Purpose.PREFERENCES, token)
    if subscription_id is None:
        return _link_error(language, Purpose.PREFERENCES, expired)
    rt = runtime()
    with rt.db.session() as session:
        subscription = session.get(Subscription, subscription_id)
        if subscription is None:
            # Already erased (a second click, or the back button): say so again.
            return render_template("erased.html", language=language)
        language = _language(subscription.subscriber.language)
        if request.method == "GET":
            return render_template("erase_confirm.html", language=language, token=token)
        erase_subscriber(
            session,
            subscription.subscriber_id,
            rt.settings.secret_keys[0],
            request_context("web"),
        )
        session.commit()
    return render_template("erased.html", language=language)
