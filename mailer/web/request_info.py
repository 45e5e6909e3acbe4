"""What a view needs to know about the request: language and where it came from."""

from __future__ import annotations

from flask import request

from mailer.i18n import LANGUAGES, normalise_language
from mailer.subscriptions import RequestContext


def page_language() -> str:
    if request.args.get("lang"):
        return normalise_language(request.args["lang"])
    if request.form.get("language"):
        return normalise_language(request.form["language"])
    best = request.accept_languages.best_match(["nb", "no", "nn", "en"])
    return normalise_language(best) if best else LANGUAGES[0]


def request_context(channel: str) -> RequestContext:
    return RequestContext(
        ip=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", "")[:400],
        channel=channel,
    )
