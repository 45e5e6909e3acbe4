"""The gettext catalogues, parsed from the ``.po`` files in this package once per process."""

from __future__ import annotations

from functools import cache
from gettext import GNUTranslations
from io import BytesIO
from pathlib import Path

LANGUAGES = ("nb", "en")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> GNUTranslations:
    """The catalogue for ``language`` (the Norwegian source for an unknown one).

    Compiled in memory (mailer/i18n/po.py: what Babel's reader and MO writer make of it,
    without Babel), leaving out empty and fuzzy entries, so those fall back to the
    Norwegian msgid. The standard library's reader, not babel.support's subclass of it:
    that module loads Babel's date and number modules with it (worker memory)."""
    from mailer.i18n.po import compile_po

    if language not in LANGUAGES:
        language = LANGUAGES[0]
    text = catalogue_path(language).read_text(encoding="utf-8")
    return GNUTranslations(BytesIO(compile_po(text)))
