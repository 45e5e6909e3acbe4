"""The Celery app, configured from the Flask app's settings; tasks run in its app context."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask
from kombu.transport import TRANSPORT_ALIASES

from mailer.config import Settings
from mailer.issues.monthly import schedule_from_cron

FILESYSTEM_POLLING_INTERVAL = 0.05
# The embedded broker writes each message atomically: the stock transport lets a polling
# worker read a half-written file and stop (see worker/fs_transport.py).
TRANSPORT_ALIASES["filesystem"] = "worker.fs_transport:Transport"


def broker_options(settings: Settings) -> dict[str, Any]:
    if not settings.broker_url.startswith("filesystem://"):
        return {}
    queue = settings.broker_dir / "queue"
    processed = settings.broker_dir / "processed"
    control = settings.broker_dir / "control"
    for folder in (queue, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "control_folder": str(control),
        "store_processed": False,
        # The default of 1 s would make every hop of a send wait a second.
        "polling_interval": FILESYSTEM_POLLING_INTERVAL,
    }


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask, include=["worker.tasks"])
    celery.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        result_backend=None,
        # Tasks are safe to run twice (the ledger decides what is sent), so a task
        # is acknowledged only once it has finished and is redelivered if a worker dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        timezone="Europe/Oslo",
        beat_schedule_filename=str(settings.var_dir / "celerybeat-schedule"),
        beat_schedule={
            "reconcile-sends": {"task": "mailer.reconcile", "schedule": timedelta(minutes=1)},
            "start-scheduled": {"task": "mailer.start_scheduled", "schedule": timedelta(minutes=1)},
            "poll-feeds": {"task": "mailer.poll_feeds", "schedule": timedelta(hours=1)},
            # Unconfirmed signups older than MAILER_PENDING_DAYS, every night.
            "cleanup-pending": {
                "task": "mailer.cleanup_pending",
                "schedule": crontab(hour=3, minute=30),
            },
            "monthly-digest": {
                "task": "mailer.monthly_digest",
                "schedule": schedule_from_cron(settings.digest_cron),
            },
        },
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def enqueue(app: Flask, task_name: str, *args: Any) -> None:
    """Queue a task by name with plain ids; call only after the commit."""
    app.extensions["celery"].send_task(task_name, args=list(args))
