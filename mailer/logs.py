"""Log lines: the libraries' text by default; with ``MAILER_LOG_FORMAT=json`` one JSON
object per line (python-json-logger) from the web, the workers and the CLI alike, with the
issue, delivery, subscriber or feed id when the line is about one.

Ids come from ``extra={...}`` on the call, or from the context the code runs in: a task
sets ``log_context(issue_id=…)`` around its work, and the web app adds the ids its URL
names (mailer.web.metrics). Every line then says which issue it is about, without each
call having to.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_context: ContextVar[dict[str, Any] | None] = ContextVar("mailer_log_context", default=None)
# Further sources of ids for the line being written (the web's request), each returning {}
# when it has none.
_sources: list[Callable[[], dict[str, Any]]] = []
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
RENAMED = {"levelname": "level", "name": "logger"}


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    token = _context.set({**(_context.get() or {}), **ids})
    try:
        yield
    finally:
        _context.reset(token)


def add_context_source(source: Callable[[], dict[str, Any]]) -> None:
    if source not in _sources:
        _sources.append(source)


class ContextIds(logging.Filter):
    """Puts the ids of the context on each record (an id given in ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        found: dict[str, Any] = {}
        for source in _sources:
            found.update(source())
        found.update(_context.get() or {})
        for key, value in found.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    # "time": ISO 8601 in UTC, whatever the host's zone.
    return JsonFormatter(
        JSON_FIELDS, rename_fields=RENAMED, timestamp="time", json_ensure_ascii=False
    )


class _JsonHandler(logging.StreamHandler):
    """Ours, so that configuring twice (several apps in one process) replaces, not adds.
    Writes to whatever ``sys.stderr`` is at each line (a server or test may replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(log_format: str, level: int | str | None = None) -> None:
    """JSON on standard error for every logger that reaches the root; text: as it was."""
    if log_format != "json":
        return
    root = logging.getLogger()
    handler = _JsonHandler()
    handler.setFormatter(json_formatter())
    handler.addFilter(ContextIds())
    # Ours from an earlier call, and plain text handlers on the console (logging's
    # basicConfig, a library's), would write each line a second time.
    for old in list(root.handlers):
        if type(old) in (_JsonHandler, logging.StreamHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    elif root.level == logging.WARNING:  # Python's default: our INFO lines are wanted
        root.setLevel(logging.INFO)


def use_json(handlers: list[logging.Handler]) -> None:
    """Give handlers another library set up (gunicorn's) the JSON format and the ids."""
    for handler in handlers:
        handler.setFormatter(json_formatter())
        handler.addFilter(ContextIds())
