"""`celery -A bench_worker worker`: mailer's own Celery app (worker.app), plus a ready flag.

bench/send.py runs the worker at --loglevel=WARNING, where Celery does not log
"ready", and `celery inspect ping` needs a broker with fan-out (not the
filesystem transport). So this module, and nothing else, adds one signal
receiver that writes $BENCH_READY_FILE once the consumer is ready. The tasks,
settings and pool are exactly those of `celery -A worker.app worker`.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery.signals import worker_ready

from worker.app import celery, flask_app  # noqa: F401  (the app Celery looks up)


@worker_ready.connect
def _mark_ready(**_: object) -> None:
    path = os.environ.get("BENCH_READY_FILE")
    if path:
        Path(path).write_text(str(os.getpid()))
