"""The errors a user can cause, one vocabulary for every domain and front end.

Views turn them into a 400 naming the field, a 404, or a 409; the CLI into a message and
exit code 1. Domain-specific kinds (an issue, a feed, a subscriber not found) subclass these.
"""

from __future__ import annotations


class ValidationFailed(ValueError):
    """Bad input: ``errors`` maps each field name to a message in the user's language."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotFound(LookupError):
    """The thing asked for does not exist (or no longer)."""


class TransitionRefused(ValueError):
    """The thing exists but its state does not allow this change now."""
