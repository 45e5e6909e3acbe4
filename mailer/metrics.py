"""The counters every process keeps (web, Celery workers, CLI), in Prometheus's terms.

prometheus_client is imported at the first count, not with this module: in multiprocess
mode (gunicorn's workers, a Celery pool) it reads ``PROMETHEUS_MULTIPROC_DIR`` when it is
imported, and the process's entry point sets that first (``use_multiprocess_dir``). Each
process then writes its counts to its own file in that directory and ``GET /metrics``
adds the files up, so no count is lost whichever process served or sent.

What the domain records as an event (a signup, a confirmation, an unsubscribe) is counted
after the session's outermost commit, and never when it rolls back: the counters agree
with the database. The rest is counted by the front ends from what the domain returned.
"""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Under var/: one directory per kind of process tree, each wiped by the one process that
# starts that tree (gunicorn's master, the Celery worker's main process) and read by
# the web app's /metrics: this host's web and workers in one answer.
ROLES = ("web", "worker")
# Seconds buckets for request latency: pages answer in milliseconds, a CSV upload or an
# export may take seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAIL_OUTCOMES = ("sent", "failed", "in_doubt", "skipped", "requeued")
SMTP_ERROR_CLASSES = ("temporary", "permanent", "policy", "in_doubt", "unavailable")

_PENDING = "mailer.metrics.pending"


@dataclass(frozen=True)
class Instruments:
    signups: Any
    confirmations: Any
    unsubscribes: Any
    mails: Any
    smtp_errors: Any
    feed_poll_failures: Any
    requests: Any
    request_seconds: Any


@cache
def instruments() -> Instruments:
    """The process's counters, made on first use (see the module's docstring)."""
    from prometheus_client import Counter, Histogram, disable_created_metrics

    # The *_created series add nothing a scrape needs, and they cannot be summed.
    disable_created_metrics()
    return Instruments(
        signups=Counter(
            "mailer_signups", "Signups recorded (pending until confirmed)", ["channel"]
        ),
        confirmations=Counter("mailer_confirmations", "Subscriptions confirmed"),
        unsubscribes=Counter("mailer_unsubscribes", "Unsubscribes", ["channel"]),
        mails=Counter(
            "mailer_mails",
            "Digest mails by outcome of the attempt (sent, failed, in_doubt, skipped, "
            "requeued for a retry)",
            ["outcome"],
        ),
        smtp_errors=Counter(
            "mailer_smtp_errors",
            "SMTP errors by class: temporary (4xx), permanent (5xx), policy (5.7.x), "
            "in_doubt (no answer after the content), unavailable (421 or no connection)",
            ["class"],
        ),
        feed_poll_failures=Counter("mailer_feed_poll_failures", "Feed polls that failed"),
        requests=Counter(
            "mailer_http_requests", "HTTP requests answered", ["method", "endpoint", "status"]
        ),
        request_seconds=Histogram(
            "mailer_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
        ),
    )


# --- counted with the commit ----------------------------------------------------------------


def count_event(session: Session, kind: str, data: dict[str, Any]) -> None:
    """Called by mailer.events.record_event: the events that are counters."""
    if kind not in ("signup", "confirm", "unsubscribe"):
        return
    if not session.in_transaction():
        session.begin()
    channel = str(data.get("channel") or "unknown")
    session.info.setdefault(_PENDING, []).append((kind, channel))


def _increment(kind: str, channel: str) -> None:
    found = instruments()
    if kind == "signup":
        found.signups.labels(channel=channel).inc()
    elif kind == "confirm":
        found.confirmations.inc()
    else:
        found.unsubscribes.labels(channel=channel).inc()


@event.listens_for(Session, "after_commit")
def _count_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: the transaction that decides is still open
    for kind, channel in session.info.pop(_PENDING, []):
        _increment(kind, channel)


@event.listens_for(Session, "after_transaction_end")
def _drop_after_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and transaction.nested is False:
        session.info.pop(_PENDING, None)


# --- multiprocess mode ----------------------------------------------------------------------


def metrics_dir(var_dir: Path, role: str) -> Path:
    return var_dir / "metrics" / role


def use_multiprocess_dir(var_dir: Path, role: str, *, wipe: bool) -> Path:
    """Make this process (and the processes it forks) count into var/metrics/<role>.

    ``wipe`` only where that process tree starts (before it forks): the files of an earlier
    run are gone, so counters start again from zero, which Prometheus reads as a restart.
    """
    path = metrics_dir(var_dir, role)
    if wipe and path.is_dir():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def process_exited(pid: int) -> None:
    """A worker process ended: its live gauges go; its counters stay in the sums."""
    path = os.environ.get(MULTIPROC_ENV)
    if path and os.path.isdir(path):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)


def multiprocess_files(var_dir: Path) -> list[str]:
    """Every count file of this host's web and worker processes."""
    found: list[str] = []
    for role in ROLES:
        found.extend(glob.glob(str(metrics_dir(var_dir, role) / "*.db")))
    return found
