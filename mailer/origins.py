"""Web origins (scheme://host[:port]): the sites allowed to embed the signup form.

Used for three decisions, each answered only for an exact origin in
``MAILER_ALLOWED_ORIGINS``: accepting an embedded form without a CSRF token,
CORS on the signup API, and where the thank-you redirect may go.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL = 2000
# What we let through in a redirect target: printable ASCII without space, backslash,
# quotes or angle brackets. A browser reads "\" as "/", so "https://evil\@good" would be
# evil's URL while urlsplit sees good's host.
_URL_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]!$&'()*+,;=%")


def _origin(scheme: str, host: str | None, port: int | None) -> str | None:
    if scheme not in DEFAULT_PORTS or not host:
        return None
    host = host.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_of(url: str) -> str | None:
    """The origin of an absolute http(s) URL, or None if it has none we would trust."""
    if not url or len(url) > MAX_URL or any(ch not in _URL_CHARACTERS for ch in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        return None
    return _origin(parts.scheme.lower(), parts.hostname, port)


def normalise_origin(raw: str) -> str | None:
    """Turn "https://WWW.Example.no:443/" into "https://www.example.no"; None if not an origin."""
    raw = raw.strip().rstrip("/")
    origin = origin_of(raw)
    if origin is None:
        return None
    parts = urlsplit(raw)
    if parts.path or parts.query or parts.fragment:
        return None
    return origin


def is_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    if not origin:
        return False
    normalised = normalise_origin(origin)
    return normalised is not None and normalised in set(allowed)


def safe_redirect(url: str | None, allowed: Iterable[str]) -> str | None:
    """``url`` if it is an absolute URL on one of the allowed origins, else None."""
    if not url:
        return None
    origin = origin_of(url)
    if origin is None or origin not in set(allowed):
        return None
    return url
