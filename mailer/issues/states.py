"""The one table of issue states and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class IssueStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


S = IssueStatus
TRANSITIONS: dict[IssueStatus, frozenset[IssueStatus]] = {
    S.DRAFT: frozenset({S.SCHEDULED, S.SENDING, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.DRAFT, S.SENDING, S.CANCELLED}),
    S.SENDING: frozenset({S.PAUSED, S.SENT, S.CANCELLED}),
    S.PAUSED: frozenset({S.SENDING, S.CANCELLED}),
    # An editor's explicit resend of in-doubt or failed rows is the one way back from
    # sent; the ledger does it outside this table so that no ordinary send restarts it.
    S.SENT: frozenset(),
    S.CANCELLED: frozenset(),
}


def sources_of(target: IssueStatus) -> tuple[IssueStatus, ...]:
    """States from which ``target`` may be entered, for a guarded UPDATE … WHERE status IN."""
    return tuple(sorted(s for s, targets in TRANSITIONS.items() if target in targets))
