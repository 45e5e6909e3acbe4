"""Entry point for `celery -A worker.app worker|beat`."""

from mailer.app import create_app

# Tasks need no pages, forms or request limits: a smaller worker process.
flask_app = create_app(web=False)
celery = flask_app.extensions["celery"]
