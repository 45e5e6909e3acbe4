"""The stored settings: validation, saving, and the merge with the environment.

A ``MAILER_*`` variable that is set wins over the stored value (DECISIONS.md
"First-month experience"); unset, the stored value; neither, the embedded default. A
setting counts as set by the environment when its variable was set at start, or when the
process's settings carry a value other than the default (settings built in code, as the
tests do, behave as if that value came from a variable).

The texts readers read (mailer.config_site.TRANSLATED) are stored per language: ``key`` the
Norwegian, ``key_en`` the English. A text stored before there were two kept its key, so it
is the Norwegian one, which English readers see until an English one is written.

Errors are ``ValidationFailed`` naming each field, in the language the caller asks for.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.config_site import EDITABLE_BY_ENV
from mailer.errors import ValidationFailed
from mailer.i18n import N_, gettext
from mailer.origins import normalise_origin
from mailer.site.models import SiteSetting

DEFAULT_SENDER = ("Nyhetsbrev", "nyhetsbrev@localhost")
# Stored only (no variable): the welcome mail and the two-factor rule.
STORED_ONLY = (
    "welcome_enabled",
    "welcome_subject",
    "welcome_subject_en",
    "welcome_body",
    "welcome_body_en",
    "require_two_factor",
)
TEXT_LIMITS = {
    "organisation": 200,
    "postal_address": 300,
    "description": 500,
    "description_en": 500,
    "frequency": 100,
    "frequency_en": 100,
    "welcome_subject": 200,
    "welcome_subject_en": 200,
    "welcome_body": 5000,
    "welcome_body_en": 5000,
}
MULTILINE = frozenset({"description", "description_en", "welcome_body", "welcome_body_en"})
MAX_ORIGINS = 50

TOO_LONG = N_("For lang tekst (høyst %(max)s tegn).")
CONTROL = N_("Teksten kan ikke inneholde linjeskift eller kontrolltegn.")
BAD_URL = N_("Skriv en hel adresse som begynner med https:// eller http://.")
BAD_BASE_URL = N_(
    "Skriv adressen tjenesten svarer på, som https://nyhetsbrev.example.no (uten ? og #)."
)
BAD_SENDER = N_("Skriv avsenderen som «Navn <adresse@example.no>» med en gyldig e-postadresse.")
BAD_ORIGIN = N_("Ikke et nettsted (https://vert[:port], uten sti)")
TOO_MANY_ORIGINS = N_("Høyst 50 nettsteder.")
WELCOME_NEEDS_TEXT = N_("Velkomst-e-posten trenger både emne og tekst når den er slått på.")
WELCOME_EN_PAIR = N_(
    "Skriv både engelsk emne og engelsk tekst, eller la begge stå tomme (da får engelske "
    "lesere den norske)."
)


def _default(settings: Settings, key: str) -> Any:
    return {
        "base_url": f"http://127.0.0.1:{settings.port}",
        "sender": show_sender(*DEFAULT_SENDER),
        "allowed_origins": [],
    }.get(key, "")


def env_value(settings: Settings, key: str) -> Any:
    """The value the process's own settings (environment and defaults) give ``key``."""
    if key == "sender":
        return show_sender(settings.from_name, settings.from_address)
    if key == "allowed_origins":
        return list(settings.allowed_origins)
    if hasattr(settings.site, key):
        return getattr(settings.site, key)
    return getattr(settings, key)


def show_sender(name: str, address: str) -> str:
    """«Name <address>» as people write it (formataddr would RFC 2047-encode «–» or «ø»)."""
    return f"{name} <{address}>" if name else address


def set_by_env(settings: Settings, key: str) -> str | None:
    """The variable that decides ``key`` in this process, or None when the stored value does."""
    variable = EDITABLE_BY_ENV.get(key)
    if variable is None:
        return None
    if key in settings.site.from_env or env_value(settings, key) != _default(settings, key):
        return variable
    return None


def load_stored(session: Session) -> dict[str, Any]:
    return {row.key: row.value for row in session.scalars(select(SiteSetting))}


def merged(settings: Settings, stored: Mapping[str, Any]) -> Settings:
    """The settings every part of a process uses: the environment where it is set, else the
    stored value, else the default."""

    def pick(key: str) -> Any:
        if set_by_env(settings, key) or key not in stored:
            return env_value(settings, key)
        return stored[key]

    from_name, from_address = parseaddr(pick("sender"))
    site = dataclasses.replace(
        settings.site,
        privacy_url=pick("privacy_url"),
        description=pick("description"),
        description_en=pick("description_en"),
        frequency=pick("frequency"),
        frequency_en=pick("frequency_en"),
        **{key: stored.get(key, getattr(settings.site, key)) for key in STORED_ONLY},
    )
    return dataclasses.replace(
        settings,
        base_url=pick("base_url"),
        organisation=pick("organisation"),
        postal_address=pick("postal_address"),
        from_name=from_name,
        from_address=from_address,
        allowed_origins=tuple(pick("allowed_origins")),
        site=site,
    )


