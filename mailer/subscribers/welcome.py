"""The welcome mail an admin can switch on: sent once, when a reader confirms.

Its subject and text are the admin's (mailer/site), in the reader's language (the English
ones fall back to the Norwegian when empty), shown as text, never run as a template; the
links under them (archive, preferences, unsubscribe) are the template's.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.events import record_event
from mailer.subscribers.models import Subscription
from mailer.subscribers.reader_mail import mail_reader
from mailer.subscribers.states import SubscriptionStatus
from mailer.tokens import Purpose, Tokens


def send_welcome_mail(
    session: Session, settings: Settings, tokens: Tokens, subscription_id: int
) -> bool:
    """Send it if it is on and the reader is still subscribed; False if not (a reader who
    left before the task ran gets nothing)."""
    site = settings.site
    subscription = session.get(Subscription, subscription_id)
    if (
        not site.welcome_enabled
        or subscription is None
        or subscription.status != SubscriptionStatus.ACTIVE
    ):
        return False
    mail_reader(
        settings,
        tokens,
        subscription,
        "welcome",
        {"unsubscribe_url": Purpose.UNSUBSCRIBE},
        welcome_subject=site.text("welcome_subject", subscription.subscriber.language),
        welcome_body=site.text("welcome_body", subscription.subscriber.language),
        archive_url=f"{settings.base_url}/archive",
    )
    record_event(session, "welcome.sent", subscription_id=subscription_id)
    session.commit()
    return True
