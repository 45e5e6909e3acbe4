"""Dates and numbers as each language writes them.

Dates and month names are CLDR's long date and wide month names of our two languages,
written out here (tests/i18n/test_formats.py holds them equal to Babel's for every
month): Babel's locale data for one date cost every worker child that renders a digest
~4 MB (bench/README.md, worker memory). Numbers, shown on admin pages only, go through
Babel's CLDR data.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Europe/Oslo")
# Our English is British: «3 November 2026», not «November 3, 2026».
LOCALES = {"nb": "nb_NO", "en": "en_GB"}
# CLDR's wide month names (format context), and its long date pattern: «d. MMMM y»
# (nb_NO), «d MMMM y» (en_GB).
MONTHS = {
    "nb": (
        "januar",
        "februar",
        "mars",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "desember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}
DAY_SUFFIX = {"nb": ".", "en": ""}


def _language(language: str) -> str:
    return language if language in LOCALES else "nb"


def format_date(value: datetime, language: str) -> str:
    """«3. november 2026» / «3 November 2026», the day as it is in Oslo."""
    day = value.astimezone(LOCAL_ZONE).date()
    language = _language(language)
    return f"{day.day}{DAY_SUFFIX[language]} {MONTHS[language][day.month - 1]} {day.year}"


def month_name(value: datetime, language: str) -> str:
    """«november» / «November», the month as it is in Oslo."""
    return MONTHS[_language(language)][value.astimezone(LOCAL_ZONE).month - 1]


def format_decimal(value: float, language: str, digits: int = 1) -> str:
    """«127,5» / «127.5», with ``digits`` decimals always shown."""
    # Imported here, for worker memory: only pages show numbers (Babel's CLDR data).
    from babel.numbers import format_decimal as babel_decimal

    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return babel_decimal(value, pattern, locale=LOCALES[_language(language)])
