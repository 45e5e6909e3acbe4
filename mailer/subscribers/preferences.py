"""A reader's own choices after signup: name, language and topics (the preferences page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from mailer.events import record_event
from mailer.subscribers.consent import RequestContext, record_consent
from mailer.subscribers.models import Subscription
from mailer.subscribers.signup_requests import parse_signup
from mailer.subscribers.subscriptions import SubscriptionNotFound


@dataclass(frozen=True)
class Preferences:
    name: str
    language: str
    topics: tuple[str, ...]


def parse_preferences(data: dict[str, Any], allowed_topics: tuple[str, ...]) -> Preferences:
    """The same field rules as signup, without email and consent."""
    probe = {**data, "email": "probe@example.org", "consent": "on", "consent_version": ""}
    signup = parse_signup(probe, allowed_topics)
    return Preferences(name=signup.name, language=signup.language, topics=signup.topics)


def update_preferences(
    session: Session, subscription_id: int, prefs: Preferences, ctx: RequestContext
) -> Subscription:
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise SubscriptionNotFound("no such subscription")
    subscriber = subscription.subscriber
    subscriber.name = prefs.name
    subscriber.language = prefs.language
    subscription.topics = list(prefs.topics)
    record_consent(session, subscription, "preferences", ctx)
    record_event(
        session,
        "preferences",
        subscription_id=subscription.id,
        data={"topics": list(prefs.topics), "language": prefs.language},
    )
    return subscription
