"""One batch of an issue over one SMTP connection: claim a group, send it, record it.

The issue is compiled once per language (templates, CSS, header encoding); a
recipient costs a few string substitutions and a quoted-printable pass. The
database work is grouped: one UPDATE claims ``COMMIT_GROUP`` rows, one
executemany records them. What happens in between is noted in the run's journal
(mailer/sending/runs.py, journal.py), so a crash leaves in doubt only the mail whose
content the server had and had not answered: at most one per connection.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from mailer.config import Settings
from mailer.db import utcnow
from mailer.events import record_event
from mailer.i18n import DEFAULT_LANGUAGE
from mailer.issues.models import Issue, IssueArticle
from mailer.issues.states import IssueStatus
from mailer.mail.messages import Outgoing
from mailer.mail.smtp import (
    InDoubtSMTPError,
    PermanentSMTPError,
    SMTPConnection,
    SMTPFailure,
    TemporarySMTPError,
)
from mailer.queue import enqueue
from mailer.sending import claims, ledger, runs
from mailer.sending.claims import Outcome, Recipient
from mailer.sending.copies import CompiledDigest, compiled_digest, personal_copy
from mailer.sending.journal import Journal
from mailer.sending.models import Delivery
from mailer.sending.pacing import RateLimiter, Unlimited, may_announce
from mailer.sending.states import DeliveryStatus
from mailer.tokens import Tokens

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# Rows claimed and recorded per transaction: the most a crash can leave in doubt per SMTP
# connection when the run's journal is lost with the machine. 10 spent ~20 % of a
# connection's time on the database (bench/send.py, PostgreSQL); 20 halves that.
COMMIT_GROUP = 20
MAX_CONSECUTIVE_FAILURES = 20
MAX_ATTEMPTS = 8
RETRY_WINDOW = timedelta(hours=24)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)

_ENHANCED_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")


def enhanced_status(text: str) -> tuple[int, int, int] | None:
    match = _ENHANCED_STATUS.match(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential, capped, with full jitter so that many rows do not retry in lockstep."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    factor = (rng or random).uniform(0.5, 1.0)
    return ceiling * factor


def batches(ids: list[int], size: int = BATCH_SIZE) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    in_doubt: int = 0
    requeued: int = 0
    skipped: int = 0
    paused: str | None = None
    # SMTP errors by class (mailer.metrics.SMTP_ERROR_CLASSES), for the metrics.
    smtp_errors: Counter[str] = field(default_factory=Counter)


class _Stop(Exception):
    """Ends the batch: the issue was paused, or the SMTP server is unreachable."""


def _retry_outcome(
    recipient: Recipient, issue: Issue, error: SMTPFailure, now: datetime
) -> Outcome:
    started = issue.send_requested_at or now
    if recipient.attempts >= MAX_ATTEMPTS or now - started > RETRY_WINDOW:
        return Outcome(recipient.delivery_id, DeliveryStatus.FAILED, f"gave up: {error}")
    return Outcome(
        recipient.delivery_id,
        DeliveryStatus.QUEUED,
        str(error),
        next_attempt_at=now + backoff(recipient.attempts),
    )


def send_batch(
    session: Session,
    settings: Settings,
    tokens: Tokens,
    issue_id: int,
    delivery_ids: list[int],
    *,
    limiter: RateLimiter | None = None,
    connection_factory: Callable[[Settings], SMTPConnection] = SMTPConnection,
    clock: Callable[[], datetime] = utcnow,
) -> BatchResult:
    limiter = limiter or Unlimited()
    result = BatchResult()
    issue = session.scalar(
        select(Issue)
        .where(Issue.id == issue_id)
        .options(
            selectinload(Issue.items).selectinload(IssueArticle.article),
            # Compiling reads the newsletter; loaded now, not lazily in the middle of the
            # first group's SMTP conversation (which would hold a transaction open).
            selectinload(Issue.newsletter),
        )
    )
    if issue is None:
        raise ledger.IssueNotFound(f"no issue with id {issue_id}")
    if issue.status != IssueStatus.SENDING:
        return result
    failures_in_row = 0
    lease_lost = False
    # The next reader's copy is made while the server takes in the current one (the
    # SMTP connection calls prepare_ahead between the last byte of a mail and the reply).
    ready: dict[int, Outgoing | None | Exception] = {}

    # Looked up once per language and batch, not per reader (the process-wide cache's
    # key hashes the issue's content).
    by_language: dict[str, CompiledDigest] = {}

    def prepare(recipient: Recipient) -> Outgoing | None:
        language = recipient.language or DEFAULT_LANGUAGE
        if language not in by_language:
            by_language[language] = compiled_digest(settings, issue, language)
        return personal_copy(settings, tokens, by_language[language], recipient)

    def prepare_ahead(recipient: Recipient) -> None:
        try:
            ready[recipient.delivery_id] = prepare(recipient)
        except Exception as exc:  # raised in its turn, as if made then
            ready[recipient.delivery_id] = exc

    # Its owner and lease (a row committed with the first claim) and its journal; a batch
    # that fails leaves both for the reconciler, one that ends removes them.
    run = runs.Run(session, settings, issue_id, delivery_ids, clock())
    with run, connection_factory(settings) as smtp:
        for group in batches(delivery_ids, COMMIT_GROUP):
            claim = claims.claim(session, issue_id, group, clock(), run.id)
            result.skipped += claim.skipped
            if not claim.issue_sending:
                break
            outcomes: list[Outcome] = []
            suppress: list[int] = []
            stop: str | None = None
            recipients = claim.recipients
            ready.clear()
            for index, recipient in enumerate(recipients):
                now = clock()
                if stop:
                    # Claimed but not tried: back to the queue as it was (at once when
                    # this worker lost its lease: nothing is wrong with the server).
                    outcomes.append(
                        Outcome(
                            recipient.delivery_id,
                            DeliveryStatus.QUEUED,
                            stop,
                            next_attempt_at=None if lease_lost else now + BACKOFF_BASE,
                        )
                    )
                    continue
                if recipient.delivery_id in ready:
                    made = ready.pop(recipient.delivery_id)
                    if isinstance(made, Exception):
                        raise made
                    message = made
                else:
                    message = prepare(recipient)
                if message is None:
                    outcomes.append(
                        Outcome(
                            recipient.delivery_id,
                            DeliveryStatus.SKIPPED,
                            "nothing new in the reader's topics",
                        )
                    )
                    result.skipped += 1
                    continue
                following = recipients[index + 1] if index + 1 < len(recipients) else None
                # With PIPELINING the next mail's envelope goes right behind this one's
                # content, so the next mail is made before this one is sent; the one after
                # it is made while the server answers.
                next_message: Outgoing | None = None
                if following is not None and smtp.pipelining and may_announce(settings):
                    if following.delivery_id not in ready:
                        prepare_ahead(following)
                    made_next = ready[following.delivery_id]
                    next_message = made_next if isinstance(made_next, Outgoing) else None
                ahead = next(
                    (r for r in recipients[index + 1 : index + 3] if r.delivery_id not in ready),
                    None,
                )
                limiter.acquire()
                if not run.keep(clock()):
                    # The run was given up elsewhere (its lease ran out): send no more.
                    stop = "this worker lost its lease; the reconciler has its rows"
                    lease_lost = True
                    outcomes.append(Outcome(recipient.delivery_id, DeliveryStatus.QUEUED, stop))
                    continue
                try:
                    _send_noted(
                        smtp,
                        run.journal,
                        recipient.delivery_id,
                        message,
                        meanwhile=partial(prepare_ahead, ahead) if ahead else None,
                        following=next_message,
                    )
                except TemporarySMTPError as exc:
                    failures_in_row += 1
                    outcomes.append(_retry_outcome(recipient, issue, exc, now))
                    result.requeued += outcomes[-1].status == DeliveryStatus.QUEUED
                    result.failed += outcomes[-1].status == DeliveryStatus.FAILED
                    if exc.code in (None, 421):
                        stop = f"SMTP server unavailable: {exc}"
                    result.smtp_errors["unavailable" if stop else "temporary"] += 1
                except PermanentSMTPError as exc:
                    failures_in_row += 1
                    status = enhanced_status(exc.text)
                    policy = bool(status and status[1] == 7)
                    result.smtp_errors["policy" if policy else "permanent"] += 1
                    if policy:
                        # Policy (5.7.x): the server refuses *us*, not the reader. Keep the
                        # reader, put the row back and stop the issue for an editor to look.
                        outcomes.append(
                            Outcome(recipient.delivery_id, DeliveryStatus.QUEUED, str(exc))
                        )
                        result.requeued += 1
                        stop = f"the SMTP server refused the send by policy: {exc}"
                        result.paused = stop
                        continue
                    if status and status[1] == 1:
                        suppress.append(recipient.subscription_id)
                    outcomes.append(Outcome(recipient.delivery_id, DeliveryStatus.FAILED, str(exc)))
                    result.failed += 1
                    log.info("refused for good: %s", exc, extra=_ids(issue_id, recipient))
                except InDoubtSMTPError as exc:
                    failures_in_row += 1
                    result.smtp_errors["in_doubt"] += 1
                    log.warning("in doubt: %s", exc, extra=_ids(issue_id, recipient))
                    outcomes.append(
                        Outcome(
                            recipient.delivery_id,
                            DeliveryStatus.IN_DOUBT,
                            str(exc),
                            message_id=message.message_id,
                        )
                    )
                    result.in_doubt += 1
                else:
                    failures_in_row = 0
                    outcomes.append(
                        Outcome(
                            recipient.delivery_id,
                            DeliveryStatus.SENT,
                            message_id=message.message_id,
                        )
                    )
                    result.sent += 1
                if not stop and failures_in_row >= MAX_CONSECUTIVE_FAILURES:
                    stop = f"{failures_in_row} failures in a row, the last: {outcomes[-1].error}"
                    result.paused = stop
            # Committed by the next group's claim, by the pause or release below, or by
            # the commit after the loop: never left open while SMTP talks.
            claims.record(session, outcomes, clock(), suppress, run_id=run.id, commit=False)
            if result.paused:
                ledger.pause(session, issue_id, reason=result.paused)
                record_event(
                    session, "issue.auto_paused", issue_id=issue_id, data={"reason": result.paused}
                )
                enqueue(session, "mailer.notify_paused", issue_id)
                session.commit()
            if stop:
                if not result.paused:
                    pause = timedelta(0) if lease_lost else BACKOFF_BASE
                    _release_rest(session, delivery_ids, group, clock() + pause)
                break
        # The last group's results, before the connection is closed (QUIT talks SMTP).
        session.commit()
    if lease_lost:
        # The untried rows go to the broker now, and on sending again if the issue was
        # closed meanwhile without them.
        ledger.reopen_for_returned_rows(session, issue_id)
        enqueue(session, "mailer.dispatch", issue_id)
    ledger.finish_if_done(session, issue_id)
    session.commit()
    return result


def _ids(issue_id: int, recipient: Recipient) -> dict[str, int]:
    """The ids a log line about one mail carries (one JSON field each with
    MAILER_LOG_FORMAT=json)."""
    return {"issue_id": issue_id, "delivery_id": recipient.delivery_id}


def _send_noted(
    smtp: SMTPConnection,
    journal: Journal,
    delivery_id: int,
    message: Outgoing,
    meanwhile: Callable[[], None] | None,
    following: Outgoing | None = None,
) -> None:
    """Send one mail, the journal told just before its content goes out and of the server's
    answer: after a crash, only a mail whose content went out unanswered is in doubt (one
    per connection, pipelined or not: a pipelined flight carries the next mail's envelope,
    never its content)."""
    try:
        smtp.send(
            message,
            meanwhile=meanwhile,
            before_data=lambda: journal.started(delivery_id, message.message_id),
            following=following,
        )
    except SMTPFailure as exc:
        if exc.code and journal.open_id == delivery_id:
            journal.answered(delivery_id, exc.code)
        raise
    journal.answered(delivery_id, 250)


def _release_rest(
    session: Session, delivery_ids: list[int], last_group: list[int], not_before: datetime
) -> None:
    """The server is down: let the reconciler pick the untried rows up after a pause."""
    rest = delivery_ids[delivery_ids.index(last_group[-1]) + 1 :]
    if rest:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(rest), Delivery.status == DeliveryStatus.QUEUED)
            .values(enqueued_at=None, next_attempt_at=not_before)
        )
        session.commit()
