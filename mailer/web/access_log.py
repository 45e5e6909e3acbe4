"""Access logs without personal tokens.

A confirm, unsubscribe, preferences or data link is the reader's key: whoever reads the
web server's access log could otherwise open any reader's subscription. The token part
of those paths is replaced by ``[token]`` in gunicorn's access log (``Procfile`` names
``RedactingLogger``), in the dev server's (werkzeug) log and in our own error log.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from gunicorn.glogging import Logger

from mailer.logs import use_json
from mailer.web.security import TOKEN_PATH_PREFIXES

REDACTED = "[token]"
_TOKEN_IN_PATH = re.compile(
    "(" + "|".join(re.escape(prefix) for prefix in TOKEN_PATH_PREFIXES) + r")[^\s?#\"]+"
)
# Request headers gunicorn could log with a custom access_log_format: credentials.
_SECRET_ATOMS = ("{authorization}i", "{cookie}i")


def redact_tokens(text: str) -> str:
    return _TOKEN_IN_PATH.sub(rf"\g<1>{REDACTED}", text)


class RedactingLogger(Logger):
    """gunicorn's logger (``--logger-class mailer.web.access_log.RedactingLogger``) whose
    access-log atoms (request line, path, referer, …) carry no token."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if os.environ.get("MAILER_LOG_FORMAT", "").strip().lower() == "json":
            # gunicorn's own loggers (errors, access) do not reach the root logger.
            use_json([*self.error_log.handlers, *self.access_log.handlers])

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            if isinstance(value, str):
                atoms[name] = redact_tokens(value)
        for name in _SECRET_ATOMS:
            if name in atoms:
                atoms[name] = "-"
        return atoms


class RedactTokens(logging.Filter):
    """For the werkzeug dev server's request log (``mailer run``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        return True


_werkzeug_filter = RedactTokens()


def init_access_log() -> None:
    # One filter however many apps a process makes (tests make several).
    logging.getLogger("werkzeug").addFilter(_werkzeug_filter)
