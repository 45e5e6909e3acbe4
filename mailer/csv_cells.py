"""CSV cells a spreadsheet shows as text and never runs as a formula.

OWASP's advice on CSV injection: a cell that starts with ``=``, ``+``, ``-``, ``@``,
tab or carriage return is read as a formula by Excel, LibreOffice and Sheets, so a
reader who signs up as ``=HYPERLINK(…)`` would get a live link (or worse) in the
editor's spreadsheet. Such a cell is written with a leading ``'``, which spreadsheets
take as "this is text".

The prefix is also added to a cell that already starts with quotes followed by a
formula start, so that :func:`restore` is the exact inverse of :func:`neutralise`: an
exported file imported again gives back the names as they were, and a round trip
never adds another quote.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _escaped(cell: str) -> bool:
    return cell.lstrip("'").startswith(FORMULA_STARTS)


def neutralise(cell: str) -> str:
    return "'" + cell if _escaped(cell) else cell


def restore(cell: str) -> str:
    """The value :func:`neutralise` was given (for a CSV we wrote, or one written alike)."""
    return cell[1:] if cell.startswith("'") and _escaped(cell[1:]) else cell


class SafeCsvWriter:
    """``csv.writer`` whose every cell goes through :func:`neutralise`: every CSV the
    service writes uses this, so no writer can forget it."""

    def __init__(self, stream: TextIO) -> None:
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[str]) -> None:
        self._writer.writerow([neutralise(cell) for cell in row])
