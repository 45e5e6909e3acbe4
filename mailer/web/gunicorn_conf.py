"""gunicorn settings for the web process: ``gunicorn -c python:mailer.web.gunicorn_conf``
(the Procfile). Command-line options still apply on top.

Workers count requests, signups and the rest into one directory (prometheus_client's
multiprocess mode) that ``on_starting`` prepares, so ``/metrics`` adds every worker up.

The hook refuses more than one worker while request limits are kept per process (no
MAILER_REDIS_URL): in the master, before any worker is forked, with a message that says
what to set.
"""

from __future__ import annotations

import os
from typing import Any

from mailer import metrics
from mailer.config import ConfigError, load_settings
from mailer.web.limits import GUNICORN_WORKERS, check_worker_count, storage_uri


def on_starting(server: Any) -> None:
    """In the master, before any worker is forked: every worker counts into var/metrics/web
    (emptied now: a new run's counters start at zero), and /metrics adds them up."""
    metrics.use_multiprocess_dir(load_settings().var_dir, "web", wipe=True)


def child_exit(server: Any, worker: Any) -> None:
    metrics.process_exited(worker.pid)


def nworkers_changed(server: Any, new_value: int, old_value: int | None) -> None:
    try:
        check_worker_count(new_value, storage_uri(load_settings()))
    except ConfigError as exc:
        if old_value is None:
            # At start: gunicorn prints a RuntimeError's text and exits with status 1.
            raise RuntimeError(str(exc)) from exc
        # A TTIN signal while running: keep serving with the workers there are.
        server.log.error("not adding a worker: %s", exc)
        server.num_workers = old_value
        return
    os.environ[GUNICORN_WORKERS] = str(new_value)
