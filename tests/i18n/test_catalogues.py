"""The catalogues match the code, English is complete, and both load as gettext.

The staleness check runs the same extraction as ``make i18n`` into a temporary template:
a string marked in code or a template but missing from a ``.po``, or an entry the code no
longer has, fails here until ``make i18n`` has been run and the English written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from mailer.i18n import LANGUAGES, gettext, ngettext
from mailer.i18n.catalogues import catalogue_path, translations

ROOT = Path(__file__).resolve().parents[2]


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=locale)


def _ids(catalogue: Catalog) -> set[str | tuple[str, ...]]:
    return {m.id for m in catalogue if m.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    pybabel = f"{sys.executable} -m babel.messages.frontend"
    subprocess.run(
        ["make", "-s", "--no-print-directory", "i18n-pot", f"I18N_POT={pot}", f"PYBABEL={pybabel}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return _read(pot)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_has_every_string_the_code_marks_and_no_other(extracted, language):
    catalogue = _read(catalogue_path(language), language)
    in_code, in_catalogue = _ids(extracted), _ids(catalogue)
    assert len(in_code) > 400
    assert sorted(map(str, in_code - in_catalogue)) == [], "run `make i18n`"
    assert sorted(map(str, in_catalogue - in_code)) == [], "run `make i18n`"
    assert not catalogue.obsolete, "run `make i18n` (it drops obsolete entries)"


def test_every_string_has_an_english_translation():
    catalogue = _read(catalogue_path("en"), "en")
    untranslated, fuzzy = [], []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            untranslated.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
    assert untranslated == []
    assert fuzzy == [], "a fuzzy entry is a guess: check it, then drop the flag"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders_and_the_plural_rule(language):
    catalogue = _read(catalogue_path(language), language)
    # Babel's checkers: the same %(name)s placeholders in msgid and msgstr, and as many
    # plural forms as the header's Plural-Forms says.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()]
    assert problems == []
    assert catalogue.num_plurals == 2
    assert not [m.id for m in catalogue if m.id and m.fuzzy]


def test_english_comes_from_the_catalogue_and_norwegian_is_the_source():
    assert gettext("Meld deg av", "en") == "Unsubscribe"
    assert gettext("Meld deg av", "nb") == "Meld deg av"
    # Unknown language: the Norwegian source; an empty text is not the catalogue header.
    assert gettext("Meld deg av", "de") == "Meld deg av"
    assert gettext("", "en") == ""
    assert translations("en") is translations("en")


@pytest.mark.parametrize(
    ("language", "one", "two"),
    [
        ("nb", "1 aktiv abonnent", "2 aktive abonnenter"),
        ("en", "1 active subscriber", "2 active subscribers"),
    ],
)
def test_counts_take_the_plural_form_of_the_language(language, one, two):
    def active(n: int) -> str:
        return ngettext("%(num)s aktiv abonnent", "%(num)s aktive abonnenter", n, language)

    assert (active(1), active(2)) == (one, two)
    assert active(0) == two.replace("2", "0")


def test_the_cli_says_its_counts_in_english():
    def articles(n: int) -> str:
        return ngettext("%(num)s artikkel", "%(num)s artikler", n, "en")

    assert (articles(1), articles(2)) == ("1 article", "2 articles")
