"""One copy of an issue outside the ledger: the exact bytes a reader would get, or a test mail."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.errors import ValidationFailed
from mailer.events import record_event
from mailer.mail.dkim import signed
from mailer.mail.messages import Outgoing
from mailer.mail.smtp import SMTPConnection
from mailer.sending.claims import Recipient
from mailer.sending.copies import compiled_digest, personal_copy
from mailer.sending.ledger import get_issue
from mailer.sending.models import Delivery
from mailer.subscribers.addresses import normalise_email
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.subscriptions import default_newsletter
from mailer.tokens import Tokens


class NothingToPreview(ValueError):
    pass


def preview_for(
    session: Session, settings: Settings, tokens: Tokens, issue_id: int, address: str
) -> Outgoing:
    """What this subscriber would receive (their name, language, topics and links)."""
    issue = get_issue(session, issue_id)
    email = normalise_email(address, "en")
    row = session.execute(
        select(Subscription, Subscriber)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscriber.email == email, Subscription.newsletter_id == issue.newsletter_id)
    ).first()
    if row is None:
        raise ValidationFailed({"as": f"{email} is not a subscriber"})
    subscription, subscriber = row
    delivery_id = session.scalar(
        select(Delivery.id).where(
            Delivery.issue_id == issue_id, Delivery.subscription_id == subscription.id
        )
    )
    recipient = Recipient(
        delivery_id=delivery_id or 0,
        subscription_id=subscription.id,
        link_secret=subscription.link_secret,
        email=subscriber.email,
        name=subscriber.name,
        language=subscriber.language,
        attempts=0,
        topics=list(subscription.topics or []),
    )
    message = personal_copy(
        settings, tokens, compiled_digest(settings, issue, subscriber.language), recipient
    )
    if message is None:
        raise NothingToPreview(f"{email} would get no mail: nothing in their topics")
    return signed(settings, message)


def send_test(
    session: Session,
    settings: Settings,
    tokens: Tokens,
    issue_id: int,
    address: str,
    language: str | None = None,
) -> Outgoing:
    """One copy with «[TEST]» in the subject to any address; the ledger is not touched."""
    issue = get_issue(session, issue_id)
    email = normalise_email(address, "en")
    recipient = Recipient(
        delivery_id=0,
        # Its links lead to the "invalid link" page, never to a reader: no row has id 0,
        # and no row's secret is empty.
        subscription_id=0,
        link_secret="",
        email=email,
        name="",
        language=language or issue.language or default_newsletter(session).language,
        attempts=0,
        topics=[],
    )
    compiled = compiled_digest(settings, issue, recipient.language, test=True)
    message = personal_copy(settings, tokens, compiled, recipient)
    if message is None:
        raise NothingToPreview(f"issue {issue_id} has no articles")
    with SMTPConnection(settings) as smtp:
        smtp.send(message)
    record_event(session, "issue.test_sent", issue_id=issue_id, data={"to": email})
    session.commit()
    return message
