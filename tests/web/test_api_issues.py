"""The editors' JSON API for an issue: token auth, progress, lifecycle."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer.editors.accounts import create_editor
from mailer.editors.api_tokens import create_token
from mailer.editors.models import ApiToken
from mailer.events import Event
from tests.harness import factories

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back


def _token(session) -> dict[str, str]:
    create_editor(session, "redaktor@example.no", "et langt passord")
    token = create_token(session, "redaktor@example.no")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_requires_a_valid_bearer_token(client, session):
    issue = factories.drafted_issue(session)
    _token(session)
    for headers in ({}, {"Authorization": "Bearer mlr_wrong"}, {"Authorization": "Basic eA=="}):
        response = client.get(f"/api/v1/issues/{issue.id}", headers=headers)
        assert response.status_code == 401
        assert "authorization" in response.get_json()["errors"]
        assert client.post(f"/api/v1/issues/{issue.id}/pause", headers=headers).status_code == 401


def test_tokens_are_stored_hashed(session):
    headers = _token(session)
    plaintext = headers["Authorization"].split()[1]
    stored = session.scalars(select(ApiToken.token_hash)).one()
    assert plaintext not in stored and len(stored) == 64


def test_progress_lifecycle_and_audit(client, session, smtp_sink):
    # A running worker must not finish the send while the test pauses and cancels it.
    smtp_sink.hold()
    factories.subscription(session, "a@example.no")
    factories.subscription(session, "b@example.no")
    issue = factories.drafted_issue(session)
    headers = _token(session)

    body = client.get(f"/api/v1/issues/{issue.id}", headers=headers).get_json()
    assert (body["status"], body["total"]) == ("draft", 0)
    assert body["subject"].startswith("Nyhetsbrev ")

    # Pause is refused for a draft: a clear 409 naming the state.
    refused = client.post(f"/api/v1/issues/{issue.id}/pause", headers=headers)
    assert refused.status_code == 409 and "draft" in refused.get_json()["errors"]["status"]

    first = client.post(f"/api/v1/issues/{issue.id}/send", headers=headers)
    second = client.post(f"/api/v1/issues/{issue.id}/send", headers=headers)
    assert (first.status_code, first.get_json()["started"]) == (202, True)
    assert (second.status_code, second.get_json()["started"]) == (200, False)

    paused = client.post(f"/api/v1/issues/{issue.id}/pause", headers=headers)
    assert (paused.status_code, paused.get_json()["status"]) == (200, "paused")
    resumed = client.post(f"/api/v1/issues/{issue.id}/resume", headers=headers)
    assert (resumed.status_code, resumed.get_json()["status"]) == (200, "sending")
    cancelled = client.post(f"/api/v1/issues/{issue.id}/cancel", headers=headers)
    assert cancelled.get_json()["status"] == "cancelled"
    assert client.post(f"/api/v1/issues/{issue.id}/resume", headers=headers).status_code == 409

    kinds = set(session.scalars(select(Event.kind).where(Event.issue_id == issue.id)))
    assert {"api.send", "api.pause", "api.resume", "api.cancel"} <= kinds


def test_unknown_issue_is_404_with_the_field_named(client, session):
    headers = _token(session)
    response = client.get("/api/v1/issues/987654", headers=headers)
    assert response.status_code == 404
    assert "issue_id" in response.get_json()["errors"]
    assert client.post("/api/v1/issues/987654/send", headers=headers).status_code == 404


def test_deliveries_listing_validates_the_state(client, session):
    issue = factories.drafted_issue(session)
    headers = _token(session)
    bad = client.get(f"/api/v1/issues/{issue.id}/deliveries?status=nope", headers=headers)
    assert bad.status_code == 400 and "status" in bad.get_json()["errors"]
    ok = client.get(f"/api/v1/issues/{issue.id}/deliveries", headers=headers)
    assert ok.get_json() == {"deliveries": []}
