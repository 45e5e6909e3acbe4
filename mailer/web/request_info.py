"""What a view needs to know about the request: language and where it came from."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import HTTPException

from mailer.i18n import LANGUAGES, normalise_language
from mailer.subscribers.consent import RequestContext


def page_language() -> str:
    if request.args.get("lang"):
        return normalise_language(request.args["lang"])
    try:
        form_language = request.form.get("language")
    except HTTPException:
        # A body too large (413) or cut off: the error page still needs a language.
        form_language = None
    if form_language:
        return normalise_language(form_language)
    best = request.accept_languages.best_match(["nb", "no", "nn", "en"])
    return normalise_language(best) if best else LANGUAGES[0]


def client_ip() -> str:
    """The client's address, the one every per-IP limit, audit event and consent row uses.

    Behind ``MAILER_TRUSTED_PROXIES`` = n proxies, the app factory's ProxyFix has already
    put the n-th address from the right of X-Forwarded-For here (each trusted proxy
    appends one; anything further left is the client's own say); else it is the peer."""
    return (request.remote_addr or "")[:64]


def request_context(channel: str) -> RequestContext:
    return RequestContext(
        ip=client_ip(),
        user_agent=request.headers.get("User-Agent", "")[:400],
        channel=channel,
    )
