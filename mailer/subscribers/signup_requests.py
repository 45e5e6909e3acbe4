"""A signup as the reader (or an import row) sent it, checked: every field at once, the
messages in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailer.errors import ValidationFailed
from mailer.i18n import LANGUAGES, N_, gettext
from mailer.subscribers.addresses import has_control_characters, normalise_email
from mailer.subscribers.consent import CONSENT_TEXT, CONSENT_TEXTS, CONSENT_VERSION

MAX_NAME = 200


@dataclass(frozen=True)
class SignupRequest:
    email: str
    name: str
    language: str
    topics: tuple[str, ...]
    consent_text: str = CONSENT_TEXT
    consent_version: str = CONSENT_VERSION


def parse_signup(
    data: dict[str, Any], allowed_topics: tuple[str, ...], message_language: str | None = None
) -> SignupRequest:
    """Check every field at once so the reader sees all problems together; the messages
    in the reader's language, or in ``message_language`` (the CLI's English)."""

    errors: dict[str, str] = {}
    wrong_types: dict[str, str] = {}

    def text(name: str) -> str:
        # JSON may send a number, list or object where text belongs: refuse it rather than
        # store its str() (or walk a deeply nested value to print it).
        value = data.get(name, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            wrong_types[name] = N_("Må være tekst.")
            return ""
        return value

    language = text("language").strip().lower() or "nb"
    if language not in LANGUAGES:
        errors["language"] = gettext("Ukjent språk.", message_language or "nb")
        language = "nb"
    says = message_language or language
    email = ""
    try:
        email = normalise_email(text("email"), says)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    name = text("name").strip()
    if has_control_characters(name):
        errors["name"] = gettext("Navnet kan ikke inneholde linjeskift eller kontrolltegn.", says)
    elif len(name) > MAX_NAME:
        errors["name"] = gettext("Navnet er for langt (høyst 200 tegn).", says)
    consent = data.get("consent")
    version = text("consent_version").strip() or CONSENT_VERSION
    if consent not in (True, "on", "yes", "true", "1", 1):
        errors["consent"] = gettext("Du må krysse av for samtykke.", says)
    elif version not in CONSENT_TEXTS:
        errors["consent"] = gettext(
            "Samtykketeksten er endret. Last siden på nytt og prøv igjen.", says
        )
    raw_topics = data.get("topics") or []
    topics: list[str] = []
    if not isinstance(raw_topics, list) or not all(isinstance(t, str) for t in raw_topics):
        errors["topics"] = gettext("Temaer må være en liste med tekster.", says)
    else:
        for topic in raw_topics:
            if topic not in allowed_topics:
                errors["topics"] = gettext("Ukjent tema", says) + f": {topic[:40]}"
                break
            if topic not in topics:
                topics.append(topic)
    # A field of the wrong type is named as such, not by what its empty stand-in implied.
    errors.update({name: gettext(message, says) for name, message in wrong_types.items()})
    if errors:
        raise ValidationFailed(errors)
    return SignupRequest(
        email=email,
        name=name,
        language=language,
        topics=tuple(topics),
        # The consent record keeps the wording the reader was shown, in their language.
        consent_text=gettext(CONSENT_TEXTS[version], language),
        consent_version=version,
    )
