"""Repairing what a stopped send run left: by its journal, by the group rule, by its lease.

Runs are made by hand (a send_run row, claimed rows, a journal written as a run writes
it), and the reconciler is given its clock: no worker, no waiting. The fault tests
(tests/faults/test_crash_recovery.py) do the same with real killed workers.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from mailer.config import ConfigError, Settings, load_settings
from mailer.events import Event
from mailer.sending import journal, ledger, recovery, service
from mailer.sending import progress as send_progress
from mailer.sending.models import Delivery, SendRun
from mailer.sending.runs import Run, lease_of
from mailer.sending.tasks import beat_schedule
from tests.harness import factories

pytestmark = pytest.mark.rolled_back

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(rt, tmp_path: Path) -> Settings:
    return dataclasses.replace(
        rt.settings,
        journal_dir=tmp_path / "journal",
        claim_lease_seconds=10.0,
        reconcile_interval_seconds=5.0,
    )


def _send(session, readers: int) -> tuple[int, list[int]]:
    for i in range(readers):
        factories.subscription(session, f"leser{i}@example.no")
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.commit()
    return issue.id, ledger.queued_page(session, issue.id, 0, 100, T0)


def _stopped_run(
    session,
    issue_id: int,
    ids: list[int],
    claimed: list[int],
    *,
    run_id: str = "abc123-1",
    host: str | None = None,
    pid: int | None = None,
    lease_expires_at: datetime = T0 + timedelta(seconds=10),
) -> None:
    """A run's row and its claims, as a batch leaves them when its process dies."""
    session.execute(
        insert(SendRun).values(
            id=run_id,
            issue_id=issue_id,
            host=host or socket.gethostname(),
            pid=pid or os.getpid(),
            process_id=run_id.split("-")[0],
            delivery_ids=ids,
            started_at=T0,
            lease_expires_at=lease_expires_at,
        )
    )
    session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(enqueued_at=T0))
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(claimed))
        .values(status="sending", attempts=1, claimed_at=T0, run_id=run_id)
    )
    session.commit()


def _journal(settings: Settings, run_id: str, ids: list[int], lines: str, boot: str = "") -> Path:
    """A journal as a run that has ended leaves it (unlocked)."""
    settings.journal_dir.mkdir(parents=True, exist_ok=True)
    path = settings.journal_dir / f"{run_id}{journal.SUFFIX}"
    header = (
        f"mailer-journal 1 boot={boot or journal.boot_id()} run={run_id} "
        f"host={socket.gethostname()} pid={os.getpid()} ids={','.join(map(str, ids))}\n"
    )
    path.write_text(header + lines)
    return path


def _rows(session, ids: list[int]) -> list[tuple[str, int, str | None, str | None, object]]:
    session.expire_all()
    return [
        tuple(r)
        for r in session.execute(
            select(
                Delivery.status,
                Delivery.attempts,
                Delivery.message_id,
                Delivery.last_error,
                Delivery.enqueued_at,
            )
            .where(Delivery.id.in_(ids))
            .order_by(Delivery.id)
        )
    ]


def _repairs(session) -> list[dict]:
    return list(session.scalars(select(Event.data).where(Event.kind == "sending.recovered")))


def test_a_journal_tells_what_became_of_each_claimed_row(session, settings):
    issue_id, ids = _send(session, 6)
    a, b, c, d, e, carried = ids
    _stopped_run(session, issue_id, ids, claimed=[a, b, c, d, e])
    path = _journal(
        settings,
        "abc123-1",
        ids,
        f"S {a} <a@x>\nR {a} 250\nS {b} <b@x>\nR {b} 550\nS {c} <c@x>\nR {c} 451\n"
        f"S {d} <d@x>\nR {d}",  # the process died mid-write: a torn last line
    )

    done = recovery.recover(session, settings, T0, here_only=True)

    assert (done.runs, done.sent, done.in_doubt, done.failed) == (1, 1, 1, 1)
    rows = _rows(session, ids)
    assert rows[0][:3] == ("sent", 1, "<a@x>")
    assert rows[1][0] == "failed" and str(rows[1][3]).startswith("550")
    assert rows[2][0] == "queued" and str(rows[2][3]).startswith("451")
    # Only the mail whose content went out unanswered is in doubt, with its Message-ID.
    assert rows[3][:4] == ("in-doubt", 1, "<d@x>", recovery.UNANSWERED)
    assert send_progress.in_doubt_content_sent(rows[3][2]) is True
    # Claimed, never tried: as if never claimed; and the rows the batch still carried are
    # handed to the broker again at the next dispatch, not after ENQUEUE_LEASE.
    assert rows[4] == ("queued", 0, None, None, None)
    assert rows[5][0] == "queued" and rows[5][4] is None
    assert ledger.queued_page(session, issue_id, 0, 100, T0, stale_only=True) == [c, e, carried]
    assert not path.exists() and session.scalars(select(SendRun)).all() == []
    [repair] = _repairs(session)
    assert (repair["how"], repair["run"], repair["at"]) == ("journal", "abc123-1", T0.isoformat())


