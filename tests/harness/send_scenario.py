"""One send's world for the fault tests: its own SMTP server (tests.harness.smtp_faults),
broker, app and `celery worker` processes on one database, and the checks every scenario
ends with.

Time never passes by sleeping: the reconciler gets an explicit clock (two hours ahead
steps past every lease), and a worker's backoff is ended by moving next_attempt_at into
the past (Scenario.let_backoffs_run_out). Workers run with short leases
(MAILER_CLAIM_LEASE_SECONDS) unless a scenario asks for others.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailer.app import create_app
from mailer.config import Settings
from mailer.db import Database, utcnow
from mailer.events import Event
from mailer.issues.states import IssueStatus
from mailer.migrate import upgrade
from mailer.runtime import Runtime
from mailer.sending import ledger
from mailer.sending import progress as send_progress
from mailer.sending.journal import journal_paths
from mailer.sending.models import Delivery, SendRun
from mailer.sending.states import DeliveryStatus
from mailer.sending.tasks import reconcile_now
from mailer.subscribers.models import Subscriber, Subscription
from tests.harness import factories
from tests.harness.databases import PostgresCluster, RedisServer
from tests.harness.processes import TIMEOUT, wait_until
from tests.harness.rabbitmq import is_amqp
from tests.harness.smtp_faults import FaultHandler, FaultSMTP, Hold
from tests.harness.workers import CeleryWorker

# Far enough ahead to pass CLAIM_LEASE and ENQUEUE_LEASE.
AHEAD = timedelta(hours=2)
assert AHEAD > ledger.CLAIM_LEASE and AHEAD > ledger.ENQUEUE_LEASE
# Workers' leases and the reconcile interval, unless a scenario asks for others: short, so
# that a lease left by a killed worker expires while a test looks.
LEASE_SECONDS = 3.0
# The scenarios' SMTP servers hold answers until the test releases them: a sender waits for
# them however slow the machine is; the test decides when an answer comes, never a timeout.
SMTP_TIMEOUT_SECONDS = 3600.0


@dataclass(frozen=True)
class Row:
    id: int
    email: str
    status: str
    attempts: int
    last_error: str | None
    message_id: str | None
    enqueued_at: datetime | None
    next_attempt_at: datetime | None


@dataclass
class Scenario:
    """One send's world: its own SMTP server, broker, app and workers on one database."""

    app: Flask
    smtp: FaultSMTP
    worker_env: dict[str, str]
    tmp: Path
    settings: Settings
    redis: RedisServer | None = None
    postgres: PostgresCluster | None = None
    workers: list[CeleryWorker] = field(default_factory=list)

    @property
    def db(self) -> Database:
        runtime: Runtime = self.app.extensions["mailer"]
        return runtime.db

    def start_worker(self, concurrency: int = 1) -> CeleryWorker:
        name = f"faults-{len(self.workers)}-{secrets.token_hex(3)}"
        worker = CeleryWorker(
            self.worker_env, self.tmp / f"{name}.log", concurrency, name=name, pool="prefork"
        )
        self.workers.append(worker)
        return worker.start()

    # -- the send, as `digest send` does it ------------------------------------------
    def readers(self, session: Session, count: int) -> dict[str, int]:
        """``count`` active subscriptions (address → subscription id) and one drafted issue."""
        subs = [factories.subscription(session, f"leser{i:03d}@example.no") for i in range(count)]
        factories.subscription(session, "venter@example.no", status="pending")
        factories.subscription(session, "borte@example.no", status="unsubscribed")
        session.commit()
        return {s.subscriber.email: s.id for s in subs}

    def send(self, issue_id: int) -> None:
        with self.app.app_context():
            with self.db.session() as session:
                assert ledger.request_send(session, issue_id)
                session.commit()  # queues mailer.start_send on this scenario's broker

    def reconcile(self, at: datetime | None = None) -> None:
        """The reconciler (as the beat runs it, on this host), by default with a clock past
        every lease."""
        with self.app.app_context():
            reconcile_now(at or utcnow() + AHEAD)

    def let_backoffs_run_out(self, issue_id: int) -> int:
        """The worker claims by its own clock, so a retry's backoff must be over for it too:
        move every pending ``next_attempt_at`` into the past, as if the time had gone by."""
        with self.db.session() as session:
            moved = session.execute(
                update(Delivery)
                .where(
                    Delivery.issue_id == issue_id,
                    Delivery.status == DeliveryStatus.QUEUED,
                    Delivery.next_attempt_at.is_not(None),
                )
                .values(next_attempt_at=utcnow() - timedelta(seconds=1))
            ).rowcount
            session.commit()
        return int(moved)

    # -- looking at the ledger -------------------------------------------------------
    def rows(self, issue_id: int) -> list[Row]:
        with self.db.session() as session:
            return [
                Row(*r)
                for r in session.execute(
                    select(
                        Delivery.id,
                        Subscriber.email,
                        Delivery.status,
                        Delivery.attempts,
                        Delivery.last_error,
                        Delivery.message_id,
                        Delivery.enqueued_at,
                        Delivery.next_attempt_at,
                    )
                    .join(Subscription, Subscription.id == Delivery.subscription_id)
                    .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                    .where(Delivery.issue_id == issue_id)
                    .order_by(Delivery.id)
                )
            ]

    def progress(self, issue_id: int) -> send_progress.Progress:
        with self.db.session() as session:
            return send_progress.progress(session, issue_id, self.settings)

    # -- crash recovery: runs, journals, what the reconciler did ---------------------
    def runs(self) -> list[SendRun]:
        with self.db.session() as session:
            return list(session.scalars(select(SendRun).order_by(SendRun.started_at)))

    def journals(self) -> dict[str, Path]:
        return journal_paths(self.settings.journal_dir)

    def recoveries(self, issue_id: int) -> list[dict[str, Any]]:
        """What the reconciler recorded of each stopped run it repaired."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Event.data)
                    .where(Event.kind == "sending.recovered", Event.issue_id == issue_id)
                    .order_by(Event.id)
                )
            )

    def wait(self, condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
        """Wait for ``condition``; fail at once, with its log, if a worker has died."""

        def check() -> object:
            for w in self.workers:
                if not w.killed and not w.alive():
                    raise AssertionError(f"worker {w.name} exited:\n{w.log_tail()}")
            return condition()

        try:
            wait_until(check, what, timeout)
        except AssertionError as exc:
            logs = "\n".join(f"--- {w.name}\n{w.log_tail()}" for w in self.workers)
            raise AssertionError(f"{exc}\n{logs}") from None

    def arrived(self, hold: Hold) -> tuple[str, int]:
        """Wait until the held message is in (the sender now waits for the server's answer)."""
        self.wait(lambda: hold.arrived.wait(0.1), f"the message to {hold.recipient}")
        assert hold.peer is not None
        return hold.peer

    def server_saw(self, condition: Callable[[FaultHandler], bool], what: str) -> None:
        self.wait(lambda: self.smtp.seen(condition, 0.1), f"the SMTP server to see {what}")

    def wait_rows(self, issue_id: int, condition: Callable[[list[Row]], bool], what: str) -> None:
        def check() -> bool:
            rows = self.rows(issue_id)
            return bool(rows) and condition(rows)

        self.wait(check, what)

    def wait_settled(self, issue_id: int) -> None:
        """The batches handed to the broker have all ended: no row is claimed, and every
        queued row was handed back (the ledger, not a broker message, now holds it)."""
        self.wait_rows(
            issue_id,
            lambda rows: all(
                r.status != DeliveryStatus.SENDING
                and not (r.status == DeliveryStatus.QUEUED and r.enqueued_at)
                for r in rows
            ),
            "the batches to end",
        )

    def wait_sent(self, issue_id: int) -> None:
        self.wait(
            lambda: self.progress(issue_id).status == IssueStatus.SENT,
            f"issue {issue_id} to be sent",
        )

    def close(self) -> None:
        """Stop everything this scenario started, each step even if an earlier one failed."""
        steps: list[Callable[[], object]] = [self.smtp.release_all]
        steps += [worker.stop for worker in self.workers]
        steps += [self.smtp.stop, self.app.extensions["celery"].close, self.db.engine.dispose]
        if self.redis is not None:
            steps.append(self.redis.kill)
        if self.postgres is not None:
            steps.append(self.postgres.destroy)
        errors = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # the rest must still be stopped
                errors.append(exc)
        if errors:
            raise errors[0]


def in_flight(rows: list[Row]) -> set[int]:
    return {r.id for r in rows if r.status == DeliveryStatus.SENDING}


def assert_one_copy_or_in_doubt(
    scenario: Scenario,
    issue_id: int,
    readers: dict[str, int],
    *,
    connections: int,
    per_connection: int = 1,
    failed: dict[str, str] | None = None,
) -> set[int]:
    """The promise, proven by the SMTP server's own log; returns the in-doubt row ids.

    In doubt: at most ``per_connection`` rows per SMTP connection in flight (one, the mail
    whose content went out unanswered; a claimed group when the journal was lost)."""
    failed = failed or {}
    assert scenario.progress(issue_id).status == IssueStatus.SENT
    rows = scenario.rows(issue_id)
    by_email = {r.email: r for r in rows}
    # One row per reader who was active when the send began, and none for anybody else.
    assert len(by_email) == len(rows) == len(readers)
    assert set(by_email) == set(readers)

    log = scenario.smtp.logged()
    delivered = scenario.smtp.delivered()
    assert set(delivered) <= set(readers), "mail to somebody who is not a reader"
    doubles = {address: n for address, n in delivered.items() if n > 1}
    assert not doubles, f"readers who got more than one copy: {doubles}"
    message_ids = [e.message_id for e in log]
    assert len(set(message_ids)) == len(message_ids), "a Message-ID was used twice"
    delivered_id = {e.recipient: e.message_id for e in log if e.delivered}

    in_doubt: set[int] = set()
    for address, row in by_email.items():
        if address in failed:
            assert row.status == DeliveryStatus.FAILED, (address, row)
            assert row.last_error and row.last_error.startswith(failed[address]), row
            assert delivered[address] == 0, address
        elif row.status == DeliveryStatus.SENT:
            assert delivered[address] == 1, f"{address} is sent, the server has none: {row}"
            assert delivered_id[address] == row.message_id
        else:
            assert row.status == DeliveryStatus.IN_DOUBT, f"{address} ended {row.status}: {row}"
            assert delivered[address] <= 1
            in_doubt.add(row.id)
    assert len(in_doubt) <= connections * per_connection
    return in_doubt


def build_scenario(
    app: Flask,
    rt: Runtime,
    test_env: dict[str, str],
    tmp: Path,
    *,
    own_redis: bool = False,
    own_postgres: bool = False,
    lease_seconds: float = LEASE_SECONDS,
    broker_url: str = "",
) -> Scenario:
    """A scenario on the test database (or a throwaway PostgreSQL cluster), with a broker
    no other worker reads: a fresh filesystem queue, a private redis-server when the
    suite runs on Redis (or the scenario restarts it), a queue of its own in the run's
    RabbitMQ vhost, or ``broker_url`` when given."""
    tmp.mkdir()
    smtp = FaultSMTP()
    smtp.start()
    redis = postgres = None
    try:
        # A queue no other worker reads (on RabbitMQ, in the run's own vhost).
        queue = f"{rt.settings.queue}-{tmp.name}-{secrets.token_hex(3)}"
        if broker_url:
            pass  # the scenario's own (a RabbitMQ vhost)
        elif is_amqp(test_env["MAILER_BROKER_URL"]) and not own_redis:
            broker_url = test_env["MAILER_BROKER_URL"]
        elif own_redis or test_env["MAILER_BROKER_URL"].startswith("redis"):
            redis = RedisServer(tmp / "redis")
            redis.start()
            broker_url = redis.url
        else:
            broker_url = "filesystem://"
        database_url = rt.settings.database_url
        if own_postgres:
            postgres = PostgresCluster()
            postgres.init()
            postgres.start()
            database_url = postgres.create_database("mailer")
            upgrade(database_url)
        settings = dataclasses.replace(
            rt.settings,
            var_dir=tmp / "var",
            broker_url=broker_url,
            queue=queue,
            database_url=database_url,
            smtp_port=smtp.port,
            # The workers' journals are on this host: the test's reconciler reads them.
            journal_dir=tmp / "var" / "journal",
            claim_lease_seconds=lease_seconds,
            reconcile_interval_seconds=lease_seconds,
            network=dataclasses.replace(
                rt.settings.network, smtp_timeout_seconds=SMTP_TIMEOUT_SECONDS
            ),
        )
        # create_app binds the module-level request limiter to the newest app's storage:
        # keep it on the test app's, which outlives this scenario's broker.
        limits = app.config["RATELIMIT_STORAGE_URI"]
        return Scenario(
            app=create_app(settings, RATELIMIT_STORAGE_URI=limits),
            smtp=smtp,
            worker_env={
                **test_env,
                "MAILER_VAR_DIR": str(settings.var_dir),
                "MAILER_BROKER_URL": broker_url,
                "MAILER_QUEUE": queue,
                "MAILER_DATABASE_URL": database_url,
                "MAILER_SMTP_PORT": str(smtp.port),
                "MAILER_JOURNAL_DIR": str(settings.journal_dir),
                "MAILER_CLAIM_LEASE_SECONDS": str(lease_seconds),
                "MAILER_RECONCILE_INTERVAL_SECONDS": str(lease_seconds),
                "MAILER_SMTP_TIMEOUT_SECONDS": str(SMTP_TIMEOUT_SECONDS),
            },
            tmp=tmp,
            settings=settings,
            redis=redis,
            postgres=postgres,
        )
    except BaseException:
        smtp.stop()
        if redis is not None:
            redis.kill()
        if postgres is not None:
            postgres.destroy()
        raise
