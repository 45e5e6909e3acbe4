"""The double opt-in mail."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.email_templates import render_email
from mailer.models import Subscription, record_event
from mailer.tokens import Purpose, Tokens
from mailer.transactional import send_rendered


def confirm_url(settings: Settings, tokens: Tokens, subscription_id: int) -> str:
    return f"{settings.base_url}/confirm/{tokens.make(Purpose.CONFIRM, subscription_id)}"


def preferences_url(settings: Settings, tokens: Tokens, subscription_id: int) -> str:
    return f"{settings.base_url}/preferences/{tokens.make(Purpose.PREFERENCES, subscription_id)}"


def send_confirmation_mail(
    session: Session, settings: Settings, tokens: Tokens, subscription_id: int
) -> bool:
    """Send the confirmation link if the subscription still waits for one; False if not."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.status != "pending":
        return False
    subscriber = subscription.subscriber
    language = subscriber.language
    rendered = render_email(
        "confirm",
        language,
        name=subscriber.name,
        newsletter_name=subscription.newsletter.name,
        confirm_url=confirm_url(settings, tokens, subscription_id),
        preferences_url=preferences_url(settings, tokens, subscription_id),
    )
    send_rendered(
        settings,
        rendered,
        subscription.newsletter.name,
        [(subscriber.name, subscriber.email)],
    )
    record_event(session, "confirmation.sent", subscription_id=subscription_id)
    session.commit()
    return True
