"""The confirm and unsubscribe pages a reader's personal link opens (issue 14's promises:
a GET only shows the page, the POST changes the subscription, once).

Plain functions the routes in public.py call: mutmut does not mutate a decorated function,
so the views' bodies live here, where `make mutate` reaches them (tests/MUTATION.md).
"""

from __future__ import annotations

from flask import render_template, request

from mailer.runtime import runtime
from mailer.subscribers.models import Subscription
from mailer.subscribers.subscriptions import confirm, unsubscribe
from mailer.tokens import Purpose
from mailer.web.reader.personal_links import open_link
from mailer.web.request_info import page_language, request_context


def reader_language(subscription: Subscription, fallback: str) -> str:
    """The language the reader chose (the link came in a mail in that language), unless
    the page was asked for in another with ?lang=."""
    return fallback if request.args.get("lang") else subscription.subscriber.language


def confirm_page(token: str):
    language = page_language()
    rt = runtime()
    with rt.db.session() as session:
        subscription, error = open_link(session, Purpose.CONFIRM, token, language)
        if subscription is None:
            return error
        if request.method == "GET":
            # A link scanner that follows the link only sees this page; the POST confirms.
            return render_template("confirm.html", language=reader_language(subscription, language))
        site = rt.settings.site
        confirm(
            session,
            subscription.id,
            request_context("web"),
            secret_keys=rt.settings.secret_keys,
            welcome=site.welcome_enabled,
        )
        language = subscription.subscriber.language
        newsletter_name = subscription.newsletter.name
        preferences_token = rt.tokens.make(
            Purpose.PREFERENCES, subscription.id, subscription.link_secret
        )
        session.commit()
    return render_template(
        "confirmed.html",
        language=language,
        newsletter_name=newsletter_name,
        frequency=site.text("frequency", language),
        welcome=site.welcome_enabled,
        preferences_token=preferences_token,
    )


def unsubscribe_page(token: str):
    language = page_language()
    rt = runtime()
    with rt.db.session() as session:
        subscription, error = open_link(session, Purpose.UNSUBSCRIBE, token, language)
        if subscription is None:
            return error
        preferences_token = rt.tokens.make(
            Purpose.PREFERENCES, subscription.id, subscription.link_secret
        )
        if request.method == "GET":
            return render_template(
                "unsubscribe.html",
                language=reader_language(subscription, language),
                preferences_token=preferences_token,
            )
        # RFC 8058: a POST (one-click from the mail client, or our button) unsubscribes at
        # once, with no cookie and no CSRF token, and answers 200 rather than a redirect.
        channel = "one-click" if request.form.get("List-Unsubscribe") == "One-Click" else "web"
        unsubscribe(session, subscription.id, request_context(channel))
        language = subscription.subscriber.language
        session.commit()
    page = render_template(
        "unsubscribed.html", language=language, preferences_token=preferences_token
    )
    return page, 200
