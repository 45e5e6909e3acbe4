"""Links in mails and pages: which page each signed token opens, and which URLs may be
links."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from mailer.config import Settings
from mailer.tokens import Purpose, Tokens

URL_LENGTH = 2000

# The URL path (see DESIGN.md's contract) each kind of personal link opens.
PATHS: dict[Purpose, str] = {
    Purpose.CONFIRM: "confirm",
    Purpose.UNSUBSCRIBE: "unsubscribe",
    Purpose.PREFERENCES: "preferences",
    Purpose.EXPORT: "data",
}


def personal_link(
    settings: Settings, tokens: Tokens, purpose: Purpose, subscription_id: int, link_secret: str
) -> str:
    token = tokens.make(purpose, subscription_id, link_secret)
    return f"{settings.base_url}/{PATHS[purpose]}/{token}"


def web_url(value: str, base: str = "") -> str | None:
    """``value`` as an absolute http(s) URL (resolved against ``base``), else None."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        url = urljoin(base, value) if base else value
        parts = urlsplit(url)
    except ValueError:  # e.g. a broken IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if len(url) > URL_LENGTH or any(c.isspace() for c in url):
        return None
    return url
