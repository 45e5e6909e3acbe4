"""A send run: one batch sent by one worker process, with its owner, lease and journal.

The run's row (``send_run``) names its owner (host, pid, a random id per process) and
carries a lease that the sender renews, checked before each mail, every quarter of
MAILER_CLAIM_LEASE_SECONDS; its journal (mailer/sending/journal.py) holds what the
database is not told per mail. A run that ends normally deletes both. What a stopped run
left is repaired by mailer/sending/recovery.py.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.db import rowcount
from mailer.sending.journal import Journal
from mailer.sending.models import SendRun

# The lease is renewed when this much of it is used up, so a live sender's lease always
# has three quarters or more left when it starts a mail.
RENEW_AFTER = 0.25


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    process_id: str


_owner: Owner | None = None
_run_numbers = itertools.count(1)


def this_process() -> Owner:
    """This process as an owner; a new random id after a fork (a pool child)."""
    global _owner
    if _owner is None or _owner.pid != os.getpid():
        _owner = Owner(socket.gethostname(), os.getpid(), secrets.token_hex(8))
    return _owner


def lease_of(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.claim_lease_seconds)


class Run:
    """The live side of a run, used as a context manager around the batch. Its row is
    inserted in the session's transaction, which the first claim commits."""

    def __init__(
        self, session: Session, settings: Settings, issue_id: int, ids: list[int], now: datetime
    ) -> None:
        owner = this_process()
        self.id = f"{owner.process_id}-{next(_run_numbers)}"
        self.lease = lease_of(settings)
        self.session = session
        self.journal = Journal.create(settings.journal_dir, self.id, owner.host, owner.pid, ids)
        try:
            session.execute(
                insert(SendRun).values(
                    id=self.id,
                    issue_id=issue_id,
                    host=owner.host,
                    pid=owner.pid,
                    process_id=owner.process_id,
                    delivery_ids=ids,
                    started_at=now,
                    lease_expires_at=now + self.lease,
                )
            )
        except BaseException:
            self.journal.close(finished=True)
            raise
        self.renew_at = now + self.lease * RENEW_AFTER

    def keep(self, now: datetime) -> bool:
        """Before each mail: renew the lease when a quarter of it is used up. False when the
        run's row is gone (a reconciler elsewhere gave the run up): send nothing more."""
        if now < self.renew_at:
            return True
        renewed = rowcount(
            self.session.execute(
                update(SendRun)
                .where(SendRun.id == self.id)
                .values(lease_expires_at=now + self.lease, stopped_seen_at=None)
            )
        )
        self.session.commit()
        self.renew_at = now + self.lease * RENEW_AFTER
        return bool(renewed)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            # The batch failed: its row and its journal, unlocked, are left for the
            # reconciler (the next batch on this host, or the next beat, replays it).
            self.journal.close(finished=False)
            return
        # Every result is committed: the row and the journal go.
        try:
            self.session.execute(delete(SendRun).where(SendRun.id == self.id))
            self.session.commit()
        except BaseException:
            self.journal.close(finished=False)
            raise
        self.journal.close(finished=True)
