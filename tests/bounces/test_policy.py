"""The bounce policy on its own (mailer/bounces/policy.py): what each kind of matched report
does to the reader, judged straight from stored rows (no digest sent, no report parsed),
so that `make mutate` kills its mutants in milliseconds (tests/MUTATION.md). The pipeline
tests (test_pipeline.py) show the same through real reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import select

from mailer.bounces.matching import Match
from mailer.bounces.models import BounceReport
from mailer.bounces.policy import Verdict, apply_policy, soft_score
from mailer.bounces.reactivation import REACTIVATED
from mailer.config_bounces import BounceSettings
from mailer.events import Event
from mailer.issues.models import Issue
from mailer.sending.models import Delivery
from mailer.subscribers.models import Subscription, Suppression
from mailer.subscribers.subscriptions import default_newsletter_id
from mailer.subscribers.suppression import suppression_hash
from tests.conftest import SECRET
from tests.harness import factories

# Domain code only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# Numbers unlike the defaults, so that a setting read from the wrong field shows.
SETTINGS = BounceSettings(soft_score=1.0, threshold=3.0, window_days=10)
_digests = count()


def _report(session, subscription: Subscription, kind: str, received_at=NOW, **detail):
    row = BounceReport(
        source="smtp",
        digest=f"digest-{next(_digests)}",
        kind=kind,
        subscription_id=subscription.id,
        received_at=received_at,
        detail=detail,
    )
    session.add(row)
    session.flush()
    return row


def _judge(session, subscription, kind, *, delivery_id=None, issue_id=None, **detail):
    report = _report(session, subscription, kind, **detail)
    match = Match(delivery_id, subscription.id, issue_id, "verp")
    verdict = apply_policy(session, SETTINGS, SECRET, report, kind, match, NOW)
    session.flush()
    session.expire_all()
    return report, verdict


def _events(session, subscription_id: int) -> list[Event]:
    return list(
        session.scalars(
            select(Event).where(Event.subscription_id == subscription_id).order_by(Event.id)
        )
    )


def _suppressed_as(session, email: str) -> str | None:
    return session.scalar(
        select(Suppression.reason).where(Suppression.email_hash == suppression_hash(email, SECRET))
    )


def _issue(session) -> Issue:
    row = Issue(
        newsletter_id=default_newsletter_id(session),
        subject="Nyhetsbrev",
        period_start=NOW - timedelta(days=7),
        period_end=NOW,
    )
    session.add(row)
    session.flush()
    return row


def _sent_delivery(session, subscription: Subscription, status: str = "sent") -> Delivery:
    row = Delivery(issue_id=_issue(session).id, subscription_id=subscription.id, status=status)
    session.add(row)
    session.flush()
    return row


def test_a_hard_bounce_bounces_and_suppresses_the_reader_and_marks_the_mail(session):
    """Mutants: the delivery not marked (or marked whatever its state, or another's), its
    error not the report's status; the reader not bounced or not suppressed (or under
    another reason); the event's kind, ids, report, match or reason changed."""
    reader = factories.subscription(session, "borte@example.no")
    delivery = _sent_delivery(session, reader)
    other = _sent_delivery(session, factories.subscription(session, "her@example.no"))

    report, verdict = _judge(
        session,
        reader,
        "hard",
        delivery_id=delivery.id,
        issue_id=delivery.issue_id,
        status="5.1.1",
    )

    assert verdict == Verdict("hard", "bounced")
    assert session.get(Subscription, reader.id).status == "bounced"
    assert _suppressed_as(session, "borte@example.no") == "bounced"
    marked = session.get(Delivery, delivery.id)
    assert (marked.status, marked.last_error) == ("bounced", "5.1.1")
    assert session.get(Delivery, other.id).status == "sent"
    [event] = _events(session, reader.id)
    assert (event.kind, event.issue_id) == ("subscription.bounced", delivery.issue_id)
    assert event.data == {
        "report_id": report.id,
        "match": "verp",
        "status": "5.1.1",
        "reason": "hard",
    }


def test_a_hard_bounce_for_a_mail_not_marked_sent_leaves_the_mail(session):
    """Mutant: the ``status == SENT`` guard dropped: a mail that failed (or is still in
    doubt) would be counted as a bounce of a sent mail."""
    reader = factories.subscription(session, "borte@example.no")
    failed = _sent_delivery(session, reader, status="failed")

    _judge(session, reader, "hard", delivery_id=failed.id, status="5.1.1")

    assert session.get(Delivery, failed.id).status == "failed"
    assert session.get(Subscription, reader.id).status == "bounced"


