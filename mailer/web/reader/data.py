"""GDPR self-service from the preferences page: "send me my data" and "delete me".

- POST /data-request/<preferences token> queues a mail to the address on file with a
  signed link (7 days) to GET /data/<export token>: the JSON export as a download.
- GET /erase/<preferences token> asks once more; POST erases the reader: everything
  is deleted, only a keyed hash of the address stays on the suppression list.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template, request

from mailer.db import utcnow
from mailer.runtime import runtime
from mailer.subscribers.erasure import erase_subscriber, export_subscriber
from mailer.subscribers.export import request_export
from mailer.tokens import Purpose
from mailer.web.reader.limits import per_ip_post_limit
from mailer.web.reader.personal_links import open_link
from mailer.web.request_info import page_language, request_context

bp = Blueprint("gdpr", __name__)


def _language(subscriber_language: str) -> str:
    """The reader's own language, unless the page was asked for in another (?lang=)."""
    return page_language() if request.args.get("lang") else subscriber_language


@bp.post("/data-request/<token>")
@per_ip_post_limit()
def data_request(token: str):
    language = page_language()
    rt = runtime()
    with rt.db.session() as session:
        subscription, error = open_link(session, Purpose.PREFERENCES, token, language)
        if subscription is None:
            return error
        subscription_id = subscription.id
        language = _language(subscription.subscriber.language)
        request_export(session, subscription_id, utcnow())
        session.commit()
    return render_template("export_requested.html", language=language, token=token)


@bp.get("/data/<token>")
def data_download(token: str):
    language = page_language()
    with runtime().db.session() as session:
        subscription, error = open_link(session, Purpose.EXPORT, token, language)
        if subscription is None:
            return error
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
    rt = runtime()
    with rt.db.session() as session:
        # Already erased (a second click, or the back button): say so again.
        subscription, error = open_link(
            session, Purpose.PREFERENCES, token, language, gone="erased.html"
        )
        if subscription is None:
            return error
        language = _language(subscription.subscriber.language)
        if request.method == "GET":
            return render_template("erase_confirm.html", language=language, token=token)
        erase_subscriber(
            session,
            subscription.subscriber_id,
            rt.settings.secret_keys[0],
            request_context("web"),
            var_dir=rt.settings.var_dir,
        )
        session.commit()
    rt.db.drop_deleted()
    return render_template("erased.html", language=language)
