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
at most one row per SMTP connection in flight is in-doubt (the mail whose content went
out unanswered); none is lost; the issue ends `sent`. Killed workers: test_crash_recovery.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer.issues.states import IssueStatus
from mailer.sending import batch as sending
from mailer.sending.states import DeliveryStatus
from mailer.subscribers.models import Subscriber, Subscription
from tests.harness import factories
from tests.harness.send_scenario import assert_one_copy_or_in_doubt, in_flight

# --------------------------------------------------------------------------- scenarios


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


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_smtp_server_defers_refuses_and_hangs_up(make_scenario, session, pipelining):
    s = make_scenario()
    # Offered PIPELINING (RFC 2920), the sender pipelines: the same faults, the same fates.
    s.smtp.handler.pipelining = pipelining
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
    # MAIL found RCPT already waiting in the server's buffer: the flights were pipelined.
    assert (s.smtp.handler.pipelined_flights > 0) == pipelining


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

    # The worker lives on, its batch ended: its journal is left unlocked, and tells the
    # reconciler what the database could not be told.
    assert [r.issue_id for r in s.runs()] == [issue.id]
    s.reconcile()
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue.id, readers, connections=1)
    assert in_doubt == set()
    assert all(s.smtp.delivered()[r.email] == 1 for r in s.rows(issue.id) if r.id in claimed)
    assert [r["how"] for r in s.recoveries(issue.id)] == ["journal"]
    assert s.runs() == [] and s.journals() == {}


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
