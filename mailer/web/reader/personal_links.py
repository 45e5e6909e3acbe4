"""The reader pages' one way from a personal token to its subscription, or to the page
that says what is wrong with the link."""

from __future__ import annotations

from flask import render_template
from sqlalchemy.orm import Session

from mailer.runtime import runtime
from mailer.subscribers.links import names_another_row, subscription_for
from mailer.subscribers.models import Subscription
from mailer.tokens import ExpiredToken, InvalidToken, Purpose

ErrorPage = tuple[str, int]


def link_error(language: str, purpose: Purpose, expired: bool, token: str = "") -> ErrorPage:
    page = render_template(
        "link_error.html", language=language, expired=expired, purpose=purpose.value, token=token
    )
    return page, 400


def open_link(
    session: Session, purpose: Purpose, token: str, language: str, *, gone: str = ""
) -> tuple[Subscription | None, ErrorPage | None]:
    """(the subscription, None), or (None, the error page to answer with).

    A link whose id now names another row (an earlier reader's link, after that reader
    was erased and the id was given again) is invalid, whatever its age. A correct link
    to a row that is gone gets the ``gone`` template when one is given.
    """
    try:
        link = runtime().tokens.read(purpose, token)
    except ExpiredToken as exc:
        if names_another_row(session, exc.link):
            return None, link_error(language, purpose, False)
        return None, link_error(language, purpose, True, token)
    except InvalidToken:
        return None, link_error(language, purpose, False)
    subscription = subscription_for(session, link)
    if subscription is None:
        if gone and session.get(Subscription, link.subscription_id) is None:
            return None, (render_template(gone, language=language), 200)
        return None, link_error(language, purpose, False)
    return subscription, None
