"""UI and mail strings: Norwegian Bokmål is the source text (the msgid), English the translation.

The catalogues are gettext ``.po`` files under ``locale/<lang>/LC_MESSAGES/``, compiled in
memory once per process (po.py; no ``.mo`` build step: ``pip install .`` is enough). A
string without an English translation falls back to the Norwegian, never to a blank.
``make i18n`` extracts the strings from code and templates and updates both catalogues.
"""

from __future__ import annotations

from typing import Any

from mailer.i18n.catalogues import LANGUAGES, translations
from mailer.i18n.formats import LOCAL_ZONE, format_date, format_decimal, month_name

DEFAULT_LANGUAGE = "nb"

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LOCAL_ZONE",
    "N_",
    "format_date",
    "format_decimal",
    "gettext",
    "month_name",
    "ngettext",
    "normalise_language",
    "translations",
]


def N_(text: str) -> str:
    """Marks a constant for extraction (the name Babel looks for); it is translated later,
    where it is shown."""
    return text


def normalise_language(value: str | None) -> str:
    value = (value or "").strip().lower()
    if value in ("no", "nn", "nb-no", "no-nb"):
        return "nb"
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def gettext(text: str, language: str) -> str:
    # The empty msgid is the catalogue's header: an empty text stays empty.
    return translations(language).gettext(text) if text else text


def ngettext(singular: str, plural: str, n: int, language: str, **variables: Any) -> str:
    """The form for ``n``, with ``%(num)s`` (and any other ``variables``) filled in, as
    Jinja's ``ngettext`` does in templates."""
    text = translations(language).ngettext(singular, plural, n)
    return text % {"num": n, **variables}
