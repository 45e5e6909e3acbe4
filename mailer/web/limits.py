"""Request limits (Flask-Limiter), kept in ``MAILER_REDIS_URL`` so that every web process
counts together; without it in memory, which is right for one process only.

Several processes each counting in their own memory would make every limit that many
times too generous, so the web app refuses to start like that under gunicorn: the
Procfile's gunicorn loads mailer.web.gunicorn_conf, whose hook stops a master that is
about to fork more than one worker; a gunicorn started without that hook cannot say how
many workers it has, so the app refuses per-process limits there too.
"""

from __future__ import annotations

import os
import time

from flask import Flask, g
from flask_limiter import Limiter

from mailer.config import ConfigError, Settings
from mailer.web.request_info import client_ip

# No X-RateLimit-* headers on every answer: reading the window for them cost each limited
# request two more Redis round trips (bench/signup_profile.py). A 429 still says when to
# come back: Retry-After, set by the error handler (mailer/web/errors.py) from the window.
limiter = Limiter(key_func=client_ip, default_limits=[], headers_enabled=False)


# Where mailer.web.reader.limits leaves the limit a request broke: (item, key parts).
BROKEN = "mailer_broken_limit"


def retry_after_seconds() -> int | None:
    """Seconds until the limit this request broke lets it through again (for a 429)."""
    ours = g.get(BROKEN)
    if ours is not None:
        item, args = ours
        reset_at = limiter.limiter.get_window_stats(item, *args).reset_time
    else:
        broken = limiter.current_limit
        if broken is None:
            return None
        reset_at = broken.reset_at
    return max(1, int(reset_at - time.time()))


# Set by gunicorn_conf's hook in the master, inherited by every worker it forks.
GUNICORN_WORKERS = "_MAILER_GUNICORN_WORKERS"
GUNICORN_CONFIG = "python:mailer.web.gunicorn_conf"


def storage_uri(settings: Settings) -> str:
    return settings.redis_url or "memory://"


def per_process(uri: str) -> bool:
    return uri.startswith("memory://")


def check_worker_count(workers: int, uri: str) -> None:
    """Refuses more than one web process on per-process limit storage."""
    if workers > 1 and per_process(uri):
        raise ConfigError(
            f"gunicorn would run {workers} workers, but request limits (logins, signups) "
            "are kept in each process's memory, which makes every limit "
            f"{workers} times too generous. Set MAILER_REDIS_URL=redis://HOST:6379/0 "
            "(a Redis all web processes share), or run gunicorn with --workers 1."
        )


def check_under_gunicorn(uri: str) -> None:
    """In a gunicorn worker (or a preloading master): the hook's count, or a refusal when
    the hook did not run and per-process storage cannot be shown to be safe."""
    if not os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/"):
        return
    if not per_process(uri):
        return
    workers = os.environ.get(GUNICORN_WORKERS)
    if workers is None:
        raise ConfigError(
            "gunicorn was started without mailer's settings, so the number of workers is "
            "unknown, and request limits are kept in each process's memory. "
            "Set MAILER_REDIS_URL=redis://HOST:6379/0 (a Redis all web processes share), "
            f"or start gunicorn with -c {GUNICORN_CONFIG} --workers 1."
        )
    check_worker_count(int(workers), uri)


def init_limits(app: Flask, settings: Settings) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri(settings))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "mailer-limits")
    check_under_gunicorn(app.config["RATELIMIT_STORAGE_URI"])
    limiter.init_app(app)
