"""Email addresses as the service keeps them: validated (no DNS), lower case, IDN domains
in punycode; and the mailbox an address reaches, whatever its sub-address tag."""

from __future__ import annotations

import unicodedata

import idna
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


def _unicode_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return idna.decode(label)
    except (idna.IDNAError, UnicodeError):
        return label  # not valid punycode: show what is stored


def display_email(email: str) -> str:
    """The address as people write it: an IDN domain in Unicode (``blåbær.no``), not the
    punycode we store and send to (``xn--blbr-roah.no``)."""
    local, at, domain = email.rpartition("@")
    if not at or "xn--" not in domain:
        return email
    return f"{local}@{'.'.join(_unicode_label(label) for label in domain.split('.'))}"


def punycode_query(text: str) -> str | None:
    """A search text with its non-ASCII domain words in punycode, as the stored addresses
    spell them («blåbær» → ``xn--blbr-roah``), or None when nothing changes. A word matches
    only whole: punycode encodes a label as a unit, so «blåb» cannot find ``blåbær.no``."""
    local, at, domain = text.rpartition("@")
    labels = []
    for label in domain.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(idna.encode(label, uts46=True).decode("ascii"))
        except (idna.IDNAError, UnicodeError):
            return None
    encoded = f"{local}{at}{'.'.join(labels)}"
    return encoded if encoded != text else None
