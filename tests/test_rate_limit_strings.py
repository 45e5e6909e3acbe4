"""MAILER_SIGNUP_LIMITS is checked without the limits library (worker memory), and the
check agrees with the library the web reads the string with."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from limits import parse_many

from mailer.config import ConfigError, load_settings
from mailer.rate_limit_strings import check_limit_string

SAMPLES = [
    "10/minute;50/hour",
    "10/minute; 50/hour",
    "1 per second",
    "5 per 2 minutes",
    "3/2 hours|4/day,7/months",
    "1/YEAR",
    "10/minute:;5/hour",
    " 10 / minute ",
    "",
    "10",
    "10/",
    "/minute",
    "10/minut",
    "10/weeks",
    "10/minute;",
    "ten/minute",
    "10/ſecond",
    "10/\u212aelvin",
    "10/minute;50/fortnight",
]

ALPHABET = st.sampled_from(
    list("0123456789 /;,|:ps") + ["per", "second", "minute", "hours", "day", "Month", "ſ", "x"]
)


def _library_accepts(value: str) -> bool:
    try:
        parse_many(value)
    except ValueError:
        return False
    return True


def _ours_accepts(value: str) -> bool:
    try:
        check_limit_string(value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("value", SAMPLES)
def test_the_check_agrees_with_the_limits_library(value):
    assert _ours_accepts(value) == _library_accepts(value)


@given(st.lists(ALPHABET, max_size=12).map("".join))
def test_the_check_agrees_with_the_limits_library_on_any_string(value):
    assert _ours_accepts(value) == _library_accepts(value)


def test_a_wrong_signup_limit_stops_the_settings_with_the_variable_named(monkeypatch, test_env):
    for name, value in test_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MAILER_SIGNUP_LIMITS", "10/minute;5/hour")
    load_settings()
    monkeypatch.setenv("MAILER_SIGNUP_LIMITS", "10/fortnight")
    with pytest.raises(ConfigError, match="MAILER_SIGNUP_LIMITS"):
        load_settings()
