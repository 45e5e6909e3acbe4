"""A one-off mail to one reader (confirmation, data export, welcome): their language, their
name and their signed personal links."""

from __future__ import annotations

from mailer.config import Settings
from mailer.mail.links import personal_link
from mailer.mail.smtp import SMTPConnection
from mailer.mail.templates import render_email
from mailer.mail.transactional import send_rendered
from mailer.subscribers.models import Subscription
from mailer.tokens import Purpose, Tokens

# The erase page opens with the preferences link's token (mailer/web/reader/data.py).
ERASE_PATH = "erase"


def mail_reader(
    settings: Settings,
    tokens: Tokens,
    subscription: Subscription,
    template: str,
    links: dict[str, Purpose],
    smtp: SMTPConnection | None = None,
    **context: object,
) -> None:
    """A mail to one reader in their language, with their signed links (each template
    variable in ``links`` gets the link for its purpose), always the preferences link and
    the erase link ("Slett opplysningene mine"), and ``context`` for the template; over
    ``smtp`` when the caller mails many, else a connection of its own."""
    subscriber = subscription.subscriber
    urls = {
        name: personal_link(settings, tokens, purpose, subscription.id, subscription.link_secret)
        for name, purpose in {**links, "preferences_url": Purpose.PREFERENCES}.items()
    }
    token = tokens.make(Purpose.PREFERENCES, subscription.id, subscription.link_secret)
    urls["erase_url"] = f"{settings.base_url}/{ERASE_PATH}/{token}"
    rendered = render_email(
        template,
        subscriber.language,
        name=subscriber.name,
        newsletter_name=subscription.newsletter.name,
        **urls,
        **context,
    )
    send_rendered(
        settings,
        rendered,
        subscription.newsletter.name,
        [(subscriber.name, subscriber.email)],
        smtp=smtp,
    )
