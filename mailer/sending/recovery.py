"""What a stopped send run left behind, repaired: by its journal when this host has it,
by the group rule when it does not.

A run is over for sure when its journal is in this host's MAILER_JOURNAL_DIR and no
process holds its lock (the kernel dropped it when the process died), or when its host is
this one, its journal is gone and its pid no longer runs. Then, at once:

* journal intact (same boot): rows never started go back to the queue, rows the server
  answered 250 are sent, refused ones failed (5xx) or queued (4xx); only a row whose
  content went out unanswered is in doubt: at most one per SMTP connection;
* journal lost (deleted, or written before the machine restarted): the group rule, as
  before journals: every row the run had claimed is in doubt.

A run on another host is known only by its lease: once it has expired the rows still
waiting in its batch go back to the queue (a second claim of a row can never succeed, so
this is safe even if the run lives), and after a grace of GRACE_LEASES more leases, with no
worker on its host having replayed its journal, the group rule applies. A live run's
rows are never taken: its lock is held, or its lease is renewed.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.db import rowcount
from mailer.events import record_event
from mailer.sending import journal
from mailer.sending.models import Delivery, SendRun
from mailer.sending.runs import lease_of
from mailer.sending.states import DeliveryStatus as S

GRACE_LEASES = 3

# Why a row is in doubt, as the editor's list shows it (last_error).
UNANSWERED = "the worker stopped after sending the content, before the server answered"
JOURNAL_LOST = "the worker stopped and its journal was lost: this mail may never have been tried"


@dataclass
class Repaired:
    """What one reconciler pass did, for the log and `mailer digest reconcile`."""

    runs: int = 0
    sent: int = 0
    in_doubt: int = 0
    requeued: int = 0
    failed: int = 0
    waiting: list[str] = field(default_factory=list)  # stopped runs left for later

    def add(self, other: Repaired) -> None:
        self.runs += other.runs
        self.sent += other.sent
        self.in_doubt += other.in_doubt
        self.requeued += other.requeued
        self.failed += other.failed
        self.waiting += other.waiting


def pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _requeue_carried(session: Session, ids: list[int]) -> int:
    """Rows the run's batch still carried, never claimed: no broker message holds them
    now, so the next dispatch hands them over again (their backoff, if any, is kept)."""
    return int(
        rowcount(
            session.execute(
                update(Delivery)
                .where(
                    Delivery.id.in_(ids),
                    Delivery.status == S.QUEUED,
                    Delivery.enqueued_at.is_not(None),
                )
                .values(enqueued_at=None),
                execution_options={"synchronize_session": False},
            )
        )
    )


_delivery = cast(Table, Delivery.__table__)
_replay = (
    update(_delivery)
    .where(
        _delivery.c.id == bindparam("b_id"),
        _delivery.c.run_id == bindparam("b_run"),
        # (IN (…) cannot be used in an executemany, hence the OR.)
        or_(_delivery.c.status == S.SENDING, _delivery.c.status == S.IN_DOUBT),
    )
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        message_id=bindparam("b_message_id"),
        last_error=bindparam("b_error"),
        sent_at=bindparam("b_sent_at"),
        enqueued_at=None,
        next_attempt_at=None,
    )
)


def replay(session: Session, entries: journal.Entries, now: datetime) -> Repaired:
    """The run's rows as its journal tells them. Rows the group rule already called in
    doubt are sharpened too; a row an editor has since queued again is not the run's."""
    done = Repaired()
    rows = session.execute(
        select(Delivery.id, Delivery.attempts, Delivery.message_id, Delivery.last_error).where(
            Delivery.id.in_(entries.delivery_ids),
            Delivery.run_id == entries.run_id,
            Delivery.status.in_((S.SENDING, S.IN_DOUBT)),
        )
    ).all()
    params = []
    for row_id, attempts, message_id, last_error in rows:
        value = {"b_id": row_id, "b_run": entries.run_id, "b_sent_at": None}
        code = entries.answered.get(row_id)
        if row_id not in entries.started:
            # Claimed, never tried: as if never claimed.
            value |= {"b_status": S.QUEUED, "b_attempts": max(0, attempts - 1)}
            value |= {"b_message_id": message_id, "b_error": None}
            done.requeued += 1
        else:
            value |= {"b_attempts": attempts, "b_message_id": entries.started[row_id]}
            if code is None:
                value |= {"b_status": S.IN_DOUBT, "b_error": last_error or UNANSWERED}
                done.in_doubt += 1
            elif 200 <= code < 300:
                value |= {"b_status": S.SENT, "b_error": None, "b_sent_at": now}
                done.sent += 1
            else:
                final = code >= 500
                value |= {
                    "b_status": S.FAILED if final else S.QUEUED,
                    "b_error": f"{code} (the server's answer, read from the journal)",
                }
                done.failed += final
                done.requeued += not final
        params.append(value)
    if params:
        session.connection().execute(_replay, params)
    return done