def test_a_hard_bounce_for_a_reader_who_left_suppresses_but_keeps_their_status(session):
    """Mutants: ``_leave`` skips the suppression when the status cannot change, or changes
    it anyway; the event is not told apart ("bounce.hard", not "subscription.bounced");
    the verdict claims a change."""
    reader = factories.subscription(session, "gikk@example.no", status="unsubscribed")

    _, verdict = _judge(session, reader, "hard", status="5.1.1")

    assert verdict == Verdict("hard", None)
    assert session.get(Subscription, reader.id).status == "unsubscribed"
    assert _suppressed_as(session, "gikk@example.no") == "bounced"
    assert [e.kind for e in _events(session, reader.id)] == ["bounce.hard"]


def test_a_complaint_unsubscribes_at_once_and_suppresses(session):
    """Mutants: not complained, ``unsubscribed_at`` not set (or set for a bounce too), not
    suppressed, the event's kind changed."""
    reader = factories.subscription(session, "klager@example.no")

    report, verdict = _judge(session, reader, "complaint", feedback_type="abuse")

    assert verdict == Verdict("complaint", "complained")
    row = session.get(Subscription, reader.id)
    assert (row.status, row.unsubscribed_at) == ("complained", NOW)
    assert _suppressed_as(session, "klager@example.no") == "complained"
    [event] = _events(session, reader.id)
    assert event.kind == "subscription.complained"
    assert event.data == {"report_id": report.id, "match": "verp", "feedback_type": "abuse"}

    # A hard bounce does not stamp unsubscribed_at: the reader did not leave, the mailbox did.
    bounced = factories.subscription(session, "borte@example.no")
    _judge(session, bounced, "hard", status="5.1.1")
    assert session.get(Subscription, bounced.id).unsubscribed_at is None


def test_a_complaint_from_a_reader_who_left_is_only_noted(session):
    reader = factories.subscription(session, "gikk@example.no", status="unsubscribed")

    _, verdict = _judge(session, reader, "complaint")

    assert verdict == Verdict("complaint", None)
    assert session.get(Subscription, reader.id).status == "unsubscribed"
    assert _suppressed_as(session, "gikk@example.no") == "complained"
    assert [e.kind for e in _events(session, reader.id)] == ["bounce.complaint"]


def test_a_policy_refusal_is_only_counted(session):
    """Mutants: a policy refusal (5.7.x: about us) suppresses or changes the reader, or its
    event loses the issue."""
    reader = factories.subscription(session, "her@example.no")
    issue = _issue(session)

    report, verdict = _judge(session, reader, "policy", issue_id=issue.id, status="5.7.1")

    assert verdict == Verdict("policy")
    assert session.get(Subscription, reader.id).status == "active"
    assert _suppressed_as(session, "her@example.no") is None
    [event] = _events(session, reader.id)
    assert (event.kind, event.issue_id) == ("bounce.policy", issue.id)
    assert event.data == {"report_id": report.id, "match": "verp", "status": "5.7.1"}


@pytest.mark.parametrize("kind", ["other", "hard"])
def test_a_report_about_a_row_that_is_gone_or_of_no_kind_changes_nothing(session, kind):
    reader = factories.subscription(session, "her@example.no")
    report = _report(session, reader, kind)
    subscription_id = reader.id if kind == "other" else reader.id + 1000
    match = Match(None, subscription_id, None, "verp")

    assert apply_policy(session, SETTINGS, SECRET, report, kind, match, NOW) == Verdict(kind)
    session.flush()
    assert session.get(Subscription, reader.id).status == "active"
    assert session.scalars(select(Event)).all() == []


