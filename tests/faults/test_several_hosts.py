"""Two worker hosts send one issue together; one is cut off the network mid-send, or killed.

The hosts are network namespaces (tests.harness.netns, tests.harness.hosts) with their
own hostname, journal directory and Celery worker, reaching a PostgreSQL, a Redis and the
scriptable SMTP server the test starts on the bridge address. "Mid-send" is exact: the
server holds its answer to host A's 25th message (the 5th of its second claimed group),
so A is known to wait for it when its link is cut or its worker killed.

The bound is read from the settings, never waited for: another host gives A's claims up
(the group rule: in doubt) once A's last lease plus GRACE_LEASES leases have passed. The
reconciler runs with its clock set a millisecond before that (A's claims stay A's; only
the rows A's batch carried and never claimed go back to the queue, for B) and at it (A's
claims are in doubt). The evidence of "nothing lost, nothing twice" is the SMTP server's
own log, as in the other fault tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from mailer.sending import batch as sending
from mailer.sending.journal import journal_paths
from mailer.sending.models import SendRun
from mailer.sending.recovery import GRACE_LEASES, JOURNAL_LOST
from mailer.sending.runs import lease_of
from mailer.sending.states import DeliveryStatus
from tests.harness import factories
from tests.harness.hosts import Hosts, build_hosts
from tests.harness.processes import wait_until
from tests.harness.send_scenario import assert_one_copy_or_in_doubt
from tests.harness.smtp_faults import Hold

HELD = sending.COMMIT_GROUP + 5
# Three batches: one for each host at first, the third for whichever is free first.
READERS = 2 * sending.BATCH_SIZE + 100


@pytest.fixture
def two_hosts(app, rt, test_env, tmp_path) -> Iterator[Hosts]:
    made = build_hosts(app, rt, test_env, tmp_path, count=2)
    yield made
    try:
        made.close()
    finally:
        app.extensions["celery"].set_default()  # create_app made the scenario's the default


def _start_sending(w: Hosts) -> tuple[int, dict[str, int], Hold, SendRun, set[int]]:
    """Both hosts sending, A waiting for the answer to its 25th mail: (issue, readers,
    the hold, A's run, the rows A has claimed)."""
    s, (a, b) = w.scenario, w.hosts
    with s.db.session() as session:
        readers = s.readers(session, READERS)
        issue_id = factories.drafted_issue(session).id
    held = s.smtp.hold(HELD, host=a.address)
    workers = [w.start_worker(a), w.start_worker(b)]
    for worker in workers:
        worker.wait_ready()
    s.send(issue_id)
    s.arrived(held)
    run = w.run_of(a)
    claimed = w.claimed_by(run.id)
    assert len(claimed) == sending.COMMIT_GROUP
    return issue_id, readers, held, run, claimed


def _give_up_at_the_bound(w: Hosts, issue_id: int, run_id: str, claimed: set[int]) -> None:
    """The reconciler (on no worker host) a millisecond before the bound and at it."""
    s = w.scenario
    [run] = [r for r in s.runs() if r.id == run_id]  # its last renewal
    bound = run.lease_expires_at + GRACE_LEASES * lease_of(s.settings)

    def only_a_left(done: set[int]) -> bool:
        # Every other run has ended and every row but ``done`` is sent: B is idle, so
        # the reconciler's clock, set ahead, judges A's run alone.
        rows = s.rows(issue_id)
        return [r.id for r in s.runs()] == [run_id] and all(
            r.status == DeliveryStatus.SENT for r in rows if r.id not in done
        )

    carried = set(run.delivery_ids)
    s.wait(lambda: only_a_left(carried), "host B to send everything but A's batch")
    s.reconcile(at=bound - timedelta(milliseconds=1))
    # Before the bound A's claims are A's; the rows its batch carried go to B.
    assert w.claimed_by(run_id) == claimed
    s.wait(lambda: only_a_left(claimed), "host B to send what A's batch carried")

    s.reconcile(at=bound)
    assert w.claimed_by(run_id) == set()
    rows = {r.id: r for r in s.rows(issue_id)}
    assert all(rows[i].status == DeliveryStatus.IN_DOUBT for i in claimed)
    assert all(rows[i].last_error == JOURNAL_LOST for i in claimed)
    assert s.runs() == []
    [repair] = s.recoveries(issue_id)
    assert (repair["run"], repair["how"]) == (run_id, "lease expired")
    assert repair["in_doubt"] == sending.COMMIT_GROUP
    s.wait_sent(issue_id)


def test_a_host_cut_off_mid_send(two_hosts: Hosts) -> None:
    w, s = two_hosts, two_hosts.scenario
    a, b = w.hosts
    issue_id, readers, held, run, claimed = _start_sending(w)
    assert w.backends_from(a) > 0

    w.net.cut(a)
    s.smtp.release(held)  # the answer goes out on a dead link
    # The server ends the cut host's sessions by the keepalives the application set on
    # them (MAILER_DEAD_PEER_SECONDS): no lock or connection slot is held for ever.
    wait_until(lambda: w.backends_from(a) == 0, "PostgreSQL to end host A's sessions")

    _give_up_at_the_bound(w, issue_id, run.id, claimed)
    # Both hosts sent, B all but A's claimed group.
    senders = {e.peer[0] for e in s.smtp.logged() if e.delivered}
    assert senders == {a.address, b.address}
    in_doubt = assert_one_copy_or_in_doubt(
        s, issue_id, readers, connections=1, per_connection=sending.COMMIT_GROUP
    )
    assert in_doubt == claimed
    sent_before = {e.message_id for e in s.smtp.logged()}

    # The link comes back. A gets the held answer, finds its run given up and sends
    # nothing more; the rows it claimed and never tried go back to the queue (a run
    # that may never have been tried is no longer in doubt) and are sent, once.
    w.net.restore(a)
    s.wait(lambda: journal_paths(w.journal_dir(a)) == {}, "host A's batch to end")
    s.wait_rows(
        issue_id,
        lambda rows: (
            all(r.status in (DeliveryStatus.SENT, DeliveryStatus.IN_DOUBT) for r in rows)
            and sum(r.status == DeliveryStatus.IN_DOUBT for r in rows) <= 1
        ),
        "the rows A never tried to be sent",
    )
    s.wait_sent(issue_id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue_id, readers, connections=1)
    rows = {r.email: r for r in s.rows(issue_id)}
    assert in_doubt <= {rows[held.recipient].id}
    assert s.smtp.delivered()[held.recipient] == 1
    # Nothing B had sent went out again: the later mails are all to rows A claimed.
    later = [e for e in s.smtp.logged() if e.message_id not in sent_before]
    assert {rows[e.recipient].id for e in later} <= claimed


def test_a_host_killed_mid_send(two_hosts: Hosts) -> None:
    w, s = two_hosts, two_hosts.scenario
    a, b = w.hosts
    issue_id, readers, held, run, claimed = _start_sending(w)
    [worker_a, _] = s.workers
    worker_a.kill_all()
    s.smtp.release(held)

    _give_up_at_the_bound(w, issue_id, run.id, claimed)
    in_doubt = assert_one_copy_or_in_doubt(
        s, issue_id, readers, connections=1, per_connection=sending.COMMIT_GROUP
    )
    assert in_doubt == claimed
    sent_before = {e.message_id for e in s.smtp.logged()}

    # Host A comes back: its new worker replays A's journal, which knows better than the
    # group rule: the four answered mails are sent, the held one (its content went out
    # unanswered) stays in doubt, the fifteen never tried are sent now, once.
    w.start_worker(a).wait_ready()
    s.wait(lambda: journal_paths(w.journal_dir(a)) == {}, "host A to replay its journal")
    s.wait_rows(
        issue_id,
        lambda rows: (
            all(r.status in (DeliveryStatus.SENT, DeliveryStatus.IN_DOUBT) for r in rows)
            and sum(r.status == DeliveryStatus.IN_DOUBT for r in rows) == 1
        ),
        "the rows A never tried to be sent",
    )
    s.wait_sent(issue_id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue_id, readers, connections=1)
    rows = {r.email: r for r in s.rows(issue_id)}
    assert in_doubt == {rows[held.recipient].id}
    later = [e for e in s.smtp.logged() if e.message_id not in sent_before]
    assert len(later) == sending.COMMIT_GROUP - 5
    assert {rows[e.recipient].id for e in later} <= claimed
