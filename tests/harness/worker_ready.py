"""Celery's default loader plus one receiver: it tells the harness that the worker is ready.

CeleryWorker starts `python -m worker …` with ``CELERY_LOADER`` naming this loader (Celery's
`--loader`): the app, its tasks, settings and pool are exactly the product's; this module
only adds a ``worker_ready`` receiver that writes one line to the pipe whose descriptor is
in $MAILER_HARNESS_READY_FD. Celery logs no "ready" line below INFO, and the filesystem
broker answers no `inspect ping`, so neither of those can tell us.
"""

from __future__ import annotations

import os

from celery.loaders.app import AppLoader
from celery.signals import worker_ready

READY_FD = "MAILER_HARNESS_READY_FD"


class ReadyLoader(AppLoader):
    """Celery's AppLoader; importing this module is what connects the receiver."""


@worker_ready.connect
def _tell_harness(**_: object) -> None:
    fd = os.environ.get(READY_FD)
    if fd:
        os.write(int(fd), f"{os.getpid()}\n".encode())
        os.close(int(fd))