def test_soft_bounces_count_once_a_day_within_the_window(session):
    """Mutants of ``soft_score``: every report counted (not one a day), the window's edge
    (``>=`` → ``>``, ``-`` → ``+``), another kind counted, another reader's reports
    counted, the score setting not used."""
    reader = factories.subscription(session, "full@example.no")
    neighbour = factories.subscription(session, "nabo@example.no")
    window = NOW - timedelta(days=SETTINGS.window_days)
    _report(session, reader, "soft", received_at=window)  # the window's first instant
    _report(session, reader, "soft", received_at=window - timedelta(days=1))
    _report(session, reader, "soft", received_at=NOW - timedelta(days=2, hours=1))
    _report(session, reader, "soft", received_at=NOW - timedelta(days=2))  # the same day
    _report(session, reader, "hard", received_at=NOW - timedelta(days=1))
    _report(session, neighbour, "soft", received_at=NOW - timedelta(days=3))

    assert soft_score(session, SETTINGS, reader.id, NOW) == 2 * SETTINGS.soft_score
    assert soft_score(session, SETTINGS, neighbour.id, NOW) == SETTINGS.soft_score


def test_soft_scores_start_again_from_the_editors_last_reactivation(session):
    """Mutants: the reactivation ignored, the first one taken instead of the last
    (``desc`` dropped), another reader's taken, another kind of event taken (a survivor of
    `make mutate`), one from before the window moving the window back (``>`` → ``<``)."""
    reader = factories.subscription(session, "full@example.no")
    neighbour = factories.subscription(session, "nabo@example.no")
    for days_ago in (12, 9, 7, 5, 3, 1):  # the first is older than the window
        _report(session, reader, "soft", received_at=NOW - timedelta(days=days_ago))
    assert soft_score(session, SETTINGS, reader.id, NOW) == 5.0

    def reactivated(subscription_id: int, days_ago: float) -> None:
        session.add(
            Event(
                kind=REACTIVATED,
                subscription_id=subscription_id,
                created_at=NOW - timedelta(days=days_ago),
            )
        )
        session.flush()

    reactivated(reader.id, 40)  # before the window: the window holds
    assert soft_score(session, SETTINGS, reader.id, NOW) == 5.0
    reactivated(reader.id, 6)
    assert soft_score(session, SETTINGS, reader.id, NOW) == 3.0
    reactivated(reader.id, 2)  # the last one counts
    assert soft_score(session, SETTINGS, reader.id, NOW) == 1.0
    reactivated(neighbour.id, 0)  # another reader's
    assert soft_score(session, SETTINGS, reader.id, NOW) == 1.0
    # The reader's own later events of other kinds do not move the window.
    session.add(Event(kind="bounce.soft", subscription_id=reader.id, created_at=NOW))
    session.flush()
    assert soft_score(session, SETTINGS, reader.id, NOW) == 1.0


def test_a_soft_bounce_reaching_the_threshold_bounces_the_reader(session):
    """Mutants: ``>=`` → ``>`` at the threshold, the score left out of the events or the
    verdict, the reason changed."""
    reader = factories.subscription(session, "full@example.no")
    for days_ago in (2, 1):
        _report(session, reader, "soft", received_at=NOW - timedelta(days=days_ago))

    report, verdict = _judge(session, reader, "soft")

    assert verdict == Verdict("soft", "bounced", 3.0)
    assert session.get(Subscription, reader.id).status == "bounced"
    assert _suppressed_as(session, "full@example.no") == "bounced"
    events = {e.kind: e.data for e in _events(session, reader.id)}
    assert events["bounce.soft"] == {"report_id": report.id, "match": "verp", "score": 3.0}
    assert events["subscription.bounced"] == {
        "report_id": report.id,
        "match": "verp",
        "reason": "score",
        "score": 3.0,
    }


def test_a_soft_bounce_below_the_threshold_only_scores(session):
    reader = factories.subscription(session, "full@example.no")
    _report(session, reader, "soft", received_at=NOW - timedelta(days=1))

    _, verdict = _judge(session, reader, "soft")

    assert verdict == Verdict("soft", None, 2.0)
    assert session.get(Subscription, reader.id).status == "active"
    assert _suppressed_as(session, "full@example.no") is None
    assert [e.kind for e in _events(session, reader.id)] == ["bounce.soft"]


def test_a_soft_bounce_at_the_threshold_for_a_reader_who_left_records_no_change(session):
    reader = factories.subscription(session, "full@example.no", status="unsubscribed")
    for days_ago in (2, 1):
        _report(session, reader, "soft", received_at=NOW - timedelta(days=days_ago))

    _, verdict = _judge(session, reader, "soft")

    assert verdict == Verdict("soft", None, 3.0)
    assert session.get(Subscription, reader.id).status == "unsubscribed"
    assert [e.kind for e in _events(session, reader.id)] == ["bounce.soft"]
