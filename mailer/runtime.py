"""The per-process runtime: settings, database and token signer, reached with ``runtime()``.

Its own module (not app.py) so that views, commands and tasks can reach it without
importing the factory that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

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


def runtime() -> Runtime:
    return current_app.extensions["mailer"]
