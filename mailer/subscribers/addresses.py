"""Email addresses as the service keeps them: validated (no DNS), lower case, IDN domains
in punycode; and the mailbox an address reaches, whatever its sub-address tag."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from mailer.errors import ValidationFailed
from mailer.i18n import gettext

MAX_EMAIL_INPUT = 320


def has_control_characters(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value)


def normalise_email(raw: str, language: str = "nb") -> str:
    """Validated, lower-cased, with an IDN domain in punycode; raises ValidationFailed."""
    message = gettext("E-postadressen er ikke gyldig", language)
    if not raw.strip():
        raise ValidationFailed({"email": gettext("Skriv inn en e-postadresse.", language)})
    if len(raw) > MAX_EMAIL_INPUT or has_control_characters(raw):
        raise ValidationFailed({"email": message})
    try:
        info = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        # email-validator explains in English; a Norwegian page keeps to Norwegian.
        detail = f"{message}: {exc}" if language == "en" else f"{message}."
        raise ValidationFailed({"email": detail}) from exc
    ascii_email = info.ascii_email or info.normalized
    return ascii_email.lower()


def mailbox(email: str) -> str:
    """The mailbox a normalised (lower-case) address reaches: without its sub-address tag,
    so ``bomb+1@x`` and ``bomb+2@x`` are both ``bomb@x``."""
    local, _, domain = email.rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"
