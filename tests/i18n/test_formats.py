"""Dates and numbers as each language writes them, the day as it is in Oslo."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailer.i18n import format_date, format_decimal, month_name

# 23:30 UTC on 2 November is already 3 November in Oslo.
LATE = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "date", "month"),
    [("nb", "3. november 2026", "november"), ("en", "3 November 2026", "November")],
)
def test_dates_are_written_the_way_the_language_writes_them(language, date, month):
    assert format_date(LATE, language) == date
    assert month_name(LATE, language) == month


def test_an_unknown_language_gets_norwegian_dates():
    assert format_date(LATE, "de") == "3. november 2026"


@pytest.mark.parametrize(
    ("language", "value", "digits", "shown"),
    [
        ("nb", 127.5, 1, "127,5"),
        ("en", 127.5, 1, "127.5"),
        ("nb", 3, 1, "3,0"),
        ("en", 0.25, 2, "0.25"),
        ("nb", 1234.5, 1, "1\xa0234,5"),
        ("en", 1234.5, 0, "1,234"),
    ],
)
def test_numbers_use_the_language_s_decimal_mark(language, value, digits, shown):
    assert format_decimal(value, language, digits) == shown


@pytest.mark.parametrize("language", ["nb", "en"])
@pytest.mark.parametrize("month", range(1, 13))
def test_dates_and_months_are_cldr_s_as_babel_gives_them(language, month):
    """The table in mailer/i18n/formats.py (Babel's locale data stays out of the worker)
    against Babel itself: every month, a one- and a two-digit day."""
    from babel.dates import format_date as babel_date
    from babel.dates import get_month_names

    locale = {"nb": "nb_NO", "en": "en_GB"}[language]
    for day in (1, 28):
        noon = datetime(2026, month, day, 11, 0, tzinfo=UTC)
        assert format_date(noon, language) == babel_date(noon.date(), "long", locale=locale)
        assert month_name(noon, language) == get_month_names("wide", locale=locale)[month]
