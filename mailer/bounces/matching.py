"""Which delivery a report is about (DECISIONS.md, "Bounces and complaints"):

1. a signed VERP address; a VERP address whose signature fails matches nothing, and
   nothing else is tried (a forged bounce changes nothing);
2. else a Message-ID we generated and recorded on a delivery, in the returned headers;
3. else, for authenticated provider webhooks only, the recipient address.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.bounces.parsing import ParsedReport
from mailer.sending.models import Delivery
from mailer.subscribers.models import Subscriber, Subscription
from mailer.tokens import InvalidToken, Purpose, Tokens

BY_VERP = "verp"
BY_MESSAGE_ID = "message-id"
BY_RECIPIENT = "recipient"
FORGED = "forged-verp"


@dataclass(frozen=True)
class Match:
    delivery_id: int | None
    subscription_id: int
    issue_id: int | None
    by: str


@dataclass(frozen=True)
class NoMatch:
    reason: str  # forged-verp, unknown


def _delivery(session: Session, delivery_id: int, by: str) -> Match | None:
    row = session.execute(
        select(Delivery.id, Delivery.subscription_id, Delivery.issue_id).where(
            Delivery.id == delivery_id
        )
    ).first()
    return Match(row[0], row[1], row[2], by) if row else None


def match_report(
    session: Session, tokens: Tokens, report: ParsedReport, *, authenticated: bool = False
) -> Match | NoMatch:
    if report.verp_tokens:
        for token in report.verp_tokens:
            try:
                delivery_id = tokens.read_short(Purpose.BOUNCE, token)
            except InvalidToken:
                continue
            found = _delivery(session, delivery_id, BY_VERP)
            if found:
                return found
        return NoMatch(FORGED)
    for message_id in report.message_ids[:5]:
        by_id = session.scalar(
            select(Delivery.id).where(Delivery.message_id == message_id).limit(1)
        )
        if by_id is not None:
            found = _delivery(session, by_id, BY_MESSAGE_ID)
            if found:
                return found
    if authenticated:
        for address in report.recipients[:5]:
            found = _by_recipient(session, address)
            if found:
                return found
    return NoMatch("unknown")


def _by_recipient(session: Session, address: str) -> Match | None:
    subscription_id = session.scalar(
        select(Subscription.id)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(func.lower(Subscriber.email) == address.strip().lower())
        .order_by(Subscription.id)
        .limit(1)
    )
    if subscription_id is None:
        return None
    last = session.execute(
        select(Delivery.id, Delivery.issue_id)
        .where(Delivery.subscription_id == subscription_id, Delivery.sent_at.is_not(None))
        .order_by(Delivery.sent_at.desc())
        .limit(1)
    ).first()
    return Match(
        last[0] if last else None, subscription_id, last[1] if last else None, BY_RECIPIENT
    )
