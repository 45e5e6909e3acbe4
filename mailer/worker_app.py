"""The Celery worker's and beat's process: settings, database, token signer and the Celery
app, without Flask.

Tasks reach their runtime through ``mailer.runtime.runtime()`` (the task class sets it),
never through a Flask app context, so the worker imports neither Flask nor werkzeug: for
worker memory (bench/README.md; tests/queue/test_worker_footprint.py pins it).
"""

from __future__ import annotations

from celery import Celery

import mailer.models  # noqa: F401  (every domain's tables, so relationships between them resolve)
from mailer.celery_app import celery_init
from mailer.config import Settings, load_settings
from mailer.logs import configure_logging
from mailer.mail.dkim import checked_settings
from mailer.runtime import Runtime, new_runtime


def create_worker(settings: Settings | None = None) -> Celery:
    """The worker's Celery app; its tasks run with one runtime built here."""
    settings = checked_settings(settings or load_settings())
    configure_logging(settings.metrics.log_format)
    rt = new_runtime(settings)

    def current() -> Runtime:
        return rt

    return celery_init(current, settings)
