"""Reader pages: signup, confirm, unsubscribe, archive, health."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import text

from mailer.app import csrf, runtime
from mailer.i18n import gettext
from mailer.models import Subscription
from mailer.subscriptions import (
    CONSENT_TEXT,
    NotFound,
    ValidationFailed,
    confirm,
    parse_preferences,
    parse_signup,
    subscribe,
    unsubscribe,
    update_preferences,
)
from mailer.tokens import ExpiredToken, InvalidToken, Purpose
from mailer.web.request_info import page_language, request_context
from worker.celery_app import enqueue

bp = Blueprint("public", __name__)


def _topics() -> tuple[str, ...]:
    return runtime().settings.newsletter_topics


def _signup_page(language: str, values: dict[str, object], errors: dict[str, str], status: int):
    return (
        render_template(
            "subscribe.html",
            language=language,
            values=values,
            errors=errors,
            topics=_topics(),
            consent_text=gettext(CONSENT_TEXT, language),
        ),
        status,
    )


@bp.get("/")
@bp.get("/subscribe")
def subscribe_form():
    return _signup_page(page_language(), {}, {}, 200)


@bp.post("/subscribe")
def subscribe_submit():
    language = page_language()
    data = {
        "email": request.form.get("email", ""),
        "name": request.form.get("name", ""),
        "consent": request.form.get("consent"),
        "language": request.form.get("language", language),
        "topics": request.form.getlist("topics"),
    }
    rt = runtime()
    try:
        signup = parse_signup(data, _topics())
    except ValidationFailed as exc:
        return _signup_page(language, data, exc.errors, 400)
    with rt.db.session() as session:
        outcome = subscribe(session, signup, request_context("web"))
        session.commit()
    if outcome.send_confirmation:
        enqueue(current_app, "mailer.send_confirmation", outcome.subscription_id)
    return render_template("subscribe_done.html", language=signup.language)


def _read_token(purpose: Purpose, token: str, language: str):
    """The subscription id, or an error page explaining what is wrong with the link."""
    try:
        return runtime().tokens.read(purpose, token), None
    except ExpiredToken:
        return None, (render_template("link_error.html", language=language, expired=True), 400)
    except InvalidToken:
        return None, (render_template("link_error.html", language=language, expired=False), 400)


@bp.route("/confirm/<path:token>", methods=["GET", "POST"])
@csrf.exempt
def confirm_page(token: str):
    language = page_language()
    subscription_id, error = _read_token(Purpose.CONFIRM, token, language)
    if error:
        return error
    if request.method == "GET":
        # A link scanner that follows the link only sees this page; the POST confirms.
        return render_template("confirm.html", language=language)
    rt = runtime()
    with rt.db.session() as session:
        try:
            subscription = confirm(session, subscription_id, request_context("web"))
        except NotFound:
            return render_template("link_error.html", language=language, expired=False), 400
        language = subscription.subscriber.language
        session.commit()
    return render_template("confirmed.html", language=language)


@bp.route("/unsubscribe/<path:token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe_page(token: str):
    language = page_language()
    subscription_id, error = _read_token(Purpose.UNSUBSCRIBE, token, language)
    if error:
        return error
    rt = runtime()
    if request.method == "GET":
        return render_template("unsubscribe.html", language=language)
    # RFC 8058: a POST (one-click from the mail client, or our button) unsubscribes at
    # once, with no cookie and no CSRF token, and answers 200 rather than a redirect.
    channel = "one-click" if request.form.get("List-Unsubscribe") == "One-Click" else "web"
    with rt.db.session() as session:
        try:
            subscription = unsubscribe(session, subscription_id, request_context(channel))
        except NotFound:
            return render_template("link_error.html", language=language, expired=False), 400
        language = subscription.subscriber.language
        session.commit()
    return render_template("unsubscribed.html", language=language), 200


@bp.route("/preferences/<path:token>", methods=["GET", "POST"])
def preferences(token: str):
    language = page_language()
    subscription_id, error = _read_token(Purpose.PREFERENCES, token, language)
    if error:
        return error
    rt = runtime()
    with rt.db.session() as session:
        subscription = session.get(Subscription, subscription_id)
        if subscription is None:
            return render_template("link_error.html", language=language, expired=False), 400
        subscriber = subscription.subscriber
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
                prefs = parse_preferences(values, _topics())
            except ValidationFailed as exc:
                errors, status = exc.errors, 400
            else:
                update_preferences(session, subscription_id, prefs, request_context("web"))
                session.commit()
                saved = True
        language = str(values.get("language") or language) if not errors else language
        unsubscribe_token = rt.tokens.make(Purpose.UNSUBSCRIBE, subscription_id)
        page = render_template(
            "preferences.html",
            language=language if language in ("nb", "en") else "nb",
            values=values,
            errors=errors,
            topics=_topics(),
            saved=saved,
            active=subscription.status == "active",
            unsubscribe_token=unsubscribe_token,
        )
    return page, status


@bp.get("/healthz")
def healthz():
    with runtime().db.session() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok"}
