"""One page of a longer listing (articles, subscribers), for the admin and the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    rows: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @staticmethod
    def offset(page: int, per_page: int) -> int:
        """Rows to skip for ``page`` (1-based; anything below 1 is the first page)."""
        return (max(page, 1) - 1) * per_page