def test_a_locked_journal_is_a_live_run_whatever_the_clock(session, settings):
    issue_id, ids = _send(session, 2)
    _stopped_run(session, issue_id, ids, claimed=ids, pid=os.getpid())
    live = journal.Journal.create(settings.journal_dir, "abc123-1", "here", 1, ids)
    live.started(ids[0], "<a@x>")
    far = T0 + timedelta(days=1)

    assert recovery.recover(session, settings, far) == recovery.Repaired()
    assert [r[0] for r in _rows(session, ids)] == ["sending", "sending"]
    assert journal.take(live.path) is None

    live.close(finished=False)  # the process ends without finishing its batch
    done = recovery.recover(session, settings, far, here_only=True)
    assert (done.in_doubt, done.requeued) == (1, 1)
    assert [r[0] for r in _rows(session, ids)] == ["in-doubt", "queued"]


def test_a_journal_from_before_a_restart_gets_the_group_rule(session, settings):
    issue_id, ids = _send(session, 3)
    _stopped_run(session, issue_id, ids, claimed=ids[:2])
    _journal(settings, "abc123-1", ids, f"S {ids[0]} <a@x>\n", boot="an-earlier-boot")

    done = recovery.recover(session, settings, T0)

    assert done.in_doubt == 2
    rows = _rows(session, ids)
    assert [r[0] for r in rows] == ["in-doubt", "in-doubt", "queued"]
    assert rows[1][2] is None and rows[1][3] == recovery.JOURNAL_LOST
    assert send_progress.in_doubt_content_sent(rows[1][2]) is None
    assert _repairs(session)[0]["how"] == "journal from before a restart"


def test_no_journal_and_a_dead_pid_on_this_host_is_the_group_rule_at_once(session, settings):
    issue_id, ids = _send(session, 2)
    dead = subprocess.Popen(["true"])  # a pid that no longer runs
    dead.wait()
    _stopped_run(session, issue_id, ids, claimed=ids[:1], pid=dead.pid)

    done = recovery.recover(session, settings, T0)  # its lease is still valid

    assert done.in_doubt == 1 and done.runs == 1
    assert [r[0] for r in _rows(session, ids)] == ["in-doubt", "queued"]
    assert _repairs(session)[0]["how"] == "journal lost"


def test_a_run_elsewhere_is_judged_by_its_lease(session, settings):
    issue_id, ids = _send(session, 4)
    claimed, carried = ids[:2], ids[2:]
    expires = T0 + lease_of(settings)
    _stopped_run(
        session, issue_id, ids, claimed, host="annen-vert.example", lease_expires_at=expires
    )
    every = timedelta(seconds=settings.reconcile_interval_seconds)
    grace = recovery.GRACE_LEASES * lease_of(settings)

    # Its lease holds: a live owner's rows are never taken.
    before = expires - timedelta(seconds=1)
    assert recovery.recover(session, settings, before) == recovery.Repaired()
    assert send_progress.progress(session, issue_id, settings, now=before).recovery_note is None

    # Expired: the rows its batch only carried go back to the queue at once (a second claim
    # can never succeed, so this is safe even if it lives); its claims wait.
    done = recovery.recover(session, settings, expires)
    assert done.waiting == ["abc123-1"] and done.requeued == 2
    rows = _rows(session, ids)
    assert [r[0] for r in rows] == ["sending", "sending", "queued", "queued"]
    assert all(r[4] is None for r in rows[2:])
    state = send_progress.progress(session, issue_id, settings, now=expires)
    assert (state.recovery_rows, state.next_check_at) == (2, expires + every)
    assert state.recovery_note == (
        "waiting for recovery of 2 rows from a stopped worker (next check at 09:00:15 UTC)"
    )
    assert state.as_dict()["recovery"] == {
        "rows": 2,
        "next_check_at": (expires + every).isoformat(),
        "message": state.recovery_note,
    }
    # Once only: the rows handed back are not handed back again at every check.
    session.execute(update(Delivery).where(Delivery.id.in_(carried)).values(enqueued_at=T0))
    assert recovery.recover(session, settings, expires + every).requeued == 0

    # No worker on its host replayed its journal within the grace: the group rule.
    assert recovery.recover(session, settings, expires + grace - timedelta(seconds=1)).runs == 0
    done = recovery.recover(session, settings, expires + grace)
    assert (done.runs, done.in_doubt) == (1, 2)
    assert [r[0] for r in _rows(session, claimed)] == ["in-doubt", "in-doubt"]
    assert _repairs(session)[0]["how"] == "lease expired"
    after = send_progress.progress(session, issue_id, settings, now=expires + grace)
    assert after.recovery_rows == 0


