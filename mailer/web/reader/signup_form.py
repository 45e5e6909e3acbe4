"""The signup form's logic: our own page and the snippet embedded in the site's CMS.

Our form carries a CSRF token and a signed fill-time stamp. The embedded snippet
carries neither (it is static HTML on another origin): it is accepted without a
CSRF token only when it says so (``embed=1``) *and* the browser's Origin (or
Referer) is one of ``MAILER_ALLOWED_ORIGINS``. Both get the honeypot and the
per-IP limits. A filled honeypot is rejected silently: the same answer as a real
signup, nothing stored, no mail. A form sent faster than the minimum fill time is shown
again with a «prøv igjen» message (people with autofill are that fast too).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from flask import redirect, render_template, request
from flask.typing import ResponseReturnValue

from mailer.errors import ValidationFailed
from mailer.i18n import N_, gettext
from mailer.issues.newsletter import load_topics
from mailer.origins import is_allowed, origin_of, safe_redirect
from mailer.runtime import runtime
from mailer.subscribers.abuse import (
    EMBED_FIELD,
    HONEYPOT_FIELD,
    STAMP_FIELD,
    filled_too_fast,
    honeypot_filled,
    make_form_stamp,
)
from mailer.subscribers.consent import CONSENT_TEXT, CONSENT_VERSION
from mailer.subscribers.signup_requests import parse_signup
from mailer.subscribers.subscriptions import default_newsletter, subscribe
from mailer.web.csrf import csrf
from mailer.web.request_info import page_language, request_context

log = logging.getLogger("mailer.subscribers.abuse")

TOO_FAST = N_(
    "Det gikk litt for fort – vi rakk ikke å ta imot skjemaet. Se over opplysningene og prøv igjen."
)


def _topics() -> tuple[str, ...]:
    rt = runtime()
    return load_topics(rt.db, rt.settings)


def _name_and_topics() -> tuple[str, tuple[str, ...]]:
    """The newsletter's name and topics from its one row: one statement for the page."""
    rt = runtime()
    with rt.db.session() as session:
        newsletter = default_newsletter(session)
        topics = tuple(newsletter.topics) if newsletter.topics else rt.settings.newsletter_topics
        return newsletter.name, topics


def _next_url(value: str | None) -> str | None:
    return safe_redirect(value, runtime().settings.allowed_origins)


def signup_page(
    language: str,
    values: Mapping[str, object],
    errors: dict[str, str],
    status: int,
    next_url: str | None = None,
    notice: str = "",
) -> ResponseReturnValue:
    rt = runtime()
    site = rt.settings.site
    name, topics = _name_and_topics()
    return (
        render_template(
            "subscribe.html",
            language=language,
            values=values,
            errors=errors,
            notice=notice,
            newsletter_name=name,
            description=site.text("description", language),
            frequency=site.text("frequency", language),
            privacy_url=site.privacy_url,
            topics=topics,
            consent_text=gettext(CONSENT_TEXT, language),
            consent_version=CONSENT_VERSION,
            form_stamp=make_form_stamp(rt.settings.secret_keys, time.time()),
            stamp_field=STAMP_FIELD,
            honeypot_field=HONEYPOT_FIELD,
            next_url=next_url,
        ),
        status,
    )


def show_form() -> ResponseReturnValue:
    return signup_page(page_language(), {}, {}, 200, _next_url(request.args.get("next")))


def _request_origin() -> str | None:
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin
    referer = request.headers.get("Referer")
    return origin_of(referer) if referer else None


def is_embedded_post() -> bool:
    """The embed snippet, posted from a page on an allowed origin."""
    return request.form.get(EMBED_FIELD) == "1" and is_allowed(
        _request_origin(), runtime().settings.allowed_origins
    )


def thank_you(language: str, next_url: str | None) -> ResponseReturnValue:
    if next_url:
        return redirect(next_url, code=303)
    return render_template("subscribe_done.html", language=language)


def submit() -> ResponseReturnValue:
    embedded = is_embedded_post()
    if not embedded:
        csrf.protect()  # raises CSRFError: 400 naming csrf_token
    rt = runtime()
    language = page_language()
    next_url = _next_url(request.form.get("next"))
    data = {
        "email": request.form.get("email", ""),
        "name": request.form.get("name", ""),
        "consent": request.form.get("consent"),
        "consent_version": request.form.get("consent_version", ""),
        "language": request.form.get("language", language),
        "topics": request.form.getlist("topics"),
    }
    if honeypot_filled(request.form.get(HONEYPOT_FIELD)):
        log.info("signup dropped: honeypot filled (%s)", "embed" if embedded else "form")
        return thank_you(language, next_url)
    try:
        signup = parse_signup(data, _topics())
    except ValidationFailed as exc:
        # Back on our own form (with a CSRF token and a fresh stamp), the reader's
        # thank-you page still where the embed said.
        return signup_page(language, data, exc.errors, 400, next_url)
    if not embedded and filled_too_fast(
        rt.settings.secret_keys,
        request.form.get(STAMP_FIELD),
        time.time(),
        rt.settings.min_fill_seconds,
    ):
        # Autofill makes people this fast too: the form again, as they filled it, with a
        # fresh stamp. A bot gains nothing (nothing is stored, no mail); a person loses
        # nothing (one more click).
        log.info("signup held: form filled faster than %ss", rt.settings.min_fill_seconds)
        return signup_page(language, data, {}, 200, next_url, gettext(TOO_FAST, language))
    with rt.db.session() as session:
        subscribe(session, signup, request_context("embed" if embedded else "web"))
        session.commit()
    return thank_you(signup.language, next_url)
