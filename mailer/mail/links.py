"""The signed links in mails: one place that knows which page each token opens."""

from __future__ import annotations

from mailer.config import Settings
from mailer.tokens import Purpose, Tokens

# The URL path (see DESIGN.md's contract) each kind of personal link opens.
PATHS: dict[Purpose, str] = {
    Purpose.CONFIRM: "confirm",
    Purpose.UNSUBSCRIBE: "unsubscribe",
    Purpose.PREFERENCES: "preferences",
    Purpose.EXPORT: "data",
}


def personal_link(
    settings: Settings, tokens: Tokens, purpose: Purpose, subscription_id: int
) -> str:
    return f"{settings.base_url}/{PATHS[purpose]}/{tokens.make(purpose, subscription_id)}"
