"""The one table of issue states and the transitions allowed between them."""

from __future__ import annotations

DRAFT = "draft"
SCHEDULED = "scheduled"
SENDING = "sending"
PAUSED = "paused"
SENT = "sent"
CANCELLED = "cancelled"

TRANSITIONS: dict[str, frozenset[str]] = {
    DRAFT: frozenset({SCHEDULED, SENDING, CANCELLED}),
    SCHEDULED: frozenset({DRAFT, SENDING, CANCELLED}),
    SENDING: frozenset({PAUSED, SENT, CANCELLED}),
    PAUSED: frozenset({SENDING, CANCELLED}),
    SENT: frozenset(),
    CANCELLED: frozenset(),
}


def sources_of(target: str) -> tuple[str, ...]:
    """States from which ``target`` may be entered, for a guarded UPDATE … WHERE status IN."""
    return tuple(sorted(s for s, targets in TRANSITIONS.items() if target in targets))
