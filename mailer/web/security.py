"""Security headers on every response.

- CSP without inline scripts (there are none; styles may be inline because mails
  rendered as pages carry inline styles), no plugins, no <base>.
- Framing: the signup pages may sit in a frame on the allowed origins (the site's
  CMS); every other page, above all the token pages with their one-click buttons,
  never in anyone's frame.
- Token pages (confirm, unsubscribe, preferences, data) send no Referer, so the link
  in the URL never leaks to a site the reader goes on to, and are not cached.
"""

from __future__ import annotations

from flask import Flask, Response, request

from mailer.runtime import runtime

FRAMEABLE_ENDPOINTS = frozenset({"public.subscribe_form", "public.subscribe_submit"})
# Pages that show a mail as it is: its images come from the site's feed, and a site still on
# plain http must not lose them there (issue 12 item 17). Only these pages allow http:
# images; the browser loads them as the mail client would, and we never fetch them.
MAIL_PAGE_ENDPOINTS = frozenset(
    {"archive.show", "admin.preview", "admin.preview_html", "outbox.show"}
)
TOKEN_PATH_PREFIXES = (
    "/confirm/",
    "/unsubscribe/",
    "/preferences/",
    "/data/",
    "/data-request/",
    "/erase/",
    "/resend/",
)


def content_security_policy(frameable: bool, mail_page: bool = False) -> str:
    allowed = list(runtime().settings.allowed_origins)
    ancestors = " ".join(["'self'", *allowed]) if frameable else "'none'"
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' https: data:" + (" http:" if mail_page else ""),
        "object-src 'none'",
        "base-uri 'none'",
        # Our forms post to ourselves; the thank-you redirect after a signup may go to an
        # allowed origin (form-action also governs redirects after a submission).
        "form-action " + " ".join(["'self'", *allowed]),
        f"frame-ancestors {ancestors}",
    ]
    return "; ".join(directives)


def security_headers(response: Response) -> Response:
    frameable = request.endpoint in FRAMEABLE_ENDPOINTS and bool(runtime().settings.allowed_origins)
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(
        frameable, request.endpoint in MAIL_PAGE_ENDPOINTS
    )
    headers["X-Content-Type-Options"] = "nosniff"
    # CSP frame-ancestors wins in every current browser; X-Frame-Options is for old ones,
    # which can name no other origin: SAMEORIGIN there is the safe reading of our list.
    headers["X-Frame-Options"] = "SAMEORIGIN" if frameable else "DENY"
    if request.path.startswith(TOKEN_PATH_PREFIXES):
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-store"
    else:
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    return response


def init_security(app: Flask) -> None:
    app.after_request(security_headers)
