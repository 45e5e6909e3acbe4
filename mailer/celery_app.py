"""The Celery app, configured from the settings: each domain's tasks module brings its
tasks, their time limits and their beat entries; tasks run with the process's runtime
(the worker's own, built without Flask by mailer/worker_app.py; the web's Flask app's).

This is wiring (like app.py), not domain: the domain reaches the broker only through
``mailer.queue.enqueue``, which this factory connects to the Celery app it builds.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from celery import Celery, Task
from kombu.transport import TRANSPORT_ALIASES

from mailer import metrics, queue, redis_tasks
from mailer.config import Settings
from mailer.logs import configure_logging
from mailer.runtime import Runtime, running

# The domain packages whose tasks.py a worker loads.
TASK_MODULES = (
    "mailer.subscribers.tasks",
    "mailer.articles.tasks",
    "mailer.issues.tasks",
    "mailer.sending.tasks",
    "mailer.bounces.tasks",
)
# Celery's main name: tasks are named explicitly, this only names the app in its logs.
CELERY_MAIN = "mailer.app"
FILESYSTEM_POLLING_INTERVAL = 0.05
# A task not listed by its module: long enough for anything routine, short enough to free
# the slot.
DEFAULT_TIME_LIMITS = (300.0, 330.0)
# The embedded broker writes each message atomically: the stock transport lets a polling
# worker read a half-written file and stop (see mailer/fs_broker.py).
TRANSPORT_ALIASES["filesystem"] = "mailer.fs_broker:Transport"


AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")
REDIS_SCHEMES = ("redis://", "rediss://")


def is_amqp(broker_url: str) -> bool:
    return broker_url.startswith(AMQP_SCHEMES)


def broker_options(settings: Settings) -> dict[str, Any]:
    if settings.broker_url.startswith(REDIS_SCHEMES):
        # A worker cut off from Redis notices within MAILER_DEAD_PEER_SECONDS.
        return settings.network.redis_options()
    if is_amqp(settings.broker_url):
        # Publisher confirms: a task counts as queued (and the caller's commit as done)
        # only once RabbitMQ has it on disk.
        return {"confirm_publish": True}
    if not settings.broker_url.startswith("filesystem://"):
        return {}
    queue_dir = settings.broker_dir / "queue"
    processed = settings.broker_dir / "processed"
    control = settings.broker_dir / "control"
    for folder in (queue_dir, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "processed_folder": str(processed),
        "control_folder": str(control),
        "store_processed": False,
        # The default of 1 s would make every hop of a send wait a second.
        "polling_interval": FILESYSTEM_POLLING_INTERVAL,
    }


def _collect(settings: Settings, name: str) -> dict[str, Any]:
    """What every domain's tasks module declares under ``name`` (time_limits, beat_schedule)."""
    found: dict[str, Any] = {}
    for module_name in TASK_MODULES:
        declare: Callable[[Settings], dict[str, Any]] = getattr(
            importlib.import_module(module_name), name
        )
        found.update(declare(settings))
    return found


def rabbitmq_settings(settings: Settings) -> dict[str, Any]:
    """What Celery recommends for RabbitMQ: quorum queues (replicated, durable, with a
    delivery count), which need per-consumer prefetch (Celery turns global QoS off when it
    detects them), and heartbeats so that a silent worker's unacknowledged tasks go to
    another within MAILER_DEAD_PEER_SECONDS. acks_late is kept as for every broker."""
    if not is_amqp(settings.broker_url):
        return {}
    return {
        "task_default_queue_type": "quorum",
        "task_create_missing_queue_type": "quorum",
        "worker_detect_quorum_queues": True,
        "broker_heartbeat": settings.network.broker_heartbeat,
        "broker_connection_timeout": settings.network.connect_timeout_seconds,
    }


def task_time_limits(settings: Settings) -> dict[str, tuple[float, float]]:
    """(soft, hard) time limits per task, so that no stuck task holds a worker slot for ever."""
    return _collect(settings, "time_limits")


def celery_init(current: Callable[[], Runtime], settings: Settings) -> Celery:
    """The Celery app whose tasks run with the runtime ``current()`` gives (the worker's
    own; the Flask app's in the web and the CLI, read when the task runs)."""

    class RuntimeTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            rt = current()
            # Settings an admin saved since the last task apply to this one.
            rt.site.invalidate()
            token = _task_celery.set(celery)
            try:
                with running(rt):
                    return self.run(*args, **kwargs)
            finally:
                _task_celery.reset(token)

    celery = Celery(CELERY_MAIN, task_cls=RuntimeTask, include=list(TASK_MODULES))
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
        beat_schedule=_collect(settings, "beat_schedule"),
        **rabbitmq_settings(settings),
    )
    celery.set_default()

    if redis_tasks.usable(celery):
        _publishers[celery] = redis_tasks.RedisTaskPublisher(celery)

    def send(task_name: str, args: tuple[Any, ...]) -> None:
        # The app of the task, request or command at hand; outside one, this process's.
        target = _task_celery.get()
        if target is None:
            target = _flask_app_celery() or celery
            # Not from inside a task (Celery adds the parent's ids there): with Redis, the
            # message prepared once per process, one LPUSH (mailer/redis_tasks.py).
            publisher = _publishers.get(target)
            if publisher is not None and publisher.publish(task_name, args):
                return
        target.send_task(task_name, args=list(args))

    queue.set_sender(send)
    _init_worker_observability(settings)
    return celery


# Each Redis-broker app's direct publisher (weakly: tests build and drop apps).
_publishers: WeakKeyDictionary[Celery, redis_tasks.RedisTaskPublisher] = WeakKeyDictionary()

# The Celery app of the task this thread runs: what it queues goes to the same broker.
_task_celery: ContextVar[Celery | None] = ContextVar("mailer_task_celery", default=None)


def _flask_app_celery() -> Celery | None:
    """The Celery app of the Flask app at hand (a request, a command), if any. Flask is
    looked up, never imported, for worker memory: a process without it has no app context
    (the worker builds no Flask app: mailer/worker_app.py)."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_app_context():
        return None
    found: Celery = flask.current_app.extensions["celery"]
    return found


def _init_worker_observability(settings: Settings) -> None:
    """Counters in var/metrics/worker (the pool adds up there), optionally served on
    MAILER_METRICS_LISTEN; JSON log lines when asked. Signals of the worker's main process,
    so nothing happens in beat or in a process that only sends tasks."""
    from celery.signals import setup_logging, worker_init, worker_process_shutdown

    def metrics_dir(**_: Any) -> None:
        # Before the pool forks: every child counts into the same directory.
        metrics.use_multiprocess_dir(settings.var_dir, "worker", wipe=True)

    def child_exited(pid: int | None = None, **_: Any) -> None:
        metrics.process_exited(pid or os.getpid())

    worker_init.connect(metrics_dir, weak=False, dispatch_uid="mailer.metrics_dir")
    worker_process_shutdown.connect(
        child_exited, weak=False, dispatch_uid="mailer.metrics_child_exited"
    )
    if settings.metrics.worker_listen:
        from celery.signals import worker_ready

        def serve(**_: Any) -> None:
            from mailer.metrics_server import serve_metrics

            serve_metrics(settings)

        worker_ready.connect(serve, weak=False, dispatch_uid="mailer.metrics_serve")
    if settings.metrics.log_format == "json":

        def json_logs(loglevel: Any = None, **_: Any) -> None:
            # Connected, this replaces Celery's own logging set-up altogether.
            configure_logging("json", loglevel)

        setup_logging.connect(json_logs, weak=False, dispatch_uid="mailer.json_logs")
