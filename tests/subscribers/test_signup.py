"""Signup through the form, the JSON API and the domain function, on the real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.db import utcnow
from mailer.subscribers.consent import CONSENT_TEXT, RequestContext
from mailer.subscribers.models import Consent, Subscriber, Subscription
from mailer.subscribers.subscriptions import (
    CONFIRMATION_RESEND_INTERVAL,
    SignupRequest,
    confirm,
    subscribe,
    unsubscribe,
)
from tests.harness.pages import csrf_token
from tests.harness.reader import good_form

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) mailer-tests/1.0"
CTX = RequestContext(ip="192.0.2.10", user_agent=USER_AGENT, channel="web")

# Every part within its own limit; only the whole (300 characters) is too long.
LONG_EMAIL = "a" * 64 + "@" + "".join(c * 63 + "." for c in "bcd") + "e" * 40 + ".no"
assert len(LONG_EMAIL) == 300

# Each case: the field that must be reported, and what to change in an otherwise good signup
# (None removes the field from the request).
BAD_FORM_INPUT: list[tuple[str, str, dict[str, Any]]] = [
    ("missing-email", "email", {"email": None}),
    ("empty-email", "email", {"email": "   "}),
    ("malformed-email", "email", {"email": "ingrid.example.no"}),
    ("300-char-email", "email", {"email": LONG_EMAIL}),
    ("consent-unticked", "consent", {"consent": None}),
    ("crlf-in-name", "name", {"name": "Kåre\r\nBcc: x@y.no"}),
    ("10kb-name", "name", {"name": "Å" * 10 * 1024}),
    ("unknown-language", "language", {"language": "xx"}),
    ("unknown-topic", "topics", {"topics": ["Klima", "Sport"]}),
]

BAD_API_INPUT: list[tuple[str, str, dict[str, Any]]] = [
    *BAD_FORM_INPUT,
    ("consent-false", "consent", {"consent": False}),
    ("email-not-a-string", "email", {"email": ["ingrid@example.no"]}),
    ("topics-not-a-list", "topics", {"topics": {"Klima": True}}),
    ("topic-not-a-string", "topics", {"topics": [7]}),
]


def _good(email: str = "ingrid@example.no", **changes: Any) -> dict[str, Any]:
    return good_form(email, **changes)


def _form_page(client) -> tuple[str, str]:
    page = client.get("/subscribe")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return html, csrf_token(html)


def _post_form(client, data: dict[str, Any], headers: dict[str, str] | None = None):
    _, token = _form_page(client)
    return client.post("/subscribe", data={**data, "csrf_token": token}, headers=headers or {})


def _post_api(client, data: Any):
    return client.post("/api/v1/subscribers", json=data)


def _counts(session: Session) -> dict[str, int]:
    session.rollback()  # end any open snapshot: see what the requests committed
    return {
        model.__name__: session.scalar(select(func.count()).select_from(model))
        for model in (Subscriber, Subscription, Consent)
    }


NOTHING = {"Subscriber": 0, "Subscription": 0, "Consent": 0}


def _subscription(session: Session, email: str) -> Subscription:
    session.rollback()
    return session.scalars(
        select(Subscription).join(Subscriber).where(Subscriber.email == email)
    ).one()


def _summary_items(html: str) -> int:
    summary = html.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    return summary.count("<li>")


# --- bad input through the form -----------------------------------------------------------


FIELD_LABELS = {
    "email": "E-postadresse",
    "name": "Navn",
    "language": "Språk",
    "topics": "Temaer",
    "consent": "Samtykke",
}


@pytest.mark.parametrize(
    ("field", "changes"),
    [(field, changes) for _, field, changes in BAD_FORM_INPUT],
    ids=[case for case, _, _ in BAD_FORM_INPUT],
)
def test_form_rejects_bad_input_and_stores_nothing(client, session, field, changes):
    response = _post_form(client, _good(**changes))

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    # The summary names the field as its label does (issue 12 item 8), not by its key.
    assert f'<a href="#{field}">{FIELD_LABELS[field]}: ' in html
    assert f'id="{field}-error"' in html
    assert _summary_items(html) == 1, html  # only the bad field is reported
    assert "Sjekk e-posten din" not in html
    assert _counts(session) == NOTHING


def test_form_reports_every_bad_field_at_once(client, session):
    response = _post_form(client, _good(email="nei", name="a\nb", consent=None, topics=["Sport"]))

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for field in ("email", "name", "consent", "topics"):
        assert f'<a href="#{field}">{FIELD_LABELS[field]}: ' in html
    assert _summary_items(html) == 4
    assert _counts(session) == NOTHING


@pytest.mark.parametrize("token", ["wrong-token", None], ids=["wrong", "missing"])
def test_form_without_valid_csrf_token_is_refused(client, session, token):
    _form_page(client)  # the session cookie with a real token is there; the form lacks it
    data = _good()
    if token is not None:
        data["csrf_token"] = token

    response = client.post("/subscribe", data=data)

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'data-field="csrf_token"' in html
    assert "Sjekk e-posten din" not in html
    assert _counts(session) == NOTHING


def test_csrf_token_from_another_session_is_refused(app, client, session):
    other = app.test_client()
    _, foreign_token = _form_page(other)
    _form_page(client)

    response = client.post("/subscribe", data={**_good(), "csrf_token": foreign_token})

    assert response.status_code == 400
    assert 'data-field="csrf_token"' in response.get_data(as_text=True)
    assert _counts(session) == NOTHING


# --- bad input through the API ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("email=ingrid@example.no&consent=on", "text/plain"),
        ('{"email": "ingrid@example.no", "consent": true', "application/json"),
        ('[{"email": "ingrid@example.no", "consent": true}]', "application/json"),
        ('"ingrid@example.no"', "application/json"),
    ],
    ids=["plain-text", "broken-json", "json-list", "json-string"],
)
def test_api_refuses_a_body_that_is_not_a_json_object(client, session, body, content_type):
    response = client.post("/api/v1/subscribers", data=body, content_type=content_type)

    assert response.status_code == 400
    assert response.is_json
    assert set(response.get_json()["errors"]) == {"body"}
    assert _counts(session) == NOTHING


def test_api_refuses_a_json_list(client, session):
    response = _post_api(client, [_good(consent=True)])

    assert response.status_code == 400
    assert response.get_json()["errors"]["body"]
    assert _counts(session) == NOTHING


@pytest.mark.parametrize(
    ("field", "changes"),
    [(field, changes) for _, field, changes in BAD_API_INPUT],
    ids=[case for case, _, _ in BAD_API_INPUT],
)
def test_api_rejects_bad_field_and_stores_nothing(client, session, field, changes):
    data = _good(consent=True)
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}

    response = _post_api(client, data)

    assert response.status_code == 400
    assert response.is_json
    errors = response.get_json()["errors"]
    assert set(errors) == {field}
    assert isinstance(errors[field], str) and errors[field]
    assert _counts(session) == NOTHING


def test_api_accepts_the_good_body_used_by_the_bad_cases(client, session):
    # The control for the cases above: without the one bad field the same body is stored.
    response = _post_api(client, _good(consent=True))

    assert response.status_code == 202
    assert _counts(session) == {"Subscriber": 1, "Subscription": 1, "Consent": 1}


# --- a good signup ------------------------------------------------------------------------


def test_good_form_signup_stores_punycode_address_pending_subscription_and_consent(client, session):
    response = _post_form(
        client,
        _good(
            email="Kare@Ødegård.Example.no",
            name="Kåre Ødegård",
            topics=["Klima", "Forskning"],
        ),
        headers={"User-Agent": USER_AGENT},
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Sjekk e-posten din" in response.get_data(as_text=True)
    session.rollback()
    subscriber = session.scalars(select(Subscriber)).one()
    assert subscriber.email == "kare@xn--degrd-ora3k.example.no"
    assert subscriber.email.isascii() and subscriber.email == subscriber.email.lower()
    assert subscriber.name == "Kåre Ødegård"
    assert subscriber.language == "nb"

    subscription = session.scalars(select(Subscription)).one()
    assert subscription.subscriber_id == subscriber.id
    assert subscription.status == "pending"
    assert subscription.topics == ["Klima", "Forskning"]
    assert subscription.confirmed_at is None
    assert subscription.confirmation_sent_at is not None

    consent = session.scalars(select(Consent)).one()
    assert consent.subscription_id == subscription.id
    assert consent.action == "signup"
    assert consent.text == CONSENT_TEXT
    assert consent.text_version.strip()
    assert consent.channel == "web"
    assert consent.user_agent == USER_AGENT
    assert consent.ip  # the test client's remote address


def test_good_api_signup_records_api_channel(client, session):
    response = client.post(
        "/api/v1/subscribers",
        json={"email": "per@ødegård.example.no", "name": "Per", "consent": True},
        headers={"User-Agent": USER_AGENT},
    )

    assert response.status_code == 202
    subscription = _subscription(session, "per@xn--degrd-ora3k.example.no")
    assert subscription.status == "pending"
    consent = session.scalars(select(Consent)).one()
    assert (consent.action, consent.channel, consent.user_agent) == ("signup", "api", USER_AGENT)
    assert consent.text == CONSENT_TEXT


# --- no enumeration -----------------------------------------------------------------------


def _make_active(session: Session, email: str) -> None:
    subscription = _subscription(session, email)
    confirm(session, subscription.id, CTX)
    session.commit()
    assert _subscription(session, email).status == "active"


def _make_unsubscribed(session: Session, email: str) -> None:
    subscription = _subscription(session, email)
    unsubscribe(session, subscription.id, CTX)
    session.commit()
    assert _subscription(session, email).status == "unsubscribed"


@pytest.mark.committed
def test_api_answer_is_the_same_for_new_pending_active_and_unsubscribed(client, session):
    def signup(email: str) -> tuple[int, Any]:
        response = _post_api(client, _good(email, consent=True))
        return response.status_code, response.get_json()

    new = signup("ny@example.no")
    assert new[0] == 202
    assert _subscription(session, "ny@example.no").status == "pending"

    pending = signup("ny@example.no")

    assert signup("aktiv@example.no") == new
    _make_active(session, "aktiv@example.no")
    active = signup("aktiv@example.no")
    assert _subscription(session, "aktiv@example.no").status == "active"

    assert signup("borte@example.no") == new
    _make_unsubscribed(session, "borte@example.no")
    former = signup("borte@example.no")
    assert _subscription(session, "borte@example.no").status == "pending"

    assert pending == new
    assert active == new
    assert former == new


@pytest.mark.committed
def test_form_answer_is_the_same_for_new_pending_active_and_unsubscribed(client, session):
    seen_tokens: list[str] = []

    def signup(email: str) -> tuple[int, str]:
        _, token = _form_page(client)
        seen_tokens.append(token)
        response = client.post("/subscribe", data={**_good(email), "csrf_token": token})
        return response.status_code, response.get_data(as_text=True)

    new = signup("ny@example.no")
    assert new[0] == 200
    assert "Sjekk e-posten din" in new[1]
    assert _subscription(session, "ny@example.no").status == "pending"

    pending = signup("ny@example.no")

    assert signup("aktiv@example.no") == new
    _make_active(session, "aktiv@example.no")
    active = signup("aktiv@example.no")
    assert _subscription(session, "aktiv@example.no").status == "active"

    assert signup("borte@example.no") == new
    _make_unsubscribed(session, "borte@example.no")
    former = signup("borte@example.no")
    assert _subscription(session, "borte@example.no").status == "pending"

    assert pending == new
    assert active == new
    assert former == new
    # The done page carries nothing per request that could differ between the cases.
    assert "csrf_token" not in new[1]
    assert all(token not in new[1] for token in seen_tokens)


# --- repeat signups (domain function) -----------------------------------------------------


def _request(email: str = "per@example.no", name: str = "Per") -> SignupRequest:
    return SignupRequest(email=email, name=name, language="nb", topics=("Klima",))


def test_repeat_signup_while_pending_sends_confirmation_once_an_hour(session):
    outcomes = []
    for _ in range(3):
        outcomes.append(subscribe(session, _request(), CTX))
        session.commit()

    assert [o.send_confirmation for o in outcomes] == [True, False, False]
    assert len({o.subscription_id for o in outcomes}) == 1
    assert _counts(session) == {"Subscriber": 1, "Subscription": 1, "Consent": 3}

    # Once the hour has passed since the last mail, the next signup sends again.
    subscription = _subscription(session, "per@example.no")
    subscription.confirmation_sent_at = (
        utcnow() - CONFIRMATION_RESEND_INTERVAL - timedelta(minutes=1)
    )
    session.commit()
    assert subscribe(session, _request(), CTX).send_confirmation is True
    session.commit()
    assert subscribe(session, _request(), CTX).send_confirmation is False


def test_repeat_signup_while_active_sends_nothing_and_changes_nothing(session):
    first = subscribe(session, _request(), CTX)
    session.commit()
    confirm(session, first.subscription_id, CTX)
    session.commit()
    subscription = _subscription(session, "per@example.no")
    subscription.confirmation_sent_at = utcnow() - timedelta(days=2)
    session.commit()

    again = subscribe(session, _request(name="Someone Else"), CTX)
    session.commit()

    assert again.send_confirmation is False
    assert again.subscription_id == first.subscription_id
    subscription = _subscription(session, "per@example.no")
    assert subscription.status == "active"
    assert subscription.subscriber.name == "Per"


@pytest.mark.parametrize("confirmed_first", [False, True], ids=["from-pending", "from-active"])
def test_signup_after_unsubscribe_goes_back_to_pending_and_sends(session, confirmed_first):
    first = subscribe(session, _request(), CTX)
    session.commit()
    assert first.send_confirmation is True
    if confirmed_first:
        confirm(session, first.subscription_id, CTX)
        session.commit()
    unsubscribe(session, first.subscription_id, CTX)
    session.commit()
    assert _subscription(session, "per@example.no").status == "unsubscribed"

    again = subscribe(session, _request(), CTX)
    session.commit()

    assert again.subscription_id == first.subscription_id
    assert again.send_confirmation is True
    subscription = _subscription(session, "per@example.no")
    assert subscription.status == "pending"
    # And the usual once-an-hour rule applies again from here.
    assert subscribe(session, _request(), CTX).send_confirmation is False
    session.commit()
    actions = session.scalars(
        select(Consent.action).where(Consent.subscription_id == first.subscription_id)
    ).all()
    assert sorted(actions) == sorted(
        ["signup", "unsubscribe", "signup", "signup"] + (["confirm"] if confirmed_first else [])
    )
