"""Request limits (Flask-Limiter): Redis storage when the broker is Redis, so every web
process counts together; in-memory for the single-process embedded setup."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter

from mailer.config import Settings
from mailer.web.request_info import client_ip

limiter = Limiter(key_func=client_ip, default_limits=[], headers_enabled=True)


def storage_uri(settings: Settings) -> str:
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return settings.broker_url
    return "memory://"


def init_limits(app: Flask, settings: Settings) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri(settings))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "mailer-limits")
    limiter.init_app(app)
