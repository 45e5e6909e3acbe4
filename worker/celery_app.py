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
from mailer.mail import smtp
from mailer.sending import batch as sending

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


# A task not named below: long enough for anything routine, short enough to free the slot.
DEFAULT_TIME_LIMITS = (300.0, 330.0)
# What one mail may take on a slow but working SMTP server, pacing aside.
SECONDS_PER_MAIL = 0.5


def batch_time_limits(send_rate: float, batch_size: int) -> tuple[float, float]:
    """(soft, hard) seconds for one send batch: twice what its mails take at the send rate,
    plus a stuck connect and reply. The soft limit ends the batch like a crash would (at most
    one claimed group in doubt), so it must never cut a healthy batch short."""
    pacing = batch_size / send_rate if send_rate > 0 else 0.0
    soft = 2 * (pacing + batch_size * SECONDS_PER_MAIL) + 2 * smtp.TIMEOUT_SECONDS
    return soft, soft + smtp.TIMEOUT_SECONDS


def task_time_limits(settings: Settings) -> dict[str, tuple[float, float]]:
    """(soft, hard) time limits per task, so that no stuck task holds a worker slot for ever."""
    one_mail = (smtp.TIMEOUT_SECONDS + 30, smtp.TIMEOUT_SECONDS + 60)
    # A feed's fetch ends at its deadline; DNS and storing the articles get the margin.
    feed = settings.feed_deadline_seconds + 30
    return {
        "mailer.send_confirmation": one_mail,
        "mailer.send_data_export": (one_mail[0] + 30, one_mail[1] + 30),
        "mailer.notify_paused": one_mail,
        "mailer.send_batch": batch_time_limits(settings.send_rate, sending.BATCH_SIZE),
        # Writes a delivery row per subscriber and queues the batches: large lists take a while.
        "mailer.start_send": (1800.0, 1860.0),
        "mailer.reconcile": DEFAULT_TIME_LIMITS,
        "mailer.start_scheduled": (120.0, 150.0),
        "mailer.cleanup_pending": (600.0, 660.0),
        "mailer.monthly_digest": DEFAULT_TIME_LIMITS,
        "mailer.poll_feeds": (60.0, 90.0),
        "mailer.poll_feed": (feed, feed + 30),
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
        task_soft_time_limit=DEFAULT_TIME_LIMITS[0],
        task_time_limit=DEFAULT_TIME_LIMITS[1],
        task_annotations={
            name: {"soft_time_limit": soft, "time_limit": hard}
            for name, (soft, hard) in task_time_limits(settings).items()
        },
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
