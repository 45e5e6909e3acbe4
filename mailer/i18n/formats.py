"""Dates and numbers as each language writes them (CLDR data through Babel)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_date
from babel.dates import get_month_names
from babel.numbers import format_decimal as _babel_decimal

LOCAL_ZONE = ZoneInfo("Europe/Oslo")
# Our English is British: «3 November 2026», not «November 3, 2026».
LOCALES = {"nb": "nb_NO", "en": "en_GB"}


def _locale(language: str) -> str:
    return LOCALES.get(language, LOCALES["nb"])


def format_date(value: datetime, language: str) -> str:
    """«3. november 2026» / «3 November 2026», the day as it is in Oslo."""
    return _babel_date(value.astimezone(LOCAL_ZONE).date(), "long", locale=_locale(language))


def month_name(value: datetime, language: str) -> str:
    """«november» / «November», the month as it is in Oslo."""
    month = value.astimezone(LOCAL_ZONE).month
    return str(get_month_names("wide", locale=_locale(language))[month])


def format_decimal(value: float, language: str, digits: int = 1) -> str:
    """«127,5» / «127.5», with ``digits`` decimals always shown."""
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return _babel_decimal(value, pattern, locale=_locale(language))
