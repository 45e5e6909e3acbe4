"""The mailer phase of bench/send.py: a real Celery worker sends an issue to N readers
through whichever SMTP server (and latency relay) the run measures; and that server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.postfix_sink import PostfixSink
from bench.raw_smtp import PhaseResult, log
from bench.rss import RssSampler
from tests.harness.smtp import SinkProcess
from tests.harness.workers import CeleryWorker

# What to stop, newest first, however the run ends (send.py's main runs them).
CLEANUP: list[Callable[[], None]] = []


# --------------------------------------------------------------------------- the servers


class Sink:
    """The SMTP server a run sends to: the counting aiosmtpd sink (offering PIPELINING,
    as aiosmtpd takes pipelined commands but never says so), the same sink not offering it
    ("aiosmtpd-plain": the server checkouts from before pipelining were measured against)
    or a private Postfix."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._aiosmtpd: SinkProcess | None = None
        self._postfix: PostfixSink | None = None
        if kind in ("aiosmtpd", "aiosmtpd-plain"):
            self._aiosmtpd = SinkProcess(pipelining=kind == "aiosmtpd")
            self.port = self._aiosmtpd.port
            log(f"aiosmtpd sink (pid {self._aiosmtpd.proc.pid}) on 127.0.0.1:{self.port}")
        else:
            self._postfix = PostfixSink().start()
            self.port = self._postfix.port
            log(f"postfix sink ({self._postfix.dir}) on 127.0.0.1:{self.port}")

    def count(self) -> int | None:
        return self._aiosmtpd.count if self._aiosmtpd else None

    def reset(self) -> None:
        if self._aiosmtpd:
            self._aiosmtpd.reset()

    def cpu_seconds(self) -> Callable[[], float] | None:
        return self._aiosmtpd.cpu_seconds if self._aiosmtpd else None

    def stop(self) -> None:
        if self._aiosmtpd:
            self._aiosmtpd.stop()
        if self._postfix:
            self._postfix.stop()


# --------------------------------------------------------------------------- mailer phase


def run_mailer(
    app: Any,
    sink: Sink,
    port: int,
    env: dict[str, str],
    work_dir: Path,
    issue_id: int,
    n: int,
    c: int,
) -> PhaseResult:
    from sqlalchemy import select

    from mailer.issues.models import Issue
    from mailer.issues.states import IssueStatus
    from mailer.runtime import runtime
    from mailer.sending import ledger
    from mailer.sending import progress as send_progress

    sink.reset()
    env = {**env, "MAILER_SMTP_PORT": str(port)}
    # At WARNING, as before the harness: no line per task in the timed phase.
    worker = CeleryWorker(env, work_dir / f"worker-{c}.log", c, pool="prefork", loglevel="WARNING")
    CLEANUP.append(worker.stop)
    worker.start()
    sink_cpu_of = sink.cpu_seconds()
    try:
        worker.wait_ready()
        sampler = RssSampler(worker.pid)
        sampler.start()
        with app.app_context():
            db = runtime().db
            worker_cpu = sampler.cpu_seconds()
            sink_cpu = sink_cpu_of() if sink_cpu_of else 0.0
            t0 = time.perf_counter()
            with db.session() as session:
                if not ledger.request_send(session, issue_id):
                    raise RuntimeError(f"issue {issue_id} was already sent")
                session.commit()  # mailer.start_send leaves for the broker here

            last_count, last_change = 0, t0
            next_check = next_log = t0 + 5
            counting = sink.count() is not None
            while True:
                now = time.perf_counter()
                # A counting sink is watched cheaply; otherwise the ledger is asked.
                count = sink.count() if counting else None
                if count is None or count >= n:
                    with db.session() as session:
                        state = send_progress.progress(session, issue_id)
                    if state.deliveries_created and state.total == n and state.done == n:
                        t1 = now
                        break
                    count = count if count is not None else state.done
                if count != last_count:
                    last_count, last_change = count, now
                if now >= next_check:
                    next_check = now + 5
                    with db.session() as session:
                        status = session.scalar(select(Issue.status).where(Issue.id == issue_id))
                    if status not in (IssueStatus.SENDING, IssueStatus.SENT):
                        raise RuntimeError(f"issue {issue_id} is {status}; see {worker.log_path}")
                if now >= next_log:
                    next_log = now + 15
                    log(f"mailer_{c}: {count}/{n} after {now - t0:.0f} s")
                # Before the first mail the worker writes N delivery rows and queues N/200
                # batches; after that, a minute without one mail is a stall.
                if now - last_change > (600 if last_count == 0 else 60):
                    raise RuntimeError(
                        f"no progress for {now - last_change:.0f} s at {count}/{n}; "
                        f"see {worker.log_path}"
                    )
                time.sleep(0.02 if counting else 0.1)
        with app.app_context(), runtime().db.session() as session:
            state = send_progress.progress(session, issue_id)
        received = sink.count()
        if state.counts.get("sent") != n or received not in (None, n):
            raise RuntimeError(f"expected {n} sent and {n} received: {state.counts}, {received}")
        worker_cpu = sampler.cpu_seconds() - worker_cpu
        sink_cpu = (sink_cpu_of() - sink_cpu) if sink_cpu_of else 0.0
        sampler.stop()
    finally:
        worker.stop()
        CLEANUP.remove(worker.stop)
    result = PhaseResult(f"mailer_{c}", n, t1 - t0, 0.0)
    result.rss_mb = sampler.summary_mb()
    result.client_cpu_ms = 1000 * worker_cpu / n
    result.sink_cpu_ms = 1000 * sink_cpu / n
    log(
        f"{result.name}: {n} msgs, concurrency {c}, in {result.seconds:.2f} s = "
        f"{result.rate:.1f}/s; peak MB {result.rss_mb}"
    )
    return result
