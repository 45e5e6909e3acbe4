"""POST /api/v1/articles: the CMS pushes one article (bearer token, real database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from mailer.articles import feeds
from mailer.articles.models import Article
from mailer.editors.accounts import create_editor
from mailer.editors.api_tokens import create_token
from mailer.events import Event
from tests.harness.feeds import CLOAK_NOTICE

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

URL = "https://europakontor.example.no/nyheter/vannstoff-rogaland"
ENDPOINT = "/api/v1/articles"


def _headers(session) -> dict[str, str]:
    create_editor(session, "cms@europakontor.example.no", "et langt passord for cms")
    token = create_token(session, "cms@europakontor.example.no")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def _payload(**changes) -> dict:
    body = {
        "guid": "cms-4711",
        "url": URL,
        "title": "Rogaland med i europeisk hydrogenprosjekt",
        "summary_html": (
            '<p><img src="/bilder/vannstoff.jpg" alt="Hydrogenanlegget på Risavika"></p>'
            "<p>Fylkeskommunen og tre bedrifter deltar i et prosjekt om grønt hydrogen "
            "&amp; havvind.</p><p>Foto: Rogaland fylkeskommune</p>"
            f'<p>Kontakt prosjektleder Siri Ødegård: <span id="cloak9">{CLOAK_NOTICE}</span>'
            "<script>document.getElementById('cloak9').innerHTML = 'x';</script></p>"
        ),
        "published_at": "2026-03-14T09:30:00+01:00",
        "topics": ["Klima", " Innovasjon ", "Klima"],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def _count(rt) -> int:
    with rt.db.session() as other:
        return int(other.scalar(select(func.count()).select_from(Article)) or 0)


def _stored(rt) -> list[Article]:
    with rt.db.session() as other:
        return list(other.scalars(select(Article).order_by(Article.id)))


def test_requires_a_valid_bearer_token(client, session, rt):
    _headers(session)
    for headers in (
        {},
        {"Authorization": "Bearer mlr_feil"},
        {"Authorization": "Basic Y21zOnBhc3N3b3Jk"},
        {"Authorization": "Bearer"},
    ):
        response = client.post(ENDPOINT, json=_payload(), headers=headers)
        assert response.status_code == 401, headers
        assert "authorization" in response.get_json()["errors"]
    assert _count(rt) == 0


def test_created_then_updated_on_the_same_guid(client, session, rt):
    headers = _headers(session)

    created = client.post(ENDPOINT, json=_payload(), headers=headers)

    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    expected_summary = (
        "Fylkeskommunen og tre bedrifter deltar i et prosjekt om grønt hydrogen & havvind. "
        "Kontakt prosjektleder Siri Ødegård:"
    )
    assert body["source"] == "api" and body["guid"] == "cms-4711" and body["url"] == URL
    assert body["title"] == "Rogaland med i europeisk hydrogenprosjekt"
    assert body["summary"] == expected_summary
    assert body["topics"] == ["Klima", "Innovasjon"]
    assert body["published_at"] == "2026-03-14T08:30:00+00:00"
    assert body["image_url"] == "https://europakontor.example.no/bilder/vannstoff.jpg"
    assert body["image_alt"] == "Hydrogenanlegget på Risavika"
    assert body["image_caption"] == "Foto: Rogaland fylkeskommune"
    [article] = _stored(rt)
    assert article.id == body["id"]
    assert (article.source, article.guid, article.summary) == ("api", "cms-4711", expected_summary)
    assert article.topics == ["Klima", "Innovasjon"]
    assert article.published_at == datetime(2026, 3, 14, 8, 30, tzinfo=UTC)
    assert article.image_caption == "Foto: Rogaland fylkeskommune"

    updated = client.post(
        ENDPOINT,
        json=_payload(
            title="Rogaland leder europeisk hydrogenprosjekt",
            topics=["Forskning"],
            image_url="https://cdn.europakontor.example.no/risavika.jpg",
        ),
        headers=headers,
    )

    assert updated.status_code == 200, updated.get_json()
    assert updated.get_json()["id"] == body["id"]
    [article] = _stored(rt)
    assert article.title == "Rogaland leder europeisk hydrogenprosjekt"
    assert article.topics == ["Forskning"]
    assert article.image_url == "https://cdn.europakontor.example.no/risavika.jpg"
    assert article.image_alt is None  # the body's alt text describes another picture

    same = client.post(
        ENDPOINT,
        json=_payload(
            title="Rogaland leder europeisk hydrogenprosjekt",
            topics=["Forskning"],
            image_url="https://cdn.europakontor.example.no/risavika.jpg",
        ),
        headers=headers,
    )
    assert same.status_code == 200
    assert _count(rt) == 1
    with rt.db.session() as other:
        kinds = list(other.scalars(select(Event.kind).where(Event.kind == "api.article")))
    assert kinds == ["api.article"] * 3


def test_guid_defaults_to_the_url_and_plain_summary_is_cleaned(client, session, rt):
    headers = _headers(session)
    long_text = "Kommunene i Agder samarbeider om klimatilpasning langs kysten. " * 20

    first = client.post(
        ENDPOINT,
        json=_payload(guid=..., summary_html=..., summary=f"Agder &amp; {long_text}", topics=...),
        headers=headers,
    )
    second = client.post(
        ENDPOINT,
        json=_payload(guid=None, summary_html=None, summary="Kort og greit.", topics=[]),
        headers=headers,
    )

    assert first.status_code == 201, first.get_json()
    summary = first.get_json()["summary"]
    assert summary.startswith("Agder & Kommunene i Agder samarbeider")
    assert summary.endswith(" …") and len(summary) <= feeds.SUMMARY_LENGTH + 2
    assert first.get_json()["topics"] == []
    assert second.status_code == 200, second.get_json()
    [article] = _stored(rt)
    assert (article.guid, article.summary, article.image_caption) == (URL, "Kort og greit.", None)


def test_title_of_exactly_500_characters_is_accepted(client, session, rt):
    headers = _headers(session)
    title = "Å" * 500

    response = client.post(ENDPOINT, json=_payload(title=title), headers=headers)

    assert response.status_code == 201, response.get_json()
    assert _stored(rt)[0].title == title


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", ...),
        ("url", "ftp://europakontor.example.no/nyheter/x"),
        ("url", "/nyheter/vannstoff-rogaland"),
        ("url", 4711),
        ("guid", "   "),
        ("guid", 4711),
        ("title", ...),
        ("title", "<p> </p>"),
        ("title", "Ø" * 501),
        ("summary_html", ["<p>liste</p>"]),
        ("summary", 12),
        ("published_at", ...),
        ("published_at", "i går"),
        ("published_at", "2026-03-14T09:30:00"),
        ("published_at", "2026-03-14"),
        ("topics", "Klima"),
        ("topics", ["Klima", 3]),
        ("topics", ["K" * 101]),
        ("image_url", "javascript:alert(1)"),
        ("image_url", "bilder/vannstoff.jpg"),
    ],
)
def test_each_bad_field_is_named_and_nothing_is_stored(client, session, rt, field, value):
    headers = _headers(session)
    changes = {field: value}
    if field == "summary":
        changes["summary_html"] = ...

    response = client.post(ENDPOINT, json=_payload(**changes), headers=headers)

    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {field}
    assert _count(rt) == 0


def test_all_bad_fields_are_named_at_once(client, session, rt):
    headers = _headers(session)

    response = client.post(
        ENDPOINT,
        json={"url": "mailto:cms@example.no", "published_at": "snart", "topics": {"a": 1}},
        headers=headers,
    )

    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {"url", "title", "published_at", "topics"}
    assert _count(rt) == 0


def test_body_must_be_a_json_object(client, session, rt):
    headers = _headers(session)
    for kwargs in ({"json": ["liste"]}, {"data": "ikke json", "content_type": "text/plain"}):
        response = client.post(ENDPOINT, headers=headers, **kwargs)
        assert response.status_code == 400
        assert set(response.get_json()["errors"]) == {"body"}
    assert _count(rt) == 0
