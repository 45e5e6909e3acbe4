"""No enumeration: the form, the API and the new-link page answer byte for byte the same
whatever the database knows about the address."""

from __future__ import annotations

import pytest

from mailer.db import utcnow
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.erasure import erase_subscriber
from mailer.subscribers.subscriptions import (
    MAX_SIGNUPS_PER_ADDRESS,
    SignupRequest,
    subscribe,
    unsubscribe,
)
from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.reader import events, good_form, hidden_fields, link_token, post_signup_form

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

CTX = RequestContext(ip="192.0.2.1", user_agent="tests", channel="web")


def _api(client, email: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/subscribers", json={"email": email, "consent": True})


def _make_states(session, rt) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Addresses in every state the database can know them in."""
    factories.subscription(session, "aktiv@example.no", "Aktiv")
    factories.subscription(session, "venter@example.no", status="pending")
    left = factories.subscription(session, "borte@example.no", status="active")
    session.commit()
    unsubscribe(session, left.id, CTX)
    erased = factories.subscription(session, "slettet@example.no", status="active")
    session.commit()
    erase_subscriber(session, erased.subscriber_id, rt.settings.secret_keys[0], CTX)
    factories.subscription(session, "sprett@example.no", status="bounced")
    session.commit()
    # Signed up more often this hour than is recorded: answered as usual, nothing stored.
    busy = SignupRequest(email="travel@example.no", name="", language="nb", topics=())
    for _ in range(MAX_SIGNUPS_PER_ADDRESS):
        subscribe(session, busy, CTX)
    session.commit()
    return {
        "unknown": "ukjent@example.no",
        "active": "aktiv@example.no",
        "pending": "venter@example.no",
        "unsubscribed": "borte@example.no",
        "erased": "slettet@example.no",
        "bounced": "sprett@example.no",
        "throttled": "travel@example.no",
    }


def test_form_answers_are_identical_for_known_and_unknown_addresses(client, session, rt):
    addresses = _make_states(session, rt)
    answers = {}
    for state, email in addresses.items():
        response = post_signup_form(client, good_form(email))
        answers[state] = (response.status_code, response.get_data(as_text=True))

    assert len(set(answers.values())) == 1, {k: v[0] for k, v in answers.items()}
    assert answers["unknown"][0] == 200


def test_api_answers_are_identical_for_known_and_unknown_addresses(client, session, rt):
    addresses = _make_states(session, rt)
    answers = {}
    for state, email in addresses.items():
        response = _api(client, email)
        answers[state] = (response.status_code, response.get_data(as_text=True))

    assert len(set(answers.values())) == 1
    assert answers["unknown"][0] == 202


def test_new_link_answers_are_identical_whatever_became_of_the_signup(client, session, rt):
    pending = factories.subscription(session, "venter@example.no", status="pending")
    active = factories.subscription(session, "aktiv@example.no")
    recent = factories.subscription(session, "nylig@example.no", status="pending")
    recent.confirmation_sent_at = utcnow()
    session.commit()
    ids = {"pending": pending.id, "active": active.id, "recent": recent.id, "gone": 999_999}
    answers = {}
    csrf = hidden_fields(client.get("/subscribe").get_data(as_text=True))["csrf_token"]
    for state, subscription_id in ids.items():
        token = link_token(rt, Purpose.CONFIRM, subscription_id)
        response = client.post(f"/resend/{token}", data={"csrf_token": csrf})
        answers[state] = (response.status_code, response.get_data(as_text=True))

    assert len(set(answers.values())) == 1
    assert answers["gone"][0] == 200
    assert events(session, "confirmation.resend") == 1  # only the one still waiting, unsent
