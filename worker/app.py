"""The Celery app of `python -m worker` (worker/__main__.py) and `celery -A worker.app beat`."""

from mailer.config import ConfigError
from mailer.worker_app import create_worker

try:
    # Tasks need no Flask app: no pages, forms or request limits, a smaller worker process.
    celery = create_worker()
except ConfigError as exc:
    # Refuse to start with what to set, not a traceback from inside Celery's loader.
    raise SystemExit(f"mailer: {exc}") from None
