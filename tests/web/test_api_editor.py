"""The editors' JSON API beyond the send lifecycle: issues (list, draft, edit),
subscribers (search, one), articles (list, hide). Bearer tokens; errors name the field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer.articles.models import Article
from mailer.editors.accounts import create_editor
from mailer.editors.api_tokens import create_token
from mailer.events import Event
from mailer.issues.models import Issue
from tests.harness import factories
from tests.harness.admin import log_in

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back


@pytest.fixture
def headers(session) -> dict[str, str]:
    create_editor(session, "redaktor@example.no", "et langt passord")
    token = create_token(session, "redaktor@example.no")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_every_new_endpoint_needs_a_token(client, session):
    for method, path in (
        ("get", "/api/v1/issues"),
        ("post", "/api/v1/issues"),
        ("patch", "/api/v1/issues/1"),
        ("get", "/api/v1/subscribers"),
        ("get", "/api/v1/subscribers/1"),
        ("get", "/api/v1/articles"),
        ("post", "/api/v1/articles/1/hide"),
    ):
        response = getattr(client, method)(path, headers={"Authorization": "Bearer mlr_nope"})
        assert response.status_code == 401, path


def test_draft_list_and_edit_an_issue(client, session, headers):
    assert client.post("/api/v1/issues", headers=headers).status_code == 409  # nothing new
    for i in range(3):
        factories.article(session, f"a{i}", f"Sak {i}", days_ago=i + 1)
    extra = factories.article(session, "ekstra", "Ekstra", days_ago=70)
    session.commit()
    drafted = client.post("/api/v1/issues", headers=headers)
    assert drafted.status_code == 201
    issue = drafted.get_json()
    assert issue["status"] == "draft" and len(issue["article_ids"]) == 3

    listed = client.get("/api/v1/issues", headers=headers).get_json()["issues"]
    assert [i["id"] for i in listed] == [issue["id"]]
    assert listed[0]["counts"]["sent"] == 0

    order = [*reversed(issue["article_ids"][1:]), extra.id]
    edited = client.patch(
        f"/api/v1/issues/{issue['id']}",
        json={"subject": "Mars fra Brussel", "intro": "**Hei**", "article_ids": order},
        headers=headers,
    )
    assert edited.status_code == 200, edited.get_json()
    body = edited.get_json()
    assert (body["subject"], body["intro"], body["article_ids"]) == (
        "Mars fra Brussel",
        "**Hei**",
        order,
    )
    shown = client.get(f"/api/v1/issues/{issue['id']}", headers=headers).get_json()
    assert shown["article_ids"] == order and shown["status"] == "draft"
    kinds = set(session.scalars(select(Event.kind)))
    assert {"api.draft", "api.edit"} <= kinds


@pytest.mark.parametrize(
    "body, field, status",
    [
        ({"subject": ""}, "subject", 400),
        ({"subject": 7}, "subject", 400),
        ({"article_ids": [987654]}, "article_id", 400),
        ({"article_ids": "1,2"}, "article_ids", 400),
        ({"article_ids": []}, "article_ids", 400),
        ({"colour": "blue"}, "colour", 400),
    ],
)
def test_bad_edits_name_the_field_and_change_nothing(client, session, headers, body, field, status):
    issue = factories.drafted_issue(session)
    before = [i.article_id for i in issue.items]
    response = client.patch(f"/api/v1/issues/{issue.id}", json=body, headers=headers)
    assert response.status_code == status
    errors = response.get_json()["errors"]
    assert field in errors
    if field == "subject" and body["subject"] == "":
        assert errors["subject"] == "The subject cannot be empty."
    session.expire_all()
    again = session.get(Issue, issue.id)
    assert again.subject == "" and [i.article_id for i in again.items] == before


def test_editing_a_sending_issue_is_a_409(client, session, headers):
    issue = factories.drafted_issue(session)
    client.post(f"/api/v1/issues/{issue.id}/send", headers=headers)
    response = client.patch(f"/api/v1/issues/{issue.id}", json={"subject": "x"}, headers=headers)
    assert response.status_code == 409 and "status" in response.get_json()["errors"]
    assert client.patch("/api/v1/issues/987654", json={}, headers=headers).status_code == 404


def test_search_and_read_subscribers(client, session, headers):
    kare = factories.subscription(session, "kare@example.no", "Kåre Ødegård")
    factories.subscription(session, "ingrid@example.no", "Ingrid", status="pending")
    session.commit()
    found = client.get("/api/v1/subscribers?q=kåre", headers=headers).get_json()
    assert [s["email"] for s in found["subscribers"]] == ["kare@example.no"]
    pending = client.get("/api/v1/subscribers?state=pending", headers=headers).get_json()
    assert [s["email"] for s in pending["subscribers"]] == ["ingrid@example.no"]
    bad = client.get("/api/v1/subscribers?state=nope&page=0", headers=headers)
    assert bad.status_code == 400 and set(bad.get_json()["errors"]) == {"state", "page"}
    one = client.get(f"/api/v1/subscribers/{kare.subscriber_id}", headers=headers).get_json()
    assert one["email"] == "kare@example.no" and one["subscriptions"][0]["status"] == "active"
    assert one["suppressed"] is False
    missing = client.get("/api/v1/subscribers/987654", headers=headers)
    assert missing.status_code == 404 and "subscriber_id" in missing.get_json()["errors"]


def test_list_and_hide_articles(client, session, headers):
    article = factories.article(session, "a", "Sak")
    session.commit()
    listed = client.get("/api/v1/articles", headers=headers).get_json()
    assert [a["id"] for a in listed["articles"]] == [article.id]
    hidden = client.post(f"/api/v1/articles/{article.id}/hide", headers=headers)
    assert hidden.status_code == 200 and hidden.get_json()["hidden"] is True
    session.expire_all()
    assert session.get(Article, article.id).hidden is True
    shown = client.post(f"/api/v1/articles/{article.id}/show", headers=headers)
    assert shown.get_json()["hidden"] is False
    assert client.post("/api/v1/articles/987654/hide", headers=headers).status_code == 404
    assert client.get("/api/v1/articles?page=x", headers=headers).status_code == 400


@pytest.mark.parametrize("stored", ["leser@intranett", "Leser..Ødegård@example.no"])
def test_a_stored_address_the_validator_now_refuses_still_reads(client, session, headers, stored):
    """An address stored before (an old import, a rule email-validator has since tightened)
    is shown as stored, on the API and the admin page, never a 500."""
    row = factories.subscription(session, stored, "Gammel leser")
    session.commit()
    one = client.get(f"/api/v1/subscribers/{row.subscriber_id}", headers=headers)
    assert one.status_code == 200, one.get_data(as_text=True)[:300]
    assert one.get_json()["email"] == stored
    assert one.get_json()["suppressed"] is False
    admin = create_editor(session, "admin@example.no", "et langt passord", role="admin")
    session.commit()
    page = log_in(client.application.test_client(), admin.id).get(
        f"/admin/subscribers/{row.subscriber_id}"
    )
    assert page.status_code == 200 and "Gammel leser" in page.get_data(as_text=True)
