"""The newsletter's public facts from the environment: privacy link, description, frequency,
and which of the settings an admin can also edit were set by a ``MAILER_*`` variable.

The texts readers read come in Norwegian and English: ``MAILER_DESCRIPTION`` and
``MAILER_FREQUENCY`` set the Norwegian text, ``MAILER_DESCRIPTION_EN`` and
``MAILER_FREQUENCY_EN`` the English one; each locks only its own field in the admin.

These are only the environment's part. The admin stores the same facts in the database
(``mailer/site``); a variable that is set wins over the stored value, and the admin shows
that field read-only. The merged view is what ``runtime().settings`` returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# The settings an admin can edit, each with the variable that wins when it is set.
EDITABLE_BY_ENV = {
    "base_url": "MAILER_BASE_URL",
    "organisation": "MAILER_ORGANISATION",
    "postal_address": "MAILER_POSTAL_ADDRESS",
    "sender": "MAILER_FROM",
    "privacy_url": "MAILER_PRIVACY_URL",
    "description": "MAILER_DESCRIPTION",
    "description_en": "MAILER_DESCRIPTION_EN",
    "frequency": "MAILER_FREQUENCY",
    "frequency_en": "MAILER_FREQUENCY_EN",
    "allowed_origins": "MAILER_ALLOWED_ORIGINS",
}


# The texts an editor writes for readers, one per language: ``key`` holds the Norwegian
# (the default language, and what a single stored text from before became), ``key_en``
# the English. An empty English text falls back to the Norwegian one.
TRANSLATED = ("description", "frequency", "welcome_subject", "welcome_body")


@dataclass(frozen=True)
class SiteSettings:
    """What readers are told about the newsletter, and the admin-only switches.

    The welcome mail and the two-factor rule have no variable: they are stored only."""

    privacy_url: str = ""
    description: str = ""
    description_en: str = ""
    frequency: str = ""
    frequency_en: str = ""
    welcome_enabled: bool = False
    welcome_subject: str = ""
    welcome_subject_en: str = ""
    welcome_body: str = ""
    welcome_body_en: str = ""
    require_two_factor: bool = False
    # Keys of EDITABLE_BY_ENV whose variable was set (non-empty) when the process started.
    from_env: frozenset[str] = field(default_factory=frozenset)

    def text(self, key: str, language: str) -> str:
        """The reader-facing text ``key`` (one of TRANSLATED) in ``language``: the English
        one for English readers when it is written, else the Norwegian."""
        if key not in TRANSLATED:
            raise KeyError(key)
        if language == "en":
            english: str = getattr(self, f"{key}_en")
            if english:
                return english
        return str(getattr(self, key))


def load_site() -> SiteSettings:
    from mailer.config import ConfigError  # config imports this module for its one field

    privacy = os.environ.get("MAILER_PRIVACY_URL", "").strip()
    if privacy and not privacy.startswith(("https://", "http://")):
        raise ConfigError(f"MAILER_PRIVACY_URL must be an http(s) URL, not {privacy!r}")
    return SiteSettings(
        privacy_url=privacy,
        description=os.environ.get("MAILER_DESCRIPTION", "").strip(),
        description_en=os.environ.get("MAILER_DESCRIPTION_EN", "").strip(),
        frequency=os.environ.get("MAILER_FREQUENCY", "").strip(),
        frequency_en=os.environ.get("MAILER_FREQUENCY_EN", "").strip(),
        from_env=frozenset(
            key for key, variable in EDITABLE_BY_ENV.items() if os.environ.get(variable, "").strip()
        ),
    )
