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

    Compiled in memory: Babel writes the parsed ``.po`` as MO bytes that gettext reads,
    leaving out empty and fuzzy entries, so those fall back to the Norwegian msgid. The
    standard library's reader, not babel.support's subclass of it: that module loads
    Babel's date and number modules with it (worker memory)."""
    # Babel's .po reader and .mo writer, needed only here (a worker that never reads a
    # catalogue never loads them).
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    if language not in LANGUAGES:
        language = LANGUAGES[0]
    with catalogue_path(language).open("rb") as po:
        catalogue = read_po(po, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return GNUTranslations(compiled)
