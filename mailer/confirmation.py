"""The double opt-in mail."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.email_templates import render_email
from mailer.messages import make_template
from mailer.models import Subscription, record_event
from mailer.smtp import SMTPConnection
from mailer.tokens import Purpose, Tokens


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
    message = make_template(
        from_name=settings.from_name or subscription.newsletter.name,
        from_address=settings.from_address,
        subject=rendered.subject,
        text=rendered.text,
        html_body=rendered.html,
    ).personalise(to_name=subscriber.name, to_address=subscriber.email, values={})
    with SMTPConnection(settings) as smtp:
        smtp.send(message)
    record_event(session, "confirmation.sent", subscription_id=subscription_id)
    session.commit()
    return True
