"""A new confirmation link for a reader whose link expired.

The expired page posts the old token here. itsdangerous still reads the id from a
correctly signed token past its age; a forged one, or one whose id now names another
reader's row, gets the invalid-link page. Otherwise the answer is the same whether a
mail goes out or not (already confirmed, gone, or a link sent within the hour).
"""

from __future__ import annotations

from flask import Blueprint, render_template

from mailer.runtime import runtime
from mailer.subscribers.links import names_another_row
from mailer.subscribers.subscriptions import request_new_confirmation
from mailer.tokens import InvalidToken, Purpose
from mailer.web.reader.limits import per_ip_post_limit
from mailer.web.reader.personal_links import link_error
from mailer.web.request_info import page_language

bp = Blueprint("resend", __name__)


@bp.post("/resend/<token>")
@per_ip_post_limit()
def resend_confirmation(token: str):
    language = page_language()
    rt = runtime()
    try:
        link = rt.tokens.read_expired(Purpose.CONFIRM, token)
    except InvalidToken:
        return link_error(language, Purpose.CONFIRM, False)
    subscription_id = link.subscription_id
    with rt.db.session() as session:
        if names_another_row(session, link):
            return link_error(language, Purpose.CONFIRM, False)
        request_new_confirmation(session, subscription_id)
        session.commit()
    return render_template("resend_done.html", language=language)