def _clean_text(key: str, raw: Any, ui: str) -> tuple[str, str | None]:
    text = unicodedata.normalize("NFC", raw.strip() if isinstance(raw, str) else "")
    if key in MULTILINE:
        text = text.replace("\r\n", "\n")
        bad = any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text)
    else:
        bad = any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)
    if bad:
        return "", gettext(CONTROL, ui)
    if len(text) > TEXT_LIMITS[key]:
        return "", gettext(TOO_LONG, ui) % {"max": TEXT_LIMITS[key]}
    return text, None


def clean_base_url(raw: Any) -> str | None:
    """An http(s) URL with a host and no query or fragment, without the trailing slash."""
    text = raw.strip() if isinstance(raw, str) else ""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        return None
    if parts.fragment or "#" in text or any(c.isspace() or ord(c) < 32 for c in text):
        return None
    return text.rstrip("/")


def _clean_sender(raw: Any) -> str | None:
    name, address = parseaddr(raw.strip() if isinstance(raw, str) else "")
    if not address or any(unicodedata.category(c) == "Cc" for c in name):
        return None
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    # The envelope and Message-ID need ASCII: the domain in punycode, as MAILER_FROM gets it.
    return show_sender(name.strip(), f"{checked.local_part}@{checked.ascii_domain}")


def _ascii_host(url: str) -> str:
    """«https://www.bærum.no» as browsers send it in Origin: the host in punycode."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host.isascii():
            return url
        ascii_host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return url
    netloc = ascii_host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def _clean_origins(raw: Any, ui: str) -> tuple[list[str], str | None]:
    lines = raw if isinstance(raw, list) else str(raw or "").splitlines()
    origins: list[str] = []
    for line in (str(item).strip() for item in lines):
        if not line:
            continue
        origin = normalise_origin(_ascii_host(line))
        if origin is None:
            return [], f"{gettext(BAD_ORIGIN, ui)}: «{line[:100]}»"
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        return [], gettext(TOO_MANY_ORIGINS, ui)
    return origins, None


def validate(form: Mapping[str, Any], settings: Settings, ui: str = "nb") -> dict[str, Any]:
    """The cleaned values of the keys in ``form`` that the environment does not decide, or
    ValidationFailed naming every bad field."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, raw in form.items():
        if set_by_env(settings, key):
            continue
        if key in TEXT_LIMITS:
            clean[key], problem = _clean_text(key, raw, ui)
            if problem:
                errors[key] = problem
        elif key in ("base_url", "privacy_url"):
            url = clean_base_url(raw) if str(raw or "").strip() or key == "base_url" else ""
            if url is None:
                message = BAD_BASE_URL if key == "base_url" else BAD_URL
                errors[key] = gettext(message, ui)
            else:
                clean[key] = url
        elif key == "sender":
            sender = _clean_sender(raw)
            if sender is None:
                errors[key] = gettext(BAD_SENDER, ui)
            else:
                clean[key] = sender
        elif key == "allowed_origins":
            clean[key], problem = _clean_origins(raw, ui)
            if problem:
                errors[key] = problem
        elif key in ("welcome_enabled", "require_two_factor"):
            clean[key] = raw in (True, "on", "true", "1")
    if clean.get("welcome_enabled") and not (
        clean.get("welcome_subject") and clean.get("welcome_body")
    ):
        errors.setdefault("welcome_subject", gettext(WELCOME_NEEDS_TEXT, ui))
    # The English subject and text go together: half an English mail under a Norwegian
    # subject (or the reverse) is no mail to send.
    english = [key for key in ("welcome_subject_en", "welcome_body_en") if key in clean]
    if len(english) == 2 and bool(clean[english[0]]) != bool(clean[english[1]]):
        empty = english[0] if not clean[english[0]] else english[1]
        errors.setdefault(empty, gettext(WELCOME_EN_PAIR, ui))
    if errors:
        raise ValidationFailed(errors)
    return clean


def save(
    session: Session, form: Mapping[str, Any], settings: Settings, ui: str = "nb"
) -> dict[str, list[Any]]:
    """Validate and store; returns what changed as {key: [before, after]} for the audit log.
    Changes nothing when any field is bad. The caller audits, commits and invalidates."""
    clean = validate(form, settings, ui)
    current = merged(settings, load_stored(session))
    rows = {row.key: row for row in session.scalars(select(SiteSetting))}
    changes: dict[str, list[Any]] = {}
    for key, value in clean.items():
        before = env_value(current, key)
        if before != value:
            changes[key] = [before, value]
        if key in rows:
            rows[key].value = value
        else:
            session.add(SiteSetting(key=key, value=value))
    return changes


def store_base_url(session: Session, url: str) -> str:
    """What ``make run`` does at start: the URL it serves on becomes every process's."""
    clean = clean_base_url(url)
    if clean is None:
        raise ValidationFailed({"base_url": gettext(BAD_BASE_URL, "en")})
    row = session.get(SiteSetting, "base_url")
    if row is None:
        session.add(SiteSetting(key="base_url", value=clean))
    else:
        row.value = clean
    return clean


def stored_base_url(session: Session) -> str | None:
    row = session.get(SiteSetting, "base_url")
    return row.value if row is not None and isinstance(row.value, str) else None
