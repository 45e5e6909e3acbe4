"""One-off mails (confirmation, data export, editor notices): rendered once, sent at once."""

from __future__ import annotations

from mailer.config import Settings
from mailer.mail.messages import make_template
from mailer.mail.smtp import SMTPConnection
from mailer.mail.templates import RenderedEmail


def send_rendered(
    settings: Settings,
    rendered: RenderedEmail,
    sender_name: str,
    recipients: list[tuple[str, str]],
    smtp: SMTPConnection | None = None,
) -> None:
    """Send one rendered mail to each (name, address) over one connection: ``smtp`` (the
    caller's, kept open for its next mail) or one opened and closed here."""
    template = make_template(
        from_name=settings.from_name or sender_name,
        from_address=settings.from_address,
        subject=rendered.subject,
        text=rendered.text,
        html_body=rendered.html,
    )
    connection = smtp if smtp is not None else SMTPConnection(settings)
    try:
        for name, address in recipients:
            connection.send(template.personalise(to_name=name, to_address=address, values={}))
    finally:
        if smtp is None:
            connection.close()
