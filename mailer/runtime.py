"""The per-process runtime: settings, database and token signer, reached with ``runtime()``.

Its own module (not app.py) so that views, commands and tasks can reach it without
importing the factory that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from mailer.config import Settings
from mailer.db import Database
from mailer.tokens import Tokens


@dataclass
class Runtime:
    """What every request, command and task needs: settings, database, token signer."""

    settings: Settings
    db: Database
    tokens: Tokens


def runtime() -> Runtime:
    return current_app.extensions["mailer"]
