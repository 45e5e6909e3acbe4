"""Sending survives real faults: killed worker processes, a restarted Redis and PostgreSQL,
an SMTP server that refuses, defers and hangs up, and a pause in the middle of a batch.

Every scenario runs real processes: `celery worker` subprocesses against a scriptable
SMTP server (tests.harness.smtp_faults.FaultSMTP) whose own log is the evidence. "Mid-send" is
made exact by holding the server's reply to one chosen message until the test has done
its damage. Time never passes by sleeping: the reconciler gets an explicit clock two
hours ahead, which steps past the claim and enqueue leases; and since a worker claims by
its own (real) clock, a retry's backoff is ended by moving its next_attempt_at into the
past (Scenario.let_backoffs_run_out).

After recovery, each scenario checks the same promise: every reader who was active when
the send began got exactly one copy (the server's log has one message to that address,
with the Message-ID the ledger recorded), or the row is in-doubt and got at most one;
at most (SMTP connections in flight) x COMMIT_GROUP rows are in-doubt; none is lost;
the issue ends `sent`.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailer.app import create_app
from mailer.db import Database, utcnow
from mailer.issues.states import IssueStatus
from mailer.migrate import upgrade
from mailer.runtime import Runtime
from mailer.sending import batch as sending
from mailer.sending import ledger
from mailer.sending import progress as send_progress
from mailer.sending import states as ds
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus
from mailer.sending.tasks import reconcile_now
from mailer.subscribers.models import Subscriber, Subscription
from tests.harness import factories
from tests.harness.databases import PostgresCluster, RedisServer
from tests.harness.processes import TIMEOUT, wait_until
from tests.harness.smtp_faults import FaultHandler, FaultSMTP, Hold
from tests.harness.workers import CeleryWorker

# Far enough ahead to pass CLAIM_LEASE and ENQUEUE_LEASE.
AHEAD = timedelta(hours=2)
assert AHEAD > ledger.CLAIM_LEASE and AHEAD > ledger.ENQUEUE_LEASE


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

    def reconcile(self) -> None:
        """The reconciler, run with a clock past every lease."""
        with self.app.app_context():
            reconcile_now(utcnow() + AHEAD)

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
            return send_progress.progress(session, issue_id)

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
    failed: dict[str, str] | None = None,
) -> set[int]:
    """The promise, proven by the SMTP server's own log; returns the in-doubt row ids."""
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
    assert len(in_doubt) <= connections * sending.COMMIT_GROUP
    return in_doubt


