"""An issue's way through its states as the ledger writes it: who may start a send, what
each step stamps and clears, the audit trail of each step, and whose readers get rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer.events import Event
from mailer.issues.models import Issue, Newsletter
from mailer.sending import ledger
from mailer.sending.models import Delivery
from tests.harness import factories

pytestmark = pytest.mark.rolled_back


def _issue(session, issue_id: int) -> Issue:
    session.expire_all()
    issue = session.get(Issue, issue_id)
    assert issue is not None
    return issue


def test_each_step_stamps_clears_and_records_what_it_should(session):
    """Mutants of ``ledger.transition`` and ``ledger.request_send`` (survivors of `make
    mutate`): the step's event (``issue.<status>``) recorded for no issue or without its
    reason, ``pause_reason`` kept after a resume (``target == SENDING`` → ``!=``, or
    cleared to "" instead of None), ``sent_at`` stamped on every step (``target == SENT``
    → ``!=``), ``send_requested_at`` not stamped (None) or stamped on other issues
    (``Issue.id == issue_id`` → ``!=`` / dropped): the retry window and the lost-start
    check count from it."""
    other = factories.drafted_issue(session)
    factories.article(session, "ny-sak", "Ny sak", days_ago=0)
    issue = factories.drafted_issue(session, articles=0)

    assert ledger.request_send(session, issue.id)
    session.commit()
    started = _issue(session, issue.id)
    assert (started.status, started.sent_at) == ("sending", None)
    assert started.send_requested_at is not None
    assert _issue(session, other.id).send_requested_at is None

    assert ledger.pause(session, issue.id, reason="sjekker lenkene")
    session.commit()
    paused = _issue(session, issue.id)
    assert (paused.status, paused.pause_reason, paused.sent_at) == (
        "paused",
        "sjekker lenkene",
        None,
    )

    assert ledger.resume(session, issue.id)
    session.commit()
    resumed = _issue(session, issue.id)
    assert (resumed.status, resumed.pause_reason, resumed.sent_at) == ("sending", None, None)

    steps = ("issue.sending", "issue.paused")
    events = session.execute(
        select(Event.kind, Event.issue_id, Event.data)
        .where(Event.kind.in_(steps))
        .order_by(Event.id)
    ).all()
    assert events == [
        ("issue.sending", issue.id, {"reason": None}),
        ("issue.paused", issue.id, {"reason": "sjekker lenkene"}),
        ("issue.sending", issue.id, {"reason": None}),
    ]


def test_send_starts_only_a_draft_or_scheduled_issue(session):
    """Mutants of ``ledger.request_send`` (survivors of `make mutate`): ``only_from``
    dropped or None: a second `send` of a paused issue resumed it behind the editor's back
    (without the dispatch a resume queues)."""
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    assert ledger.pause(session, issue.id)
    session.commit()

    assert not ledger.request_send(session, issue.id)
    session.commit()
    assert _issue(session, issue.id).status == "paused"


def test_a_send_makes_rows_for_this_newsletters_readers_only(session):
    """Mutant of ``ledger.create_deliveries`` (a survivor of `make mutate`): the
    ``Subscription.newsletter_id == issue.newsletter_id`` condition dropped: the readers
    of every newsletter would get this one's issue."""
    ours = factories.subscription(session, "var@example.no")
    elsewhere = factories.subscription(session, "annen@example.no")
    other = Newsletter(slug="et-annet", name="Et annet nyhetsbrev")
    session.add(other)
    session.flush()
    elsewhere.newsletter_id = other.id
    session.flush()
    issue = factories.drafted_issue(session)
    assert ledger.request_send(session, issue.id)
    ledger.create_deliveries(session, issue.id)
    session.commit()

    rows = session.scalars(select(Delivery.subscription_id).where(Delivery.issue_id == issue.id))
    assert list(rows) == [ours.id]
