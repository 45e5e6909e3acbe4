"""JSON API for editors: search subscribers and read one (bearer token).

``POST /api/v1/subscribers`` (a reader's signup) lives in ``api.py``; these are the
editors' reads on the same collection.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from mailer.errors import ValidationFailed
from mailer.i18n import gettext
from mailer.issues.newsletter import load_topics
from mailer.runtime import runtime
from mailer.subscribers import directory as subscriber_directory
from mailer.web.api import schemas
from mailer.web.api.spec import operation
from mailer.web.auth import token_required
from mailer.web.csrf import csrf

bp = Blueprint("api_subscribers", __name__, url_prefix="/api/v1/subscribers")
csrf.exempt(bp)
TAGS = ("subscribers",)


@bp.get("")
@operation(tags=TAGS, query=schemas.SubscriberQuery, HTTP_200=schemas.SubscriberList)
@token_required
def index():
    """?q= (email or name), ?state=, ?topic=, ?page= (50 a page, newest first)."""
    args = {k: request.args.get(k, "") for k in ("q", "state", "topic", "page")}
    rt = runtime()
    try:
        filters = subscriber_directory.parse_filters(args, load_topics(rt.db, rt.settings))
    except ValidationFailed as exc:
        return {"errors": {k: gettext(v, "en") for k, v in exc.errors.items()}}, 400
    with rt.db.session() as session:
        result = subscriber_directory.search(session, filters)
    return {
        "total": result.total,
        "page": result.page,
        "pages": result.pages,
        "subscribers": [
            {
                "id": r.id,
                "email": r.email,
                "name": r.name,
                "language": r.language,
                "status": r.status,
                "topics": list(r.topics or []),
                "created_at": r.created_at.isoformat(),
            }
            for r in result.rows
        ],
    }


def _when(value: Any) -> str | None:
    return value.isoformat() if value else None


@bp.get("/<int:subscriber_id>")
@operation(tags=TAGS, path_ids=("subscriber_id",), HTTP_200=schemas.SubscriberDetail)
@token_required
def show(subscriber_id: int):
    """One subscriber with their subscriptions, consent records and deliveries."""
    rt = runtime()
    with rt.db.session() as session:
        try:
            d = subscriber_directory.detail(session, subscriber_id, "en", rt.settings.secret_keys)
        except subscriber_directory.SubscriberNotFound as exc:
            return {"errors": {"subscriber_id": str(exc)}}, 404
        return {
            "id": d.subscriber.id,
            "email": d.subscriber.email,
            "name": d.subscriber.name,
            "language": d.subscriber.language,
            "created_at": _when(d.subscriber.created_at),
            "suppressed": d.suppressed,
            "subscriptions": [
                {
                    "status": s.status,
                    "topics": list(s.topics or []),
                    "confirmed_at": _when(s.confirmed_at),
                    "unsubscribed_at": _when(s.unsubscribed_at),
                }
                for s in d.subscriptions
            ],
            "consents": [
                {
                    "action": c.action,
                    "channel": c.channel,
                    "text": c.text,
                    "text_version": c.text_version,
                    "created_at": _when(c.created_at),
                }
                for c in d.consents
            ],
            "deliveries": [
                {
                    "issue_id": r.issue_id,
                    "status": r.status,
                    "attempts": r.attempts,
                    "sent_at": _when(r.sent_at),
                    "last_error": r.last_error,
                }
                for r in d.deliveries
            ],
        }
