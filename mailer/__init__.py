"""mailer: a self-hosted newsletter service."""

from typing import Any


def __getattr__(name: str) -> Any:
    # `flask --app mailer` looks for create_app; importing it lazily keeps
    # `import mailer.models` free of Flask and Celery.
    if name == "create_app":
        from mailer.app import create_app

        return create_app
    raise AttributeError(name)
