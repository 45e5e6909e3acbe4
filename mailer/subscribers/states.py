"""The one table of subscription states and the changes allowed between them."""

from __future__ import annotations

from enum import StrEnum

from mailer.errors import TransitionRefused


class SubscriptionStatus(StrEnum):
    PENDING = "pending"  # signed up, not yet confirmed
    ACTIVE = "active"  # confirmed: gets the digest
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # the address does not exist (a 5.1.x answer)
    COMPLAINED = "complained"  # the reader pressed "spam"


S = SubscriptionStatus
TRANSITIONS: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    S.PENDING: frozenset({S.ACTIVE, S.UNSUBSCRIBED}),
    S.ACTIVE: frozenset({S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED}),
    # Coming back is a new signup, confirmed by mail like the first.
    S.UNSUBSCRIBED: frozenset({S.PENDING}),
    S.BOUNCED: frozenset({S.PENDING}),
    S.COMPLAINED: frozenset({S.PENDING}),
}
# An editor's override, never a reader's link (a confirmation link must not bring a bounced
# address back): a bounced reader taken back to active once the mailbox works again
# (mailer/bounces/reactivation.py, audited).
EDITOR_REACTIVATES = frozenset({S.BOUNCED})
# Readers who left, one way or another: never mailed, never re-imported from a file.
LEFT = frozenset({S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED})
# Readers a reader-side unsubscribe applies to.
SUBSCRIBED = frozenset({S.PENDING, S.ACTIVE})


def can_become(current: str, target: SubscriptionStatus) -> bool:
    return target in TRANSITIONS[SubscriptionStatus(current)]


def require(subscription_id: int, current: str, target: SubscriptionStatus) -> None:
    if not can_become(current, target):
        raise TransitionRefused(f"subscription {subscription_id} is {current}; not {target}")
