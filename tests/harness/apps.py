"""A second app beside the suite's, built as the factory builds it from other settings.

``create_app`` registers its own Celery app as the process's task sender. A test that
builds a second app and then commits would otherwise hand its tasks to the real broker,
where a worker some earlier test started (session-scoped) may take them: a send the test
drives by hand would then race that worker. The sender the test had (the recorder of
``queued_tasks``, or the real one in a test with ``celery_worker``) is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask

from mailer import queue
from mailer.app import create_app
from mailer.config import Settings


@contextmanager
def other_app(
    app: Flask, settings: Settings, *, keep_sender: bool = False, **config: Any
) -> Iterator[Flask]:
    """The app for ``settings`` on the suite's request-limit storage, with TESTING on and
    the test's task sender (``keep_sender``: the one the factory registered, which sends to
    this app's broker); its engine disposed and the suite's Celery app made the default
    again afterwards (queued_tasks puts the test's sender back)."""
    held = queue.set_sender(None)
    queue.set_sender(held)
    config.setdefault("RATELIMIT_STORAGE_URI", app.config["RATELIMIT_STORAGE_URI"])
    built = create_app(settings, **config)
    if not keep_sender:
        queue.set_sender(held)
    built.config.update(TESTING=True)
    try:
        yield built
    finally:
        built.extensions["mailer"].db.engine.dispose()
        app.extensions["celery"].set_default()
