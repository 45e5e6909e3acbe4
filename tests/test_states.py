"""One vocabulary of states: each domain's StrEnum and its one transition table."""

from __future__ import annotations

import pytest

from mailer.errors import TransitionRefused
from mailer.issues.states import TRANSITIONS as ISSUE
from mailer.issues.states import IssueStatus, sources_of
from mailer.sending.states import FINAL, DeliveryStatus
from mailer.sending.states import TRANSITIONS as DELIVERY
from mailer.subscribers.states import LEFT, SubscriptionStatus, can_become, require
from mailer.subscribers.states import TRANSITIONS as SUBSCRIPTION


@pytest.mark.parametrize(
    ("states", "table"),
    [(IssueStatus, ISSUE), (DeliveryStatus, DELIVERY), (SubscriptionStatus, SUBSCRIPTION)],
)
def test_every_state_has_one_row_and_moves_only_to_known_states(states, table):
    assert set(table) == set(states)
    for targets in table.values():
        assert targets <= set(states)


def test_the_states_are_the_strings_the_database_holds():
    assert IssueStatus.SENDING == "sending"
    assert DeliveryStatus.IN_DOUBT == "in-doubt"
    assert SubscriptionStatus("complained") is SubscriptionStatus.COMPLAINED


def test_final_delivery_states_never_move_on_their_own():
    # Only an editor's resend takes failed or in-doubt rows back to queued; a sent row
    # becomes bounced only when a bounce report about it comes back (issue 11).
    for state in FINAL:
        assert DELIVERY[state] <= {DeliveryStatus.QUEUED, DeliveryStatus.BOUNCED}
    assert DELIVERY[DeliveryStatus.SENT] == frozenset({DeliveryStatus.BOUNCED})


def test_sources_of_reads_the_issue_table():
    assert sources_of(IssueStatus.SENDING) == (
        IssueStatus.DRAFT,
        IssueStatus.PAUSED,
        IssueStatus.SCHEDULED,
    )
    assert sources_of(IssueStatus.DRAFT) == (IssueStatus.SCHEDULED,)


def test_a_reader_who_left_comes_back_only_through_a_new_signup():
    for state in LEFT:
        assert SUBSCRIPTION[state] == frozenset({SubscriptionStatus.PENDING})
        assert not can_become(state, SubscriptionStatus.ACTIVE)
    assert can_become("pending", SubscriptionStatus.ACTIVE)
    with pytest.raises(TransitionRefused, match="subscription 4 is bounced"):
        require(4, "bounced", SubscriptionStatus.ACTIVE)