@pytest.fixture
def make_scenario(
    app: Flask, rt: Runtime, test_env: dict[str, str], session: Session, tmp_path: Path
) -> Iterator[Callable[..., Scenario]]:
    """Builds scenarios on the test database (or a throwaway PostgreSQL cluster), each
    with a broker no other worker reads: a fresh filesystem queue, or a private
    redis-server when the suite runs on Redis (or the scenario restarts it)."""
    made: list[Scenario] = []

    def make(*, own_redis: bool = False, own_postgres: bool = False) -> Scenario:
        tmp = tmp_path / f"scenario{len(made)}"
        tmp.mkdir()
        smtp = FaultSMTP()
        smtp.start()
        redis = postgres = None
        try:
            broker_url = "filesystem://"
            if own_redis or test_env["MAILER_BROKER_URL"].startswith("redis"):
                redis = RedisServer(tmp / "redis")
                redis.start()
                broker_url = redis.url
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
                database_url=database_url,
                smtp_port=smtp.port,
            )
            # create_app binds the module-level request limiter to the newest app's storage:
            # keep it on the test app's, which outlives this scenario's broker.
            limits = app.config["RATELIMIT_STORAGE_URI"]
            scenario = Scenario(
                app=create_app(settings, RATELIMIT_STORAGE_URI=limits),
                smtp=smtp,
                worker_env={
                    **test_env,
                    "MAILER_VAR_DIR": str(settings.var_dir),
                    "MAILER_BROKER_URL": broker_url,
                    "MAILER_DATABASE_URL": database_url,
                    "MAILER_SMTP_PORT": str(smtp.port),
                },
                tmp=tmp,
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
        made.append(scenario)
        return scenario

    yield make
    try:
        for scenario in reversed(made):
            scenario.close()
    finally:
        app.extensions["celery"].set_default()  # create_app made the scenario's the default


# --------------------------------------------------------------------------- scenarios


def test_kill_9_of_a_worker_child_mid_send(make_scenario, session):
    s = make_scenario()
    readers = s.readers(session, 60)
    issue = factories.drafted_issue(session)
    held = s.smtp.hold(sending.COMMIT_GROUP + 5)  # the 5th message of the second group
    worker = s.start_worker(concurrency=2)
    s.send(issue.id)

    peer = s.arrived(held)
    claimed = in_flight(s.rows(issue.id))
    assert 1 <= len(claimed) <= sending.COMMIT_GROUP
    child = worker.child_talking_from(peer, s.smtp.port)
    worker.kill_child(child)
    s.smtp.release(held)

    # The main process survives, replaces the child and redelivers the batch (acks_late,
    # reject_on_worker_lost); only the dead child's claims stay open.
    s.wait_rows(
        issue.id,
        lambda rows: all(
            (r.status == DeliveryStatus.SENDING) if r.id in claimed else r.status in ds.FINAL
            for r in rows
        ),
        "the redelivered batch to finish around the dead child's claims",
    )
    s.wait(lambda: len(worker.children()) == 2, "the pool to replace the killed child")
    assert worker.alive() and child.pid not in {c.pid for c in worker.children()}
    assert s.progress(issue.id).status == IssueStatus.SENDING  # open claims: not done

    s.reconcile()
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue.id, readers, connections=1)
    assert in_doubt == claimed
    # The held message did go out (so did those before it in its group): the ledger
    # cannot know, so they are in doubt rather than sent twice.
    assert s.smtp.delivered()[held.recipient] == 1


def test_kill_9_of_the_whole_worker_then_a_restart(make_scenario, session):
    s = make_scenario()
    # Two pages of sending.BATCH_SIZE: two batches on two SMTP connections at once.
    readers = s.readers(session, sending.BATCH_SIZE + 20)
    issue = factories.drafted_issue(session)
    held = [s.smtp.hold(5, connection=1), s.smtp.hold(5, connection=2)]
    worker = s.start_worker(concurrency=2)
    s.send(issue.id)

    assert len({s.arrived(h) for h in held}) == 2
    claimed = in_flight(s.rows(issue.id))
    assert len(claimed) == 2 * sending.COMMIT_GROUP
    worker.kill_all()
    for h in held:
        s.smtp.release(h)
    rows = s.rows(issue.id)
    assert in_flight(rows) == claimed
    assert sum(r.status == DeliveryStatus.QUEUED for r in rows) > 0

    # A new worker knows nothing of the lost batches; the reconciler does.
    s.start_worker(concurrency=2)
    s.reconcile()
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue.id, readers, connections=2)
    assert in_doubt == claimed
    assert all(s.smtp.delivered()[h.recipient] == 1 for h in held)


def test_redis_restarted_mid_send(make_scenario, session):
    s = make_scenario(own_redis=True)
    assert s.redis is not None
    # Two batches; with one worker process the second waits in Redis while the first runs.
    readers = s.readers(session, sending.BATCH_SIZE + 10)
    issue = factories.drafted_issue(session)
    held = s.smtp.hold(50)
    s.start_worker(concurrency=1)
    s.send(issue.id)

    s.arrived(held)
    client = s.redis.client()
    queue = s.app.extensions["celery"].conf.task_default_queue
    assert client.llen(queue) == 1  # the second batch, not yet taken
    client.close()
    s.redis.kill()
    s.redis.start()  # same port, no persistence: the waiting batch is gone
    s.smtp.release(held)

    # The running batch needs no broker to finish; the lost one is left queued, and
    # only the ledger knows (it was handed to a broker that forgot it).
    s.wait_rows(
        issue.id,
        lambda rows: (
            not in_flight(rows)
            and sum(r.status == DeliveryStatus.SENT for r in rows) == sending.BATCH_SIZE
        ),
        "the running batch to finish",
    )
    rows = s.rows(issue.id)
    lost = [r for r in rows if r.status == DeliveryStatus.QUEUED]
    assert len(lost) == 10 and all(r.enqueued_at and r.attempts == 0 for r in lost)
    assert all(r.status == DeliveryStatus.SENT for r in rows if r not in lost)

    s.reconcile()  # hands the lost rows to the new Redis; the worker reconnected to it
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue.id, readers, connections=1)
    assert in_doubt == set()


