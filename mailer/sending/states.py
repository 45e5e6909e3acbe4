"""The one table of delivery states (the ledger's rows) and the moves between them."""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed, committed before the SMTP transaction starts
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    IN_DOUBT = "in-doubt"  # the server may have taken it: never resent without an editor
    SKIPPED = "skipped"  # nothing in the issue for this reader's topics, or the reader left


S = DeliveryStatus
TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    S.QUEUED: frozenset({S.SENDING, S.SKIPPED}),
    # Back to queued: a temporary (4xx) failure waits for its next attempt.
    S.SENDING: frozenset({S.SENT, S.FAILED, S.BOUNCED, S.IN_DOUBT, S.SKIPPED, S.QUEUED}),
    # An editor's decision: resend the failed or the in-doubt rows.
    S.FAILED: frozenset({S.QUEUED}),
    S.IN_DOUBT: frozenset({S.QUEUED}),
    # The server took it, and a bounce report came back later (mailer/bounces/policy.py).
    S.SENT: frozenset({S.BOUNCED}),
    S.BOUNCED: frozenset(),
    S.SKIPPED: frozenset(),
}
ALL = tuple(DeliveryStatus)
FINAL = frozenset({S.SENT, S.FAILED, S.BOUNCED, S.IN_DOUBT, S.SKIPPED})
