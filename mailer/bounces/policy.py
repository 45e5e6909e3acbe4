"""What a matched report does to the reader (issue 11, MAILER_BOUNCE_* settings):

- hard (5.x.x but not 5.7.x): the reader is ``bounced`` at once and suppressed;
- soft (``delayed``, or ``failed`` with 4.x.x): scores MAILER_BOUNCE_SOFT_SCORE, at most
  once a day; scores older than MAILER_BOUNCE_WINDOW_DAYS expire; reaching
  MAILER_BOUNCE_THRESHOLD makes the reader ``bounced``;
- policy (5.7.x, "blocked", "spam"): about us, not the reader: it counts toward the
  sender-reputation alert on the dashboard, never against the reader;
- complaint (Feedback-Type: abuse): ``complained``, unsubscribed and suppressed at once.

Every change is an event naming the report, shown on the reader's admin page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailer.bounces.matching import Match
from mailer.bounces.models import BounceReport
from mailer.bounces.parsing import KIND_COMPLAINT, KIND_HARD, KIND_POLICY, KIND_SOFT
from mailer.bounces.reactivation import REACTIVATED
from mailer.config_bounces import BounceSettings
from mailer.events import Event, record_event
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.states import SubscriptionStatus, can_become
from mailer.subscribers.suppression import suppress_address


@dataclass(frozen=True)
class Verdict:
    kind: str
    changed_to: str | None = None  # the reader's new status, if any
    score: float | None = None


def soft_score(
    session: Session, settings: BounceSettings, subscription_id: int, now: datetime
) -> float:
    """The reader's score: one soft bounce a day at most, none older than the window, none
    from before an editor last reactivated the reader."""
    since = now - timedelta(days=settings.window_days)
    reactivated = session.scalar(
        select(Event.created_at)
        .where(Event.subscription_id == subscription_id, Event.kind == REACTIVATED)
        .order_by(Event.id.desc())
        .limit(1)
    )
    if reactivated is not None and reactivated > since:
        since = reactivated
    received = session.scalars(
        select(BounceReport.received_at).where(
            BounceReport.subscription_id == subscription_id,
            BounceReport.kind == KIND_SOFT,
            BounceReport.received_at >= since,
        )
    ).all()
    return len({r.date() for r in received}) * settings.soft_score


def _leave(
    session: Session,
    subscription: Subscription,
    target: SubscriptionStatus,
    secret_key: str,
    now: datetime,
) -> bool:
    email = session.scalar(
        select(Subscriber.email).where(Subscriber.id == subscription.subscriber_id)
    )
    if email:
        suppress_address(session, email, secret_key, str(target))
    if not can_become(subscription.status, target):
        return False
    subscription.status = target
    if target == SubscriptionStatus.COMPLAINED:
        subscription.unsubscribed_at = now
    return True


def apply_policy(
    session: Session,
    settings: BounceSettings,
    secret_key: str,
    report: BounceReport,
    kind: str,
    match: Match,
    now: datetime,
) -> Verdict:
    """Judge one matched report (already stored with its kind); the caller commits."""
    subscription = session.get(Subscription, match.subscription_id)
    if subscription is None:
        return Verdict(kind)
    event = {"report_id": report.id, "match": match.by, **report.detail}
    common = {"subscription_id": subscription.id, "issue_id": match.issue_id}
    if kind == KIND_POLICY:
        record_event(session, "bounce.policy", **common, data=event)
        return Verdict(kind)
    if kind == KIND_COMPLAINT:
        changed = _leave(session, subscription, SubscriptionStatus.COMPLAINED, secret_key, now)
        # A reader who had already left: the report is noted, the status stays.
        kind_name = "subscription.complained" if changed else "bounce.complaint"
        record_event(session, kind_name, **common, data=event)
        return Verdict(kind, SubscriptionStatus.COMPLAINED if changed else None)
    if kind == KIND_HARD:
        if match.delivery_id is not None:
            # The server had taken the mail (sent); the report says it never arrived.
            session.execute(
                update(Delivery)
                .where(Delivery.id == match.delivery_id, Delivery.status == DeliveryStatus.SENT)
                .values(status=DeliveryStatus.BOUNCED, last_error=report.detail.get("status"))
            )
        changed = _leave(session, subscription, SubscriptionStatus.BOUNCED, secret_key, now)
        kind_name = "subscription.bounced" if changed else "bounce.hard"
        record_event(session, kind_name, **common, data={**event, "reason": "hard"})
        return Verdict(kind, SubscriptionStatus.BOUNCED if changed else None)
    if kind == KIND_SOFT:
        session.flush()
        score = soft_score(session, settings, subscription.id, now)
        record_event(session, "bounce.soft", **common, data={**event, "score": score})
        if score >= settings.threshold:
            changed = _leave(session, subscription, SubscriptionStatus.BOUNCED, secret_key, now)
            if changed:
                record_event(
                    session,
                    "subscription.bounced",
                    **common,
                    data={**event, "reason": "score", "score": score},
                )
            return Verdict(kind, SubscriptionStatus.BOUNCED if changed else None, score)
        return Verdict(kind, None, score)
    return Verdict(kind)
