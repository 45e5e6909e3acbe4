"""Each reader's copy of a digest: the issue compiled once per language in a process, then
personalised per reader (greeting, personal links, VERP sender). Used by the send batches
and by the previews and test sends."""

from __future__ import annotations

import dataclasses

from mailer.config import Settings
from mailer.issues.models import Issue
from mailer.issues.rendering import (
    GREETING_NAME,
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    CompiledDigest,
    compile_issue,
    content_key,
)
from mailer.mail.links import personal_link
from mailer.mail.messages import Outgoing
from mailer.sending.claims import Recipient
from mailer.tokens import Purpose, Tokens

__all__ = ["CompiledDigest", "compiled_digest", "personal_copy"]

_compiled: dict[tuple[object, ...], CompiledDigest] = {}


def compiled_digest(
    settings: Settings, issue: Issue, language: str, test: bool = False
) -> CompiledDigest:
    """Compile once per issue and language in this process: content is frozen once sending,
    and a draft's preview is compiled again after each edit (content_key)."""
    key = (issue.id, issue.created_at, language, test, content_key(issue))
    if key not in _compiled:
        if len(_compiled) > 32:
            _compiled.clear()
        _compiled[key] = compile_issue(settings, issue, language, test=test)
    return _compiled[key]


def personal_copy(
    settings: Settings,
    tokens: Tokens,
    compiled: CompiledDigest,
    recipient: Recipient,
) -> Outgoing | None:
    """This reader's mail, or None when none of the issue's articles is in their topics."""
    selection = compiled.selection(recipient.topics)
    if not selection:
        return None
    url = personal_link(
        settings, tokens, Purpose.UNSUBSCRIBE, recipient.subscription_id, recipient.link_secret
    )
    message = compiled.template_for(selection).personalise(
        to_name=recipient.name,
        to_address=recipient.email,
        values={
            GREETING_NAME: f" {recipient.name}" if recipient.name else "",
            UNSUBSCRIBE_URL: url,
            PREFERENCES_URL: personal_link(
                settings,
                tokens,
                Purpose.PREFERENCES,
                recipient.subscription_id,
                recipient.link_secret,
            ),
        },
        list_unsubscribe=(url, f"mailto:{settings.from_address}?subject=unsubscribe"),
    )
    if settings.bounce_domain:
        # VERP: a bounce names the delivery it is about, signed so it cannot be forged.
        verp = tokens.sign_short(Purpose.BOUNCE, recipient.delivery_id)
        message = dataclasses.replace(message, sender=f"bounces+{verp}@{settings.bounce_domain}")
    return message
