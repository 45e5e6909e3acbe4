"""Workers killed with SIGKILL mid-send: the send moves again as soon as a worker starts on
the host, and only the mail really in flight is in doubt.

"Mid-send" is exact: the scriptable SMTP server holds its reply to a chosen message, so
the sender is known to wait for that answer when the test kills it. The evidence is the
server's own log (one copy per reader, no Message-ID twice) and what the reconciler
recorded of each stopped run. Bounds are read from the settings: a repair made before the
dead run's lease expired came within MAILER_CLAIM_LEASE_SECONDS of the run's last sign of
life; the reconciler's clock is set, never waited for.
"""

from __future__ import annotations

from datetime import datetime

from mailer.sending import batch as sending
from mailer.sending import recovery
from mailer.sending.progress import in_doubt_content_sent
from mailer.sending.runs import lease_of
from mailer.sending.states import DeliveryStatus
from tests.harness import factories
from tests.harness.send_scenario import assert_one_copy_or_in_doubt, in_flight

# Longer than any of these tests: a send that moved again only once a lease had run out
# would not move at all. (The others run with the harness's short lease.)
LONG_LEASE = 600.0


def test_kill_9_of_a_worker_child_mid_send(make_scenario, session):
    s = make_scenario()
    readers = s.readers(session, 60)
    issue = factories.drafted_issue(session)
    held = s.smtp.hold(sending.COMMIT_GROUP + 5)  # the 5th message of the second group
    worker = s.start_worker(concurrency=2)
    s.send(issue.id)

    peer = s.arrived(held)
    assert len(in_flight(s.rows(issue.id))) == sending.COMMIT_GROUP
    child = worker.child_talking_from(peer, s.smtp.port)
    worker.kill_child(child)
    s.smtp.release(held)

    # The main process survives and redelivers the batch (acks_late, reject_on_worker_lost);
    # the batch, as it starts, replays the dead child's journal. No reconciler run, no lease.
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue.id, readers, connections=1)
    rows = {r.email: r for r in s.rows(issue.id)}
    assert in_doubt == {rows[held.recipient].id}
    # The held message did go out: its Message-ID was noted before DATA.
    assert s.smtp.delivered()[held.recipient] == 1
    assert in_doubt_content_sent(rows[held.recipient].message_id) is True
    assert rows[held.recipient].last_error == recovery.UNANSWERED
    [repair] = s.recoveries(issue.id)
    assert (repair["how"], repair["pid"]) == ("journal", child.pid)
    # The four answered before the held one are sent; the 15 never tried went back.
    assert (repair["sent"], repair["in_doubt"]) == (4, 1) and repair["requeued"] >= 15
    assert s.runs() == [] and s.journals() == {}


def test_kill_9_of_every_worker_then_one_started(make_scenario, session):
    s = make_scenario(lease_seconds=LONG_LEASE)
    # Two pages of sending.BATCH_SIZE: two batches on two SMTP connections at once; the
    # first still carries 180 rows it has not claimed.
    readers = s.readers(session, sending.BATCH_SIZE + 20)
    issue = factories.drafted_issue(session)
    held = [s.smtp.hold(5, connection=1), s.smtp.hold(5, connection=2)]
    worker = s.start_worker(concurrency=2)
    s.send(issue.id)

    assert len({s.arrived(h) for h in held}) == 2
    claimed = in_flight(s.rows(issue.id))
    assert len(claimed) == 2 * sending.COMMIT_GROUP
    dead = s.runs()
    assert len(dead) == 2 and len(s.journals()) == 2
    worker.kill_all()
    for h in held:
        s.smtp.release(h)
    assert in_flight(s.rows(issue.id)) == claimed

    # One worker starts on this host: it replays the dead runs' journals before it takes
    # a task (no beat runs here, nobody calls the reconciler), and hands the rows the dead
    # batches carried back to the broker without waiting for ENQUEUE_LEASE.
    s.start_worker(concurrency=2)
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue.id, readers, connections=2)
    rows = {r.email: r for r in s.rows(issue.id)}
    assert in_doubt == {rows[h.recipient].id for h in held}
    assert all(s.smtp.delivered()[h.recipient] == 1 for h in held)

    repairs = s.recoveries(issue.id)
    assert sorted(r["run"] for r in repairs) == sorted(run.id for run in dead)
    lease = lease_of(s.settings)
    for repair, run in zip(
        sorted(repairs, key=lambda r: r["run"]), sorted(dead, key=lambda r: r.id), strict=True
    ):
        assert (repair["how"], repair["sent"], repair["in_doubt"]) == ("journal", 4, 1)
        # The bound, from the settings: repaired before the dead run's lease expired, that
        # is within MAILER_CLAIM_LEASE_SECONDS of its last renewal.
        at = datetime.fromisoformat(repair["at"])
        expired = datetime.fromisoformat(repair["lease_expires_at"])
        assert run.started_at <= at < expired
        assert expired - lease >= run.started_at  # the lease is the setting's, renewed
    assert s.runs() == [] and s.journals() == {}


def test_a_lost_journal_falls_back_to_the_group_rule(make_scenario, session):
    s = make_scenario()
    readers = s.readers(session, 60)
    issue = factories.drafted_issue(session)
    held = s.smtp.hold(sending.COMMIT_GROUP + 5)
    worker = s.start_worker(concurrency=1)
    s.send(issue.id)

    s.arrived(held)
    claimed = in_flight(s.rows(issue.id))
    assert len(claimed) == sending.COMMIT_GROUP
    worker.kill_all()
    s.smtp.release(held)
    # A machine crash loses what the page cache held: here, the whole journal.
    [path] = s.journals().values()
    path.unlink()

    # The new worker finds the run's host is this one and its pid gone: no journal, so
    # every row the run had claimed may have gone out.
    s.start_worker(concurrency=1)
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(
        s, issue.id, readers, connections=1, per_connection=sending.COMMIT_GROUP
    )
    assert in_doubt == claimed
    for row in s.rows(issue.id):
        if row.id in claimed:
            assert row.last_error == recovery.JOURNAL_LOST
            assert in_doubt_content_sent(row.message_id) is None  # nobody knows
    [repair] = s.recoveries(issue.id)
    assert (repair["how"], repair["in_doubt"]) == ("journal lost", sending.COMMIT_GROUP)


def test_a_live_workers_claims_are_never_taken(make_scenario, session):
    s = make_scenario()
    readers = s.readers(session, 60)
    issue = factories.drafted_issue(session)
    held = s.smtp.hold(5)
    s.start_worker(concurrency=1)
    s.send(issue.id)

    s.arrived(held)
    claimed = in_flight(s.rows(issue.id))
    [run] = s.runs()
    # By the reconciler's clock the run's lease ran out long ago, grace included; but its
    # journal is on this host and locked: its process lives.
    lease = lease_of(s.settings)
    s.reconcile(at=run.lease_expires_at + (recovery.GRACE_LEASES + 1) * lease)
    assert in_flight(s.rows(issue.id)) == claimed
    assert [r.id for r in s.runs()] == [run.id] and s.recoveries(issue.id) == []

    s.smtp.release(held)
    s.wait_sent(issue.id)
    assert assert_one_copy_or_in_doubt(s, issue.id, readers, connections=1) == set()
    assert all(r.status == DeliveryStatus.SENT for r in s.rows(issue.id))
