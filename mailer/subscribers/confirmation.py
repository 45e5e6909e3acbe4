"""The double opt-in mail."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.events import record_event
from mailer.subscribers.models import Subscription
from mailer.subscribers.reader_mail import mail_reader
from mailer.subscribers.states import SubscriptionStatus
from mailer.tokens import Purpose, Tokens


def send_confirmation_mail(
    session: Session, settings: Settings, tokens: Tokens, subscription_id: int
) -> bool:
    """Send the confirmation link if the subscription still waits for one; False if not."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.status != SubscriptionStatus.PENDING:
        return False
    mail_reader(settings, tokens, subscription, "confirm", {"confirm_url": Purpose.CONFIRM})
    record_event(session, "confirmation.sent", subscription_id=subscription_id)
    session.commit()
    return True
