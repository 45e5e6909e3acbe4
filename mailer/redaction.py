"""What a Settings shows in a log or a traceback: no key, password or token (fields
marked secret as ***, and the password in any URL: database, broker, Redis)."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

REDACTED = "***"
# scheme://user:PASSWORD@host — in database, broker and Redis URLs alike.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)[^/\s]+@")


def redact_url(value: str) -> str:
    return _URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", value)


def redacted(value: Any, secret: bool) -> Any:
    if secret:
        if isinstance(value, tuple):
            return tuple(REDACTED for _ in value)
        return REDACTED if value else value
    return redact_url(value) if isinstance(value, str) else value


def redacted_repr(settings: Any) -> str:
    """The dataclass's repr with secret fields and URL passwords hidden."""
    shown = (
        f"{f.name}={redacted(getattr(settings, f.name), bool(f.metadata.get('secret')))!r}"
        for f in fields(settings)
    )
    return f"{type(settings).__name__}({', '.join(shown)})"
