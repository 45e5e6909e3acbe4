"""The stored settings, read once per process and kept.

Every request reads the settings many times (a signup: origins, base URL, sender); the
performance issue counts SQL statements per signup, so after the first read they cost
none. The process that saves a change drops its copy at once; other processes notice
within ``ttl`` seconds (a web process under gunicorn, a long CLI command). Celery tasks
drop the copy before each task (mailer/celery_app.py): one statement a task, so a mail
never goes out with settings older than the task.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError, ProgrammingError

from mailer.config import Settings
from mailer.db import Database
from mailer.site.models import SiteSetting
from mailer.site.store import load_stored, merged

DEFAULT_TTL = 30.0


class SettingsCache:
    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._stored: dict[str, Any] | None = None
        self._read_at = 0.0
        self._merged: tuple[Settings, Settings] | None = None  # (base, merged)

    def invalidate(self) -> None:
        with self._lock:
            self._stored = None
            self._merged = None

    def _load(self, db: Database) -> dict[str, Any]:
        try:
            with db.session() as session:
                return load_stored(session)
        except (OperationalError, ProgrammingError):
            # Before `mailer db upgrade` made the table, nothing is stored yet.
            if inspect(db.engine).has_table(SiteSetting.__tablename__):
                raise
            return {}

    def settings(self, db: Database, base: Settings) -> Settings:
        """``base`` merged with the stored values (mailer/site/store.py)."""
        with self._lock:
            now = self.clock()
            if self._stored is None or now - self._read_at >= self.ttl:
                self._stored = self._load(db)
                self._read_at = now
                self._merged = None
            if self._merged is None or self._merged[0] is not base:
                self._merged = (base, merged(base, self._stored))
            return self._merged[1]