def test_smtp_server_defers_refuses_and_hangs_up(make_scenario, session):
    s = make_scenario()
    readers = s.readers(session, 50)
    issue = factories.drafted_issue(session)
    handler = s.smtp.handler
    unknown, full, hangs_up = (
        "leser006@example.no",
        "leser012@example.no",
        "leser021@example.no",
    )
    handler.reject_rcpt[unknown] = "550 5.1.1 No such user here"
    handler.reject_data[full] = "552 5.2.2 Mailbox full"
    handler.drop_after_data.add(hangs_up)
    # "For a while": five RCPTs deferred, then the 36th MAIL and the next connection's
    # first MAIL get 421 (and the channel closed), then the server recovers.
    for n in range(30, 35):
        handler.rcpt_replies[n] = "451 4.3.0 Temporary local problem"
    handler.mail_replies[36] = handler.mail_replies[37] = "421 4.3.2 Try again later"
    s.start_worker(concurrency=1)
    s.send(issue.id)

    # Round 1: the batch runs into the 421, stops and hands the rest back.
    s.server_saw(lambda h: h.mail_count >= 36, "the 36th MAIL")
    s.wait_settled(issue.id)
    rows = {r.email: r for r in s.rows(issue.id)}
    deferred = [a for _, _, a, reply in s.smtp.refused() if reply.startswith("451")]
    assert len(deferred) == 5
    for address in deferred:
        assert rows[address].status == DeliveryStatus.QUEUED and rows[address].attempts == 1
        assert rows[address].last_error.startswith("451 4.3.0"), rows[address]
    errors = [r.last_error or "" for r in rows.values() if r.status == DeliveryStatus.QUEUED]
    # The one refused, and the claimed rest of its group:
    assert sum(e.startswith("421 4.3.2") for e in errors) == 1, errors
    assert any(e.startswith("SMTP server unavailable: 421") for e in errors), errors
    assert any(e == "" for e in errors)  # the rest of the batch, released untried
    sent = [a for a, r in rows.items() if r.status == DeliveryStatus.SENT]
    assert sorted(sent) == sorted(s.smtp.delivered().keys() - {hangs_up})
    assert s.progress(issue.id).status == IssueStatus.SENDING

    # Round 2: still 421 on the first try of the retry batch: nothing goes out.
    before = len(s.smtp.logged())
    assert s.let_backoffs_run_out(issue.id) > 0
    s.reconcile()
    s.server_saw(lambda h: h.mail_count >= 37, "the 37th MAIL")
    s.wait_settled(issue.id)
    assert len(s.smtp.logged()) == before
    assert [c for c, n, _, _ in s.smtp.refused() if n == 37] == ["MAIL"]

    # Round 3: the server has recovered.
    s.let_backoffs_run_out(issue.id)
    s.reconcile()
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(
        s, issue.id, readers, connections=1, failed={unknown: "550 5.1.1", full: "552 5.2.2"}
    )
    rows = {r.email: r for r in s.rows(issue.id)}
    assert in_doubt == {rows[hangs_up].id}
    assert s.smtp.delivered()[hangs_up] == 1
    for address in set(deferred) - {unknown, full, hangs_up}:
        assert rows[address].status == DeliveryStatus.SENT and rows[address].attempts >= 2
    with s.db.session() as check:
        # 5.1.1: the address does not exist, so the reader is suppressed; 5.2.2 is not.
        status = {
            email: check.scalar(
                select(Subscription.status).join(Subscriber).where(Subscriber.email == email)
            )
            for email in (unknown, full)
        }
    assert status == {unknown: "bounced", full: "active"}


