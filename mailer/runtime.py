"""The per-process runtime: settings, database and token signer, reached with ``runtime()``.

Its own module (not app.py) so that views, commands and tasks can reach it without
importing the factory that imports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from mailer.config import Settings
from mailer.db import Database
from mailer.site.cache import SettingsCache
from mailer.tokens import Tokens


@dataclass
class Runtime:
    """What every request, command and task needs: settings, database, token signer.

    ``env_settings`` are what the environment gave this process; ``settings`` are those
    merged with what admins stored (mailer/site), read once and cached."""

    env_settings: Settings
    db: Database
    tokens: Tokens
    site: SettingsCache = field(default_factory=SettingsCache)

    @property
    def settings(self) -> Settings:
        return self.site.settings(self.db, self.env_settings)


def new_runtime(settings: Settings) -> Runtime:
    return Runtime(
        env_settings=settings,
        db=Database(settings.database_url, settings.network.postgres_connect_args()),
        tokens=Tokens(settings.secret_keys),
    )


# The runtime of the task this thread runs (set by the Celery app's task class): the worker
# has no Flask app, so its tasks cannot find theirs through Flask's current_app.
_task_runtime: ContextVar[Runtime | None] = ContextVar("mailer_task_runtime", default=None)


@contextmanager
def running(rt: Runtime) -> Iterator[Runtime]:
    """``runtime()`` is ``rt`` inside (a task's run)."""
    token = _task_runtime.set(rt)
    try:
        yield rt
    finally:
        _task_runtime.reset(token)


def runtime() -> Runtime:
    """The running task's runtime; else the Flask app's at hand (a request, a command)."""
    found = _task_runtime.get()
    if found is not None:
        return found
    # Imported here, not at the top, for worker memory: the worker never imports Flask
    # (its tasks are answered above; tests/queue/test_worker_footprint.py).
    from flask import current_app

    rt: Runtime = current_app.extensions["mailer"]
    return rt
