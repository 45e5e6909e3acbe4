"""Error pages: HTML for pages, JSON for /api; never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from mailer.i18n import gettext
from mailer.web.access_log import redact_tokens
from mailer.web.limits import retry_after_seconds
from mailer.web.request_info import page_language
from mailer.web.request_input import RefusedInput

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/webhooks/"))


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        language = page_language()
        message = gettext(
            "Skjemaet er utløpt eller ugyldig. Last siden på nytt og prøv igjen.", language
        )
        if _wants_json():
            return {"errors": {"csrf_token": message}}, 400
        return render_template(
            "error.html", language=language, title=message, field="csrf_token"
        ), 400

    @app.errorhandler(RefusedInput)
    def refused_input(exc: RefusedInput):
        if _wants_json():
            return {"errors": {exc.field: gettext(exc.message, "en")}}, 400
        language = page_language()
        return render_template(
            "error.html", language=language, title=gettext(exc.message, language), field=exc.field
        ), 400

    @app.errorhandler(429)
    def too_many_requests(exc: HTTPException):
        # A readable answer in the reader's language, and when to try again.
        language = page_language()
        title = gettext("For mange forespørsler", language)
        detail = gettext(
            "Du har sendt mange forespørsler på kort tid. Vent litt og prøv igjen.", language
        )
        seconds = retry_after_seconds()
        headers = {"Retry-After": str(seconds)} if seconds is not None else {}
        if _wants_json():
            return {"errors": {"request": f"{title}. {detail}"}}, 429, headers
        page = render_template("too_many.html", language=language, title=title, detail=detail)
        return page, 429, headers

    @app.errorhandler(404)
    def not_found(exc: HTTPException):
        if _wants_json():
            return {"errors": {"request": exc.description}}, 404
        language = page_language()
        return render_template(
            "not_found.html",
            language=language,
            title=gettext("Siden finnes ikke", language),
            detail=gettext("Adressen kan være skrevet feil, eller siden er flyttet.", language),
        ), 404

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if _wants_json():
            return {"errors": {"request": exc.description}}, exc.code
        return render_template(
            "error.html", language=page_language(), title=f"{exc.code} {exc.name}", field=None
        ), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s", redact_tokens(request.path))
        message = gettext("Noe gikk galt hos oss. Prøv igjen om litt.", page_language())
        if _wants_json():
            return {"errors": {"server": message}}, 500
        return render_template("error.html", language=page_language(), title=message), 500
