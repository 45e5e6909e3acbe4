"""Issue 9, item 9: a body nested too deeply, or a NUL character in any field or query
parameter, is a 400 that names the body or the field; nothing is stored, nothing logged
as an unhandled error. Every JSON endpoint, query-parameter endpoint and form alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from mailer.articles.models import Article
from mailer.editors.api_tokens import create_token
from mailer.events import Event
from mailer.issues.models import Issue, Newsletter
from mailer.subscribers.models import Subscriber
from tests.harness import factories
from tests.harness.admin import ADMIN, EDITOR, log_in, make_editors, token_from

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back


@dataclass(frozen=True)
class JsonEndpoint:
    method: str
    path: str
    body: dict[str, Any]
    token: str  # "editor", "admin" or "" (no token)


JSON_ENDPOINTS = [
    JsonEndpoint(
        "post",
        "/api/v1/subscribers",
        {"email": "kari@example.no", "name": "Kari", "consent": True},
        "",
    ),
    JsonEndpoint(
        "post",
        "/api/v1/articles",
        {
            "url": "https://www.example.no/sak/1",
            "title": "Sak",
            "published_at": "2026-03-14T09:30:00+01:00",
        },
        "editor",
    ),
    JsonEndpoint("patch", "/api/v1/issues/{issue}", {"subject": "Nytt emne"}, "editor"),
    JsonEndpoint("put", "/api/v1/newsletter", {"name": "Nytt navn"}, "admin"),
]
IDS = [f"{e.method} {e.path}" for e in JSON_ENDPOINTS]


@pytest.fixture
def world(session) -> dict[str, Any]:
    editors = make_editors(session)
    tokens = {"editor": create_token(session, EDITOR), "admin": create_token(session, ADMIN)}
    issue = factories.drafted_issue(session)
    session.commit()
    return {"editors": editors, "tokens": tokens, "issue": issue.id}


def _call(client, world, endpoint: JsonEndpoint, **kwargs: Any):
    headers = {}
    if endpoint.token:
        headers["Authorization"] = f"Bearer {world['tokens'][endpoint.token]}"
    path = endpoint.path.format(issue=world["issue"])
    return getattr(client, endpoint.method)(path, headers=headers, **kwargs)


def _snapshot(session) -> tuple[Any, ...]:
    """Everything these endpoints could change."""
    session.expire_all()
    issue = session.scalars(select(Issue)).one()
    newsletter = session.scalars(select(Newsletter)).one()
    return (
        session.scalar(select(func.count()).select_from(Subscriber)),
        session.scalar(select(func.count()).select_from(Article)),
        session.scalar(select(func.count()).select_from(Event)),
        issue.subject,
        newsletter.name,
    )


NESTED = {
    "array x1000": "[" * 1000 + "]" * 1000,
    "object x1000": '{"a":' * 1000 + "1" + "}" * 1000,
    "array x1000 unclosed": "[" * 1000,
    "array x100 in a field": '{"email": "kari@example.no", "name": ' + "[" * 100 + "]" * 100 + "}",
}


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("body", list(NESTED.values()), ids=list(NESTED))
def test_deeply_nested_json_is_a_400_naming_the_body(
    client, session, world, endpoint, body, caplog
):
    before = _snapshot(session)
    with caplog.at_level(logging.ERROR):
        reply = _call(client, world, endpoint, data=body, content_type="application/json")
    assert reply.status_code == 400, reply.get_data(as_text=True)[:300]
    assert "body" in reply.get_json()["errors"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert _snapshot(session) == before


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=IDS)
def test_the_endpoints_still_take_their_ordinary_bodies(client, session, world, endpoint):
    """The same calls without the NUL succeed: the refusals below are for the NUL alone."""
    reply = _call(client, world, endpoint, json=endpoint.body)
    assert reply.status_code in (200, 201, 202), reply.get_json()


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=IDS)
def test_a_nul_in_a_json_field_is_a_400_naming_it(client, session, world, endpoint):
    before = _snapshot(session)
    for field in [k for k, v in endpoint.body.items() if isinstance(v, str)]:
        body = dict(endpoint.body)
        body[field] = body[field][:2] + "\x00" + body[field][2:]
        reply = _call(client, world, endpoint, json=body)
        assert reply.status_code == 400, (field, reply.get_json())
        assert field in reply.get_json()["errors"], reply.get_json()
    key = _call(client, world, endpoint, json={**endpoint.body, "x\x00": "y"})
    assert key.status_code == 400 and "x\\u0000" in key.get_json()["errors"]
    assert _snapshot(session) == before


QUERY_ENDPOINTS = [
    ("/api/v1/subscribers", "q", "editor"),
    ("/api/v1/subscribers", "topic", "editor"),
    ("/api/v1/articles", "page", "editor"),
    ("/api/v1/issues/{issue}/deliveries", "status", "editor"),
    ("/admin/subscribers", "q", "login"),
    ("/admin/issues/{issue}/preview", "as", "login"),
    ("/admin/login", "next", ""),
    ("/subscribe", "next", ""),
    ("/archive", "lang", ""),
]


@pytest.mark.parametrize(("path", "param", "auth"), QUERY_ENDPOINTS)
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(client, session, world, path, param, auth):
    headers = {}
    if auth == "editor":
        headers["Authorization"] = f"Bearer {world['tokens']['editor']}"
    elif auth == "login":
        log_in(client, world["editors"]["admin"])
    url = path.format(issue=world["issue"])
    before = _snapshot(session)
    reply = client.get(url, query_string={param: "ka\x00ri@example.no"}, headers=headers)
    assert reply.status_code == 400, reply.get_data(as_text=True)[:300]
    if url.startswith("/api/"):
        assert param in reply.get_json()["errors"]
    else:
        assert f'data-field="{param}"' in reply.get_data(as_text=True)
    assert _snapshot(session) == before


FORMS = [
    ("/admin/settings", {"name": "Nytt\x00navn", "language": "nb", "topics": ""}, "name"),
    ("/admin/issues/{issue}/content", {"subject": "Nytt\x00emne", "intro": ""}, "subject"),
    (
        "/admin/editors",
        {"email": "n\x00y@example.no", "role": "editor", "password": "x" * 20},
        "email",
    ),
    ("/admin/login", {"email": "ad\x00min@example.no", "password": "feil"}, "email"),
    ("/subscribe", {"email": "kari@example.no", "name": "Ka\x00ri", "consent": "on"}, "name"),
]


@pytest.mark.parametrize(("path", "form", "field"), FORMS)
def test_a_nul_in_a_form_field_is_a_400_naming_it(client, session, world, path, form, field):
    log_in(client, world["editors"]["admin"])
    token = token_from(client, "/admin/" if path.startswith("/admin") else "/subscribe")
    before = _snapshot(session)
    reply = client.post(path.format(issue=world["issue"]), data={**form, "csrf_token": token})
    assert reply.status_code == 400, reply.get_data(as_text=True)[:300]
    assert f'data-field="{field}"' in reply.get_data(as_text=True)
    assert _snapshot(session) == before


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/unsubscribe/ab%00cd", 400),
        ("/confirm/ab%00cd", 400),
        ("/preferences/ab%00cd", 400),
        ("/data/ab%00cd", 400),
        ("/archive/1%00", 404),
        ("/api/v1/issues/1%00", 404),
        ("/help/embed%00", 404),
    ],
)
def test_a_nul_in_the_path_is_refused_and_changes_nothing(client, session, world, path, status):
    """A NUL in a token or id never reaches a lookup as part of the value: the personal
    pages say the link is not valid (400), the rest is not found (404); never a 500."""
    before = _snapshot(session)
    assert client.get(path).status_code == status
    assert _snapshot(session) == before


@pytest.mark.parametrize(
    ("header", "value"),
    [("Accept-Language", "nb\x00en"), ("Cookie", "session=a\x00b"), ("User-Agent", "x\x00y")],
)
def test_a_nul_in_a_header_of_a_reader_page_is_harmless(client, session, world, header, value):
    """Headers are read for language, the session and the access log: a NUL in any of them
    gives the ordinary page (no 500, the page in the default language)."""
    reply = client.get("/subscribe", headers={header: value})
    assert reply.status_code == 200
    assert "Meld deg på" in reply.get_data(as_text=True)


def test_a_nul_in_the_api_token_is_a_401_and_changes_nothing(client, session, world):
    before = _snapshot(session)
    reply = client.get("/api/v1/issues", headers={"Authorization": "Bearer ab\x00cd"})
    assert reply.status_code == 401
    assert _snapshot(session) == before
