"""Handing queued rows to the broker, a page at a time, each page marked before it goes.

Marking first (and committing) means a page the broker then loses is seen by
the reconciler once ``ENQUEUE_LEASE`` has passed; a page handed over twice is
harmless, because only one claim per row can succeed.
"""

from __future__ import annotations

from datetime import datetime

from mailer.db import Database
from mailer.queue import enqueue
from mailer.sending import ledger


def queue_issue(
    db: Database,
    issue_id: int,
    now: datetime,
    *,
    page_size: int,
    stale_only: bool = False,
) -> int:
    queued = 0
    after = 0
    while True:
        with db.session() as session:
            ids = ledger.queued_page(session, issue_id, after, page_size, now, stale_only)
            if not ids:
                return queued
            ledger.mark_enqueued(session, ids)
            enqueue(session, "mailer.send_batch", issue_id, ids)
            session.commit()
        queued += len(ids)
        after = ids[-1]
