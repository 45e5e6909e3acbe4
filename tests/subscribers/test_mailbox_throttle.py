"""Issue 9, item 12: one confirmation mail an hour per mailbox (lower case, sub-address
tag removed), and a repeat signup for a pending address never rewrites the reader."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mailer.db import utcnow
from mailer.subscribers.addresses import mailbox
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.subscriptions import (
    CONFIRMATION_RESEND_INTERVAL,
    SignupRequest,
    confirm,
    request_new_confirmation,
    subscribe,
    unsubscribe,
)

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

CTX = RequestContext(ip="192.0.2.10", user_agent="test", channel="api")


def _request(email: str, name: str = "", language: str = "nb", topics=("Klima",)):
    return SignupRequest(email=email, name=name, language=language, topics=tuple(topics))


def _sent(session, email: str, **kw) -> bool:
    outcome = subscribe(session, _request(email, **kw), CTX)
    session.commit()
    return outcome.send_confirmation


def _an_hour_ago(session) -> None:
    past = utcnow() - CONFIRMATION_RESEND_INTERVAL - timedelta(minutes=1)
    session.execute(update(Subscription).values(confirmation_sent_at=past))
    session.commit()


@pytest.mark.parametrize(
    ("address", "box"),
    [
        ("bomb@example.no", "bomb@example.no"),
        ("bomb+1@example.no", "bomb@example.no"),
        ("bomb+a+b@example.no", "bomb@example.no"),
        ("+tag@example.no", "+tag@example.no"),
        ("b_o%mb+x@example.no", "b_o%mb@example.no"),
    ],
)
def test_mailbox_drops_the_tag(address, box):
    assert mailbox(address) == box


def test_tagged_addresses_of_one_mailbox_get_one_confirmation_an_hour(session):
    assert _sent(session, "bomb+1@example.no") is True
    for address in ("bomb+2@example.no", "bomb@example.no", "bomb+3@example.no"):
        assert _sent(session, address) is False, address
    # Other mailboxes are not held back: another local part, another domain, a LIKE
    # wildcard in the local part.
    assert _sent(session, "bomber@example.no") is True
    assert _sent(session, "bomb+1@example.org") is True
    assert _sent(session, "b_mb+1@example.no") is True
    assert _sent(session, "b_mb+2@example.no") is False
    assert _sent(session, "bxmb+1@example.no") is True

    _an_hour_ago(session)
    assert _sent(session, "bomb+4@example.no") is True
    assert _sent(session, "bomb+5@example.no") is False


def test_a_new_link_asked_for_counts_against_the_mailbox_too(session):
    first = subscribe(session, _request("leser+a@example.no"), CTX)
    second = subscribe(session, _request("leser+b@example.no"), CTX)
    session.commit()
    assert (first.send_confirmation, second.send_confirmation) == (True, False)
    _an_hour_ago(session)
    assert request_new_confirmation(session, second.subscription_id) is True
    session.commit()
    assert request_new_confirmation(session, first.subscription_id) is False


def _reader(session, email: str) -> tuple[Subscriber, Subscription]:
    session.expire_all()
    subscriber = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
    return subscriber, subscriber.subscriptions[0]


def test_a_repeat_signup_never_rewrites_a_pending_reader(session):
    assert _sent(session, "per@example.no", name="Per", topics=("Klima",)) is True
    _an_hour_ago(session)  # even when it is allowed to send a new confirmation
    assert _sent(
        session, "per@example.no", name="Klikk her: evil.example", language="en", topics=()
    )
    assert _sent(session, "per@example.no", name="", language="en", topics=("Forskning",)) is False
    subscriber, subscription = _reader(session, "per@example.no")
    assert (subscriber.name, subscriber.language, subscription.topics) == ("Per", "nb", ["Klima"])


def test_the_api_does_not_rewrite_a_pending_reader(client, session):
    body = {"email": "kari@example.no", "name": "Kari", "consent": True, "topics": ["Klima"]}
    assert client.post("/api/v1/subscribers", json=body).status_code == 202
    other = {**body, "name": "Noen andre", "language": "en", "topics": ["Forskning"]}
    assert client.post("/api/v1/subscribers", json=other).status_code == 202
    subscriber, subscription = _reader(session, "kari@example.no")
    assert (subscriber.name, subscriber.language, subscription.topics) == ("Kari", "nb", ["Klima"])


def test_a_former_reader_signing_up_again_gives_new_choices(session):
    """Leaving and coming back is a new consent: its name, language and topics count."""
    first = subscribe(session, _request("ola@example.no", name="Ola"), CTX)
    session.commit()
    confirm(session, first.subscription_id, CTX)
    unsubscribe(session, first.subscription_id, CTX)
    session.commit()
    assert _sent(session, "ola@example.no", name="Ola N.", language="en", topics=("Forskning",))
    subscriber, subscription = _reader(session, "ola@example.no")
    assert subscription.status == "pending"
    assert (subscriber.name, subscriber.language, subscription.topics) == (
        "Ola N.",
        "en",
        ["Forskning"],
    )


STORED = ["bomb@x.no", "bomb+1@x.no", "+solo@x.no", "a+b+c@y.no", "other@x.no"]
ASKED = ["bomb+9@x.no", "bomb@x.no", "+solo@x.no", "+solo+2@x.no", "a@y.no", "a+z@y.no"]
ASKED += ["bom@x.no", "bomb@y.no", "b@y.no", "other+1@x.no", "solo@x.no"]


def test_the_mailbox_look_up_is_mailbox_on_either_database(rt, session):
    """The database's look-up (on PostgreSQL through the index on each reader's mailbox,
    models.mailbox_sql) answers as mailbox() in Python, for tagged, untagged and odd
    addresses; on PostgreSQL the index serves the look-up. Mutant: a pattern in
    mailbox_sql that keeps the tag (or one the index does not match) fails it."""
    from mailer.subscribers.subscriptions import mailbox_mailed_since

    for email in STORED:
        session.add(
            Subscription(
                subscriber=Subscriber(email=email),
                newsletter_id=1,
                status="pending",
                confirmation_sent_at=utcnow(),
            )
        )
    session.flush()
    since = utcnow() - CONFIRMATION_RESEND_INTERVAL
    for email in ASKED:
        expected = any(mailbox(stored) == mailbox(email) for stored in STORED)
        assert mailbox_mailed_since(session, email, since) is expected, email
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        from mailer.subscribers.subscriptions import _mailbox_mailed

        # The tables are tiny here, so the planner would read them whole: told not to, it
        # can only answer through an index that matches the query's expression.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        query = select(_mailbox_mailed("bomb+2@x.no", since, postgresql=True))
        compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))
        assert "ix_subscriber_mailbox" in plan, plan
