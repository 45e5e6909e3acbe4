"""Entry point for `celery -A worker.app worker|beat`."""

from mailer.app import create_app
from mailer.config import ConfigError

try:
    # Tasks need no pages, forms or request limits: a smaller worker process.
    flask_app = create_app(web=False)
except ConfigError as exc:
    # Refuse to start with what to set, not a traceback from inside Celery's loader.
    raise SystemExit(f"mailer: {exc}") from None
celery = flask_app.extensions["celery"]