def test_an_orphan_journal_sharpens_the_group_rule(session, settings):
    """The group rule was applied elsewhere first; the journal, found later on its host,
    still tells which rows were never tried (back to the queue) or answered (sent)."""
    issue_id, ids = _send(session, 3)
    _stopped_run(session, issue_id, ids, ids, host="annen-vert.example", lease_expires_at=T0)
    recovery.recover(session, settings, T0 + timedelta(hours=1))
    assert [r[0] for r in _rows(session, ids)] == ["in-doubt"] * 3
    _journal(settings, "abc123-1", ids, f"S {ids[0]} <a@x>\nR {ids[0]} 250\nS {ids[1]} <b@x>\n")

    recovery.recover(session, settings, T0 + timedelta(hours=2))

    assert [r[0] for r in _rows(session, ids)] == ["sent", "in-doubt", "queued"]
    assert journal.journal_paths(settings.journal_dir) == {}


def test_rows_a_late_journal_returns_to_a_closed_issue_are_sent(
    rt, session, settings, queued_tasks
):
    """The group rule let the issue close (its rows in doubt); the journal, replayed once
    its host is back, says one was never tried: that reader must still get the issue, so
    the issue goes on sending and the row goes to the broker (found by
    tests/faults/test_several_hosts.py: before, the row stayed queued in a sent issue)."""
    issue_id, ids = _send(session, 2)
    _stopped_run(session, issue_id, ids, ids, host="annen-vert.example", lease_expires_at=T0)
    service.reconcile(rt.db, settings, T0 + timedelta(hours=1))
    assert ledger.get_issue(session, issue_id).status == "sent"
    _journal(settings, "abc123-1", ids, f"S {ids[0]} <a@x>\nR {ids[0]} 250\n")
    queued_tasks.clear()

    service.reconcile(rt.db, settings, T0 + timedelta(hours=2))

    session.expire_all()
    assert [r[0] for r in _rows(session, ids)] == ["sent", "queued"]
    assert ledger.get_issue(session, issue_id).status == "sending"
    assert ("mailer.send_batch", (issue_id, [ids[1]])) in queued_tasks
    kinds = session.scalars(select(Event.kind).where(Event.issue_id == issue_id)).all()
    assert "issue.reopened" in kinds


def test_a_journal_round_trip(settings):
    written = journal.Journal.create(settings.journal_dir, "p-1", "vert", 42, [7, 8, 9])
    written.started(7, "<7@x>")
    written.answered(7, 250)
    written.started(8, "<8@x>")
    assert journal.take(written.path) is None  # locked while the run lives
    written.close(finished=False)

    taken = journal.take(written.path)
    assert taken is not None and taken.entries is not None
    entries = taken.entries
    assert (entries.run_id, entries.host, entries.pid, entries.delivery_ids) == (
        "p-1",
        "vert",
        42,
        [7, 8, 9],
    )
    assert entries.started == {7: "<7@x>", 8: "<8@x>"} and entries.answered == {7: 250}
    assert entries.same_boot
    taken.discard()
    assert not written.path.exists()


def test_a_run_ends_without_a_trace_and_renews_its_lease_a_quarter_in(session, settings):
    issue_id, ids = _send(session, 1)
    with Run(session, settings, issue_id, ids, T0) as run:
        session.commit()
        [row] = session.scalars(select(SendRun)).all()
        assert row.lease_expires_at == T0 + lease_of(settings)
        assert run.keep(T0 + lease_of(settings) / 8)  # not yet due: no statement
        assert run.keep(T0 + lease_of(settings) / 4)
        session.refresh(row)
        assert row.lease_expires_at == T0 + lease_of(settings) * 5 / 4
        assert run.journal.path.exists()
    assert session.scalars(select(SendRun)).all() == []
    assert journal.journal_paths(settings.journal_dir) == {}


def test_recovery_settings(monkeypatch, tmp_path):
    settings = load_settings()
    assert (settings.claim_lease_seconds, settings.reconcile_interval_seconds) == (60.0, 60.0)
    assert settings.journal_dir == settings.var_dir / "journal"
    monkeypatch.setenv("MAILER_CLAIM_LEASE_SECONDS", "5")
    monkeypatch.setenv("MAILER_RECONCILE_INTERVAL_SECONDS", "2.5")
    monkeypatch.setenv("MAILER_JOURNAL_DIR", str(tmp_path / "j"))
    settings = load_settings()
    assert (settings.claim_lease_seconds, settings.reconcile_interval_seconds) == (5.0, 2.5)
    assert settings.journal_dir == tmp_path / "j"
    schedule = beat_schedule(settings)["reconcile-sends"]["schedule"]
    assert schedule == timedelta(seconds=2.5)
    for bad in ("0", "-1", "ti", "100000"):
        monkeypatch.setenv("MAILER_CLAIM_LEASE_SECONDS", bad)
        with pytest.raises(ConfigError, match="MAILER_CLAIM_LEASE_SECONDS"):
            load_settings()
