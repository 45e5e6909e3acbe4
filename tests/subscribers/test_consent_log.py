"""The consent log: every action with time, IP, user agent and channel; the wording and its
version at signup; append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer.subscribers.consent import ConsentLogIsAppendOnly
from mailer.subscribers.models import Consent
from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.reader import (
    counts,
    good_form,
    hidden_fields,
    link_token,
    post_signup_form,
    subscription_of,
)

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

EMAIL = "kari.nordmann@example.no"


@pytest.mark.committed
def test_every_consent_action_is_logged_with_time_ip_agent_and_channel(client, session, rt):
    agent = {"User-Agent": "Lesar/3.0"}
    assert post_signup_form(client, good_form(EMAIL), headers=agent).status_code == 200
    subscription = subscription_of(session, EMAIL)
    assert (
        client.post(
            f"/confirm/{link_token(rt, Purpose.CONFIRM, subscription.id)}", headers=agent
        ).status_code
        == 200
    )
    preferences = f"/preferences/{link_token(rt, Purpose.PREFERENCES, subscription.id)}"
    page = client.get(preferences).get_data(as_text=True)
    saved = client.post(
        preferences,
        data={"csrf_token": hidden_fields(page)["csrf_token"], "name": "K", "language": "nb"},
        headers=agent,
    )
    assert saved.status_code == 200
    assert (
        client.post(
            f"/unsubscribe/{link_token(rt, Purpose.UNSUBSCRIBE, subscription.id)}",
            data={"List-Unsubscribe": "One-Click"},
            headers=agent,
        ).status_code
        == 200
    )

    session.rollback()
    log = session.scalars(
        select(Consent).where(Consent.subscription_id == subscription.id).order_by(Consent.id)
    ).all()
    assert [(c.action, c.channel) for c in log] == [
        ("signup", "web"),
        ("confirm", "web"),
        ("preferences", "web"),
        ("unsubscribe", "one-click"),
    ]
    assert all(c.ip and c.user_agent == "Lesar/3.0" and c.created_at for c in log)
    assert (log[0].text_version, log[0].text) == (
        "2026-11",
        "Ja, send meg nyhetsbrevet. Jeg kan melde meg av når som helst.",
    )


def test_an_unknown_consent_version_is_refused_on_the_consent_field(client, session):
    response = post_signup_form(client, good_form(EMAIL, consent_version="2019-01"))
    assert response.status_code == 400
    assert 'id="consent-error"' in response.get_data(as_text=True)
    assert counts(session)["Subscriber"] == 0


def test_the_consent_log_is_append_only(session):
    subscription = factories.subscription(session, EMAIL)
    confirm_row = Consent(subscription_id=subscription.id, action="signup", text="Ja")
    session.add(confirm_row)
    session.commit()

    confirm_row.text = "Nei"
    with pytest.raises(ConsentLogIsAppendOnly):
        session.flush()
    session.rollback()
    session.delete(session.get(Consent, confirm_row.id))
    with pytest.raises(ConsentLogIsAppendOnly):
        session.flush()
    session.rollback()
    assert session.get(Consent, confirm_row.id).text == "Ja"
