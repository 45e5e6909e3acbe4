"""One-off mails (confirmation, data export, editor notices): rendered once, sent at once."""

from __future__ import annotations

from mailer.config import Settings
from mailer.mail.links import personal_link
from mailer.mail.messages import make_template
from mailer.mail.smtp import SMTPConnection
from mailer.mail.templates import RenderedEmail, render_email
from mailer.subscribers.models import Subscription
from mailer.tokens import Purpose, Tokens


def send_rendered(
    settings: Settings,
    rendered: RenderedEmail,
    sender_name: str,
    recipients: list[tuple[str, str]],
) -> None:
    """Send one rendered mail to each (name, address) over one connection."""
    template = make_template(
        from_name=settings.from_name or sender_name,
        from_address=settings.from_address,
        subject=rendered.subject,
        text=rendered.text,
        html_body=rendered.html,
    )
    with SMTPConnection(settings) as smtp:
        for name, address in recipients:
            smtp.send(template.personalise(to_name=name, to_address=address, values={}))


def mail_reader(
    settings: Settings,
    tokens: Tokens,
    subscription: Subscription,
    template: str,
    links: dict[str, Purpose],
) -> None:
    """A mail to one reader in their language, with their signed links (each template
    variable in ``links`` gets the link for its purpose) and always the preferences link."""
    subscriber = subscription.subscriber
    urls = {
        name: personal_link(settings, tokens, purpose, subscription.id, subscription.link_secret)
        for name, purpose in {**links, "preferences_url": Purpose.PREFERENCES}.items()
    }
    rendered = render_email(
        template,
        subscriber.language,
        name=subscriber.name,
        newsletter_name=subscription.newsletter.name,
        **urls,
    )
    send_rendered(
        settings, rendered, subscription.newsletter.name, [(subscriber.name, subscriber.email)]
    )
