"""A reader's "send me my data": a mail with a signed link, valid 7 days, to a JSON export.

The link goes to the address on file, never to the browser that asked, so holding a
preferences link is not enough to read someone's data.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.events import Event, record_event
from mailer.queue import enqueue
from mailer.subscribers.models import Subscription
from mailer.subscribers.reader_mail import mail_reader
from mailer.tokens import Purpose, Tokens

# One export mail per reader within this time, however often the button is pressed.
EXPORT_REQUEST_INTERVAL = timedelta(minutes=10)


def request_export(session: Session, subscription_id: int, now: datetime) -> bool:
    """Record the request; True if the mail with the link leaves after the commit."""
    if session.get(Subscription, subscription_id) is None:
        return False
    recent = session.scalar(
        select(Event.id)
        .where(
            Event.subscription_id == subscription_id,
            Event.kind == "export.requested",
            Event.created_at > now - EXPORT_REQUEST_INTERVAL,
        )
        .limit(1)
    )
    if recent is not None:
        return False
    record_event(session, "export.requested", subscription_id=subscription_id)
    enqueue(session, "mailer.send_data_export", subscription_id)
    session.flush()
    return True


def send_export_mail(
    session: Session, settings: Settings, tokens: Tokens, subscription_id: int
) -> bool:
    """Mail the download link to the reader's address; False if the reader is gone."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        return False
    mail_reader(settings, tokens, subscription, "data_export", {"export_url": Purpose.EXPORT})
    # No event after the send: "export.requested" is the record, and a row written now
    # would be missing from an export downloaded the moment the mail arrives.
    return True
