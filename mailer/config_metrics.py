"""Settings for metrics and logs (README "Metrics and logs"): the bearer token that opens
``GET /metrics``, where a worker host serves its own, and the log format."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NoReturn

from mailer.redaction import redacted_repr

SECRET = {"secret": True}
LOG_FORMATS = ("text", "json")


def _refuse(message: str) -> NoReturn:
    # mailer.config imports this module for its Settings field: its ConfigError is
    # imported when needed, not at module level, so the two never import each other.
    from mailer.config import ConfigError

    raise ConfigError(message)


@dataclass(frozen=True, repr=False)
class MetricsSettings:
    # "" = no /metrics at all (404): nothing about the list is shown to whoever asks.
    token: str = field(default="", metadata=SECRET)
    # host:port where a Celery worker serves its own /metrics (a worker host without a web
    # process); None = the worker serves none (the web app's shows this host's workers).
    worker_listen: tuple[str, int] | None = None
    log_format: str = "text"

    def __repr__(self) -> str:
        return redacted_repr(self)


def _listen(value: str) -> tuple[str, int] | None:
    if not value:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        _refuse(f"MAILER_METRICS_LISTEN must be host:port (127.0.0.1:9464), not {value!r}")
    return host.strip("[]"), int(port)


def load_metrics() -> MetricsSettings:
    token = os.environ.get("MAILER_METRICS_TOKEN", "").strip()
    if token and len(token) < 16:
        _refuse("MAILER_METRICS_TOKEN must be at least 16 characters (a random string)")
    log_format = os.environ.get("MAILER_LOG_FORMAT", "").strip().lower() or "text"
    if log_format not in LOG_FORMATS:
        _refuse(f"MAILER_LOG_FORMAT must be text or json, not {log_format!r}")
    return MetricsSettings(
        token=token,
        worker_listen=_listen(os.environ.get("MAILER_METRICS_LISTEN", "").strip()),
        log_format=log_format,
    )
