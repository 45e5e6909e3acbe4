"""The send lifecycle as every front end (CLI, admin, JSON API) uses it: start, pause,
resume, cancel, resend. Each takes the caller's session and does not commit; the tasks an
action needs (start the send, hand rows to the broker) leave after the caller's commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.db import Database
from mailer.errors import ValidationFailed
from mailer.issues.editing import NO_ARTICLES
from mailer.sending import dispatch, ledger, recovery, redelivery
from mailer.sending.batch import BATCH_SIZE
from mailer.sending.states import DeliveryStatus

RESENDABLE = (DeliveryStatus.IN_DOUBT, DeliveryStatus.FAILED)


def start(session: Session, issue_id: int) -> bool:
    """True when this call started the send; False when it was started before (or the
    issue can no longer be sent). An issue without articles is never sent."""
    issue = ledger.get_issue(session, issue_id)
    if not issue.items:
        raise ValidationFailed({"article_ids": NO_ARTICLES})
    return ledger.request_send(session, issue_id)


def pause(session: Session, issue_id: int) -> bool:
    return ledger.pause(session, issue_id)


def resume(session: Session, issue_id: int) -> bool:
    return ledger.resume(session, issue_id)


def cancel(session: Session, issue_id: int) -> bool:
    return ledger.cancel(session, issue_id)


def resend(session: Session, issue_id: int, which: str = DeliveryStatus.IN_DOUBT) -> int:
    """Queue the in-doubt (or failed) rows again: an editor's decision (some readers of
    in-doubt rows may get two copies). Raises TransitionRefused when nothing can be resent."""
    if which not in RESENDABLE:
        raise ValueError(f"only {' or '.join(RESENDABLE)} rows are resent, not {which}")
    if which == DeliveryStatus.IN_DOUBT:
        return ledger.resend_in_doubt(session, issue_id)
    return redelivery.resend_failed(session, issue_id)


def reconcile(db: Database, settings: Settings, now: datetime) -> recovery.Repaired:
    """The reconciler (beat, a worker's start, `mailer digest reconcile`): repair what
    stopped workers left, restart lost start tasks, close finished issues, and hand the
    queued rows no broker message carries to the broker again. Commits as it goes."""
    with db.session() as session:
        repaired = recovery.recover(session, settings, now)
        sending_ids = ledger.reconcile(session, now)
        session.commit()
    for issue_id in sending_ids:
        dispatch.queue_issue(db, issue_id, now, page_size=BATCH_SIZE, stale_only=True)
    return repaired
