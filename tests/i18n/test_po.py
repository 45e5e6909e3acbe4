"""mailer/i18n/po.py compiles each catalogue to what Babel's reader and MO writer make of it."""

from __future__ import annotations

from gettext import GNUTranslations
from io import BytesIO

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from mailer.i18n.catalogues import LANGUAGES, catalogue_path
from mailer.i18n.po import compile_po


def _babel(text: str, language: str) -> GNUTranslations:
    compiled = BytesIO()
    write_mo(compiled, read_po(BytesIO(text.encode()), locale=language), use_fuzzy=False)
    compiled.seek(0)
    return GNUTranslations(compiled)


def _same(text: str, language: str = "en") -> None:
    ours, babel = GNUTranslations(BytesIO(compile_po(text))), _babel(text, language)
    # The header is Babel's own rewrite of it; gettext reads only charset and plurals there.
    assert {k: v for k, v in ours._catalog.items() if k != ""} == {  # type: ignore[attr-defined]
        k: v
        for k, v in babel._catalog.items()  # type: ignore[attr-defined]
        if k != ""
    }
    assert ours.charset() == babel.charset()
    assert [ours.plural(n) for n in range(12)] == [babel.plural(n) for n in range(12)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_catalogue_compiles_as_babel_compiles_it(language):
    """Checked by hand: with empty plural forms left empty (not the msgid's), this fails
    (nb's catalogue is all empty forms)."""
    _same(catalogue_path(language).read_text(encoding="utf-8"), language)


HEADER = (
    'msgid ""\nmsgstr ""\n"Language: en\\n"\n"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n'
    '"Content-Type: text/plain; charset=utf-8\\n"\n\n'
)


def test_what_make_i18n_may_write_compiles_as_babel_compiles_it():
    """Fuzzy and empty entries (left out), a context, continued lines, escapes and an
    obsolete entry: what `make i18n` writes after a change, as Babel reads it. Checked by
    hand: with fuzzy entries kept, the context dropped, or ``\\t`` not unescaped, this
    fails."""
    _same(
        HEADER
        + '#: a.py\n#, fuzzy, python-format\nmsgid "Endret %(n)s"\nmsgstr "Changed %(n)s"\n\n'
        + 'msgid "Tom"\nmsgstr ""\n\n'
        + 'msgctxt "meny"\nmsgid "Fil"\nmsgstr "File"\n\n'
        + 'msgid ""\n"Lang "\n"tekst\\n"\nmsgstr ""\n"Long "\n"text\\n"\n\n'
        + 'msgid "Sitat \\"x\\"\\t\\\\ \\\\u0000"\nmsgstr "Quote \\"x\\"\\t\\\\ \\\\u0000"\n\n'
        + 'msgid "%(num)s rad"\nmsgid_plural "%(num)s rader"\nmsgstr[0] "%(num)s row"\n'
        + 'msgstr[1] ""\n\n'
        + '#~ msgid "Gammel"\n#~ msgstr "Old"\n'
    )
