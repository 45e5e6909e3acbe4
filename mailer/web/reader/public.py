"""Reader pages: signup, confirm, unsubscribe, archive, health."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import text

from mailer.errors import ValidationFailed
from mailer.issues.newsletter import current_topics, offered_topics
from mailer.runtime import runtime
from mailer.subscribers.preferences import parse_preferences, update_preferences
from mailer.subscribers.states import SubscriptionStatus
from mailer.tokens import Purpose
from mailer.web.csrf import csrf
from mailer.web.reader import link_pages, signup_form
from mailer.web.reader.limits import per_ip_post_limit
from mailer.web.reader.personal_links import open_link
from mailer.web.request_info import page_language, request_context

bp = Blueprint("public", __name__)


@bp.get("/")
@bp.get("/subscribe")
def subscribe_form():
    return signup_form.show_form()


@bp.post("/subscribe")
@csrf.exempt  # checked in the view: the embed snippet from an allowed origin has no token
@per_ip_post_limit()
def subscribe_submit():
    return signup_form.submit()


@bp.route("/confirm/<path:token>", methods=["GET", "POST"])
@csrf.exempt
def confirm_page(token: str):
    return link_pages.confirm_page(token)


@bp.route("/unsubscribe/<path:token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe_page(token: str):
    return link_pages.unsubscribe_page(token)


@bp.route("/preferences/<path:token>", methods=["GET", "POST"])
def preferences(token: str):
    language = page_language()
    rt = runtime()
    with rt.db.session() as session:
        subscription, error = open_link(session, Purpose.PREFERENCES, token, language)
        if subscription is None:
            return error
        subscription_id = subscription.id
        subscriber = subscription.subscriber
        topics = offered_topics(current_topics(session, rt.settings), subscription.topics or [])
        values: dict[str, object] = {
            "name": subscriber.name,
            "language": subscriber.language,
            "topics": list(subscription.topics or []),
        }
        errors: dict[str, str] = {}
        saved = False
        status = 200
        if request.method == "POST":
            values = {
                "name": request.form.get("name", ""),
                "language": request.form.get("language", ""),
                "topics": request.form.getlist("topics"),
            }
            try:
                prefs = parse_preferences(values, topics)
            except ValidationFailed as exc:
                errors, status = exc.errors, 400
            else:
                update_preferences(session, subscription_id, prefs, request_context("web"))
                session.commit()
                saved = True
        language = str(values.get("language") or language) if not errors else language
        unsubscribe_token = rt.tokens.make(
            Purpose.UNSUBSCRIBE, subscription_id, subscription.link_secret
        )
        page = render_template(
            "preferences.html",
            language=language if language in ("nb", "en") else "nb",
            values=values,
            errors=errors,
            topics=topics,
            saved=saved,
            active=subscription.status == SubscriptionStatus.ACTIVE,
            status=subscription.status,
            unsubscribe_token=unsubscribe_token,
            token=token,
            email=subscriber.email,
        )
    return page, status


@bp.get("/healthz")
def healthz():
    with runtime().db.session() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok"}