def test_postgresql_restarted_mid_send(make_scenario):
    s = make_scenario(own_postgres=True)
    assert s.postgres is not None
    with s.db.session() as own:
        readers = s.readers(own, 60)
        issue = factories.drafted_issue(own)
    held = s.smtp.hold(5)  # in the first group
    s.start_worker(concurrency=1)
    s.send(issue.id)

    s.arrived(held)
    assert 1 <= len(in_flight(s.rows(issue.id))) <= sending.COMMIT_GROUP
    s.postgres.stop("immediate")  # a crash: every connection is cut
    s.postgres.start()
    s.smtp.release(held)

    # The worker held no connection while SMTP talked; the pool's pre-ping reconnects,
    # the group's results are recorded, and the send finishes without help.
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue.id, readers, connections=1)
    assert in_doubt == set()


def test_postgresql_down_when_a_group_is_recorded(make_scenario):
    s = make_scenario(own_postgres=True)
    assert s.postgres is not None
    with s.db.session() as own:
        readers = s.readers(own, 60)
        issue = factories.drafted_issue(own)
    held = s.smtp.hold(sending.COMMIT_GROUP + 5)
    worker = s.start_worker(concurrency=1)
    s.send(issue.id)

    s.arrived(held)
    claimed = in_flight(s.rows(issue.id))
    assert 1 <= len(claimed) <= sending.COMMIT_GROUP
    s.postgres.stop("immediate")
    s.smtp.release(held)
    # The group's mails go out, then its results cannot be written: the task fails.
    s.wait(lambda: "raised unexpected: OperationalError" in worker.log_text(), "the task to fail")
    s.postgres.start()

    s.reconcile()
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue.id, readers, connections=1)
    assert in_doubt == claimed
    assert all(s.smtp.delivered()[r.email] == 1 for r in s.rows(issue.id) if r.id in claimed)


def test_pause_stops_within_a_batch_and_resume_finishes_the_rest(make_scenario, session):
    s = make_scenario()
    readers = s.readers(session, 60)
    issue = factories.drafted_issue(session)
    held = s.smtp.hold(sending.COMMIT_GROUP + 5)
    s.start_worker(concurrency=1)
    s.send(issue.id)

    s.arrived(held)
    rows = s.rows(issue.id)
    claimed = in_flight(rows)
    sent_before = {r.id for r in rows if r.status == DeliveryStatus.SENT}
    assert len(claimed) == sending.COMMIT_GROUP and sent_before
    cli = s.app.test_cli_runner()
    paused = cli.invoke(args=["digest", "pause", str(issue.id)])
    assert paused.exit_code == 0, paused.output
    s.smtp.release(held)

    # The group in flight finishes; the batch (all 60 rows) claims nothing more.
    s.wait_rows(
        issue.id,
        lambda rows: (
            not in_flight(rows)
            and all(r.status == DeliveryStatus.SENT for r in rows if r.id in claimed)
        ),
        "the group in flight to be recorded",
    )
    rows = s.rows(issue.id)
    assert {r.id for r in rows if r.status == DeliveryStatus.SENT} == sent_before | claimed
    queued = [r for r in rows if r.status == DeliveryStatus.QUEUED]
    assert len(queued) == len(readers) - len(sent_before | claimed) > 0
    assert all(r.attempts == 0 for r in queued)  # never tried
    assert sorted(s.smtp.delivered()) == sorted(
        r.email for r in rows if r.status == DeliveryStatus.SENT
    )
    assert s.progress(issue.id).status == IssueStatus.PAUSED

    resumed = cli.invoke(args=["digest", "resume", str(issue.id)])
    assert resumed.exit_code == 0, resumed.output
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue.id, readers, connections=1)
    assert in_doubt == set()