def group_rule(session: Session, run: SendRun) -> Repaired:
    """No journal to read: every row the run had claimed may have gone out."""
    count = rowcount(
        session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(run.delivery_ids),
                Delivery.run_id == run.id,
                Delivery.status == S.SENDING,
            )
            .values(status=S.IN_DOUBT, last_error=JOURNAL_LOST),
            execution_options={"synchronize_session": False},
        )
    )
    return Repaired(in_doubt=int(count))


def _finish(session: Session, run: SendRun, done: Repaired, how: str, now: datetime) -> None:
    if run.stopped_seen_at is None:
        done.requeued += _requeue_carried(session, run.delivery_ids)
    session.execute(delete(SendRun).where(SendRun.id == run.id))
    done.runs = 1
    record_event(
        session,
        "sending.recovered",
        issue_id=run.issue_id,
        data={
            "run": run.id,
            "host": run.host,
            "pid": run.pid,
            "how": how,
            "at": now.isoformat(),
            "lease_expires_at": run.lease_expires_at.isoformat(),
            "sent": done.sent,
            "in_doubt": done.in_doubt,
            "requeued": done.requeued,
            "failed": done.failed,
        },
    )


def _judge(
    session: Session, run: SendRun, now: datetime, lease: timedelta, host: str
) -> tuple[Repaired, str] | None:
    """The repair of a run whose journal is not here, or None while it may be alive."""
    if run.host == host and not pid_running(run.pid):
        return group_rule(session, run), "journal lost"
    if run.lease_expires_at + GRACE_LEASES * lease <= now:
        return group_rule(session, run), "lease expired"
    return None


def recover(
    session: Session, settings: Settings, now: datetime, *, here_only: bool = False
) -> Repaired:
    """Repair every stopped run this host can judge, committing each on its own. With
    ``here_only`` (a batch starting), only runs whose journal is here and unlocked."""
    total = Repaired()
    paths = journal.journal_paths(settings.journal_dir)
    over = {run_id: t for run_id, path in paths.items() if (t := journal.take(path))}
    if here_only and not over:
        return total
    lease, host = lease_of(settings), socket.gethostname()
    try:
        query = select(SendRun)
        runs = session.scalars(query.where(SendRun.id.in_(over)) if here_only else query).all()
        for run in runs:
            taken = over.get(run.id)
            if taken is not None:
                entries = taken.entries
                if entries is not None and entries.same_boot:
                    judged = replay(session, entries, now), "journal"
                else:
                    judged = group_rule(session, run), "journal from before a restart"
            elif run.id in paths or here_only:
                continue  # its journal is here and locked: its process is alive
            elif (judged_or_none := _judge(session, run, now, lease, host)) is not None:
                judged = judged_or_none
            elif run.lease_expires_at <= now:
                waiting = Repaired(waiting=[run.id])
                if run.stopped_seen_at is None:
                    waiting.requeued = _requeue_carried(session, run.delivery_ids)
                    run.stopped_seen_at = now
                    session.commit()
                total.add(waiting)
                continue
            else:
                continue
            _finish(session, run, judged[0], judged[1], now)
            session.commit()
            total.add(judged[0])
            if taken is not None:
                del over[run.id]
                taken.discard()
        # Journals with no run: the run committed nothing, ended between deleting its row
        # and its journal, or the group rule gave it up elsewhere (its rows are sharpened).
        for run_id in list(over):
            taken = over[run_id]
            if taken.entries is not None and taken.entries.same_boot:
                total.add(replay(session, taken.entries, now))
                session.commit()
            del over[run_id]
            taken.discard()
    except BaseException:
        session.rollback()
        raise
    finally:
        for taken in over.values():
            taken.release()
    return total


def stopped_runs(session: Session, issue_id: int, now: datetime) -> list[SendRun]:
    """The issue's runs whose lease has expired: stopped, or cut off from the database."""
    return list(
        session.scalars(
            select(SendRun).where(SendRun.issue_id == issue_id, SendRun.lease_expires_at <= now)
        )
    )


def waiting_rows(session: Session, runs: list[SendRun]) -> int:
    """Rows those runs hold (claimed), and until a reconciler has seen them stopped, the
    rows still waiting in their batches (handed back to the queue when it does)."""
    count = 0
    for run in runs:
        held: ColumnElement[bool] = (Delivery.status == S.SENDING) & (Delivery.run_id == run.id)
        if run.stopped_seen_at is None:
            held = or_(held, Delivery.status == S.QUEUED)
        query = select(func.count()).where(Delivery.id.in_(run.delivery_ids), held)
        count += int(session.scalar(query) or 0)
    return count


def next_check(runs: list[SendRun], interval: timedelta, now: datetime) -> datetime:
    """When the reconciler looks again: an interval after it first saw a run stopped
    (or after the lease expired, if none has looked yet)."""
    seen = [run.stopped_seen_at or run.lease_expires_at for run in runs]
    return max(now, min(seen) + interval) if seen else now + interval
