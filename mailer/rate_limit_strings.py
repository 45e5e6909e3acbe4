"""MAILER_SIGNUP_LIMITS checked when the settings load, without the ``limits`` library.

Every process loads the settings, but only the web counts requests: importing ``limits``
(with its storage and strategy modules, and wrapt) cost the Celery worker ~1.5 MB for
one check (bench/README.md, worker memory). This is the grammar of ``limits.parse_many``
(limits/util.py: the same expressions, and a granularity is its name or plural,
compared lower-cased); tests/test_rate_limit_strings.py holds the two to the same answer.
"""

from __future__ import annotations

import re

_SEPARATORS = r"[,;|]{1}"
_SINGLE = r"""
    \s*([0-9]+)
    \s*(/|\s*per\s*)
    \s*([0-9]+)?
    \s*([a-z]+)
    \s*
    """
_SINGLE_EXPR = re.compile(_SINGLE, re.IGNORECASE | re.VERBOSE)
_EXPR = re.compile(rf"^{_SINGLE}(:?{_SEPARATORS}{_SINGLE})*$", re.IGNORECASE | re.VERBOSE)
_GRANULARITIES = ("year", "month", "day", "hour", "minute", "second")
_NAMES = frozenset(_GRANULARITIES) | {f"{name}s" for name in _GRANULARITIES}


def check_limit_string(value: str) -> None:
    """Raises ValueError unless the web's limiter would read ``value`` (``10/minute;50/hour``)."""
    if not (isinstance(value, str) and _EXPR.match(value)):
        raise ValueError(f"couldn't parse rate limit string {value!r}")
    for part in re.split(_SEPARATORS, value):
        match = _SINGLE_EXPR.match(part)
        if match and match.group(4).lower() not in _NAMES:
            raise ValueError(f"no granularity matched for {match.group(4)}")
