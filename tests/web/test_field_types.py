"""Issue 9, item 14: the subscriber filter finds topics with æ, ø and å, and the signup
API refuses a field of the wrong JSON type (400 naming it) instead of storing str(value)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mailer.editors.api_tokens import create_token
from mailer.subscribers.directory import Filters, search
from mailer.subscribers.models import Subscriber
from mailer.subscribers.subscriptions import default_newsletter
from tests.harness import factories
from tests.harness.admin import EDITOR, log_in, make_editors

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

TOPICS = ["Miljø og natur", "Næringsliv", "Åpne data", "Klima"]


def _readers(session) -> None:
    default_newsletter(session).topics = TOPICS
    chosen = {
        "miljo@example.no": ["Miljø og natur"],
        "begge@example.no": ["Næringsliv", "Miljø og natur"],
        "aapne@example.no": ["Åpne data"],
        "klima@example.no": ["Klima"],
    }
    for email, topics in chosen.items():
        factories.subscription(session, email).topics = topics
    session.commit()


def test_the_filter_finds_topics_with_non_ascii_letters(session):
    _readers(session)
    found = {t: {r.email for r in search(session, Filters(topic=t)).rows} for t in TOPICS}
    assert found == {
        "Miljø og natur": {"miljo@example.no", "begge@example.no"},
        "Næringsliv": {"begge@example.no"},
        "Åpne data": {"aapne@example.no"},
        "Klima": {"klima@example.no"},
    }
    # A topic is matched whole: no part of another one.
    assert search(session, Filters(topic="Miljø")).total == 0


def test_the_api_and_the_admin_filter_by_a_non_ascii_topic(client, session):
    _readers(session)
    editors = make_editors(session)
    token = create_token(session, EDITOR)
    session.commit()
    reply = client.get(
        "/api/v1/subscribers",
        query_string={"topic": "Miljø og natur"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200
    assert {s["email"] for s in reply.get_json()["subscribers"]} == {
        "miljo@example.no",
        "begge@example.no",
    }
    log_in(client, editors["admin"])
    page = client.get("/admin/subscribers", query_string={"topic": "Åpne data"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "aapne@example.no" in html and "klima@example.no" not in html


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 12345),
        ("name", ["Kari"]),
        ("name", {"first": "Kari"}),
        ("name", True),
        ("email", 42),
        ("email", ["kari@example.no"]),
        ("language", ["nb"]),
        ("language", 1),
        ("topics", "Klima"),
        ("topics", [["Klima"]]),
        ("topics", [1]),
        ("topics", {"Klima": True}),
        ("consent", ["on"]),
        ("consent", {"yes": True}),
        ("consent_version", ["2026-11"]),
    ],
)
def test_a_signup_field_of_the_wrong_type_is_a_400_naming_it(client, session, field, value):
    body = {"email": "kari@example.no", "name": "Kari", "consent": True, field: value}
    reply = client.post("/api/v1/subscribers", json=body)
    assert reply.status_code == 400, reply.get_json()
    assert field in reply.get_json()["errors"]
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
