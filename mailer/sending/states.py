"""Delivery ledger states."""

from __future__ import annotations

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
BOUNCED = "bounced"
IN_DOUBT = "in-doubt"
SKIPPED = "skipped"

ALL = (QUEUED, SENDING, SENT, FAILED, BOUNCED, IN_DOUBT, SKIPPED)
FINAL = frozenset({SENT, FAILED, BOUNCED, IN_DOUBT, SKIPPED})
