"""The embeddable signup: CSRF only for our own form, CORS for the API, no open redirect."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.config import ConfigError, load_settings
from mailer.origins import normalise_origin, safe_redirect
from mailer.subscribers.embed_snippet import embed_snippet
from tests.harness.reader import SITE, configure, counts, good_form, hidden_fields

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

ROOT = Path(__file__).resolve().parents[2]
NOTHING = {"Subscriber": 0, "Subscription": 0, "Consent": 0, "Suppression": 0}
ONE = {"Subscriber": 1, "Subscription": 1, "Consent": 1, "Suppression": 0}


@pytest.fixture
def site(rt, monkeypatch):  # type: ignore[no-untyped-def]
    configure(rt, monkeypatch, allowed_origins=(SITE, "http://127.0.0.1:8123"))


def _embed_post(client, headers, **changes):  # type: ignore[no-untyped-def]
    data = good_form("kari@example.no", embed="1")
    data.update(changes)
    return client.post("/subscribe", data=data, headers=headers)


# --- CSRF: the embed marker from an allowed origin, nothing else -------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": SITE},
        {"Referer": f"{SITE}/nyheter/artikkel?id=7"},
        {"Origin": "https://WWW.example.no:443"},
    ],
    ids=["origin", "referer-only", "origin-with-default-port"],
)
def test_embedded_form_from_an_allowed_origin_needs_no_csrf_token(client, session, site, headers):
    response = _embed_post(client, headers)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Sjekk e-posten din" in response.get_data(as_text=True)
    assert counts(session) == ONE


@pytest.mark.parametrize(
    ("headers", "embed"),
    [
        ({"Origin": "https://evil.example.com"}, "1"),
        ({"Origin": "null"}, "1"),
        ({"Origin": "http://www.example.no"}, "1"),  # http is another origin than https
        ({"Referer": "https://evil.example.com/?https://www.example.no/"}, "1"),
        ({}, "1"),
        ({"Origin": SITE}, None),  # an allowed origin, but not the embed snippet
        ({"Origin": SITE}, "yes"),
    ],
    ids=["foreign", "null", "http", "foreign-referer", "no-origin", "no-marker", "bad-marker"],
)
def test_anything_else_without_a_csrf_token_is_refused(client, session, site, headers, embed):
    data = good_form("kari@example.no")
    if embed is not None:
        data["embed"] = embed

    response = client.post("/subscribe", data=data, headers=headers)

    assert response.status_code == 400
    assert 'data-field="csrf_token"' in response.get_data(as_text=True)
    assert counts(session) == NOTHING


def test_embed_marker_without_allowed_origins_configured_is_refused(client, session):
    response = _embed_post(client, {"Origin": SITE})

    assert response.status_code == 400
    assert 'data-field="csrf_token"' in response.get_data(as_text=True)
    assert counts(session) == NOTHING


def test_embedded_post_is_recorded_with_the_embed_channel(client, session, site):
    from sqlalchemy import select

    from mailer.subscribers.models import Consent

    _embed_post(client, {"Origin": SITE, "User-Agent": "CMS-lesar/1.0"})

    session.rollback()
    consent = session.scalars(select(Consent)).one()
    assert (consent.channel, consent.action, consent.user_agent) == (
        "embed",
        "signup",
        "CMS-lesar/1.0",
    )
    assert consent.text_version == "2026-11"


def test_embedded_post_with_errors_shows_our_form_with_a_token_and_keeps_next(
    client, session, site
):
    response = _embed_post(client, {"Origin": SITE}, email="ikke-en-adresse", next=f"{SITE}/takk")

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html
    fields = hidden_fields(html)
    assert fields["next"] == f"{SITE}/takk"
    assert fields["csrf_token"]
    # Fixing the address on our form (with its token) finishes the signup and goes "next".
    fixed = client.post("/subscribe", data={**fields, **good_form("kari@example.no")})
    assert fixed.status_code == 303
    assert fixed.headers["Location"] == f"{SITE}/takk"
    assert counts(session) == ONE


# --- the thank-you redirect --------------------------------------------------------------------


def test_thank_you_redirect_goes_to_an_allowed_origin(client, session, site):
    response = _embed_post(client, {"Origin": SITE}, next=f"{SITE}/nyhetsbrev/takk?fra=skjema")

    assert response.status_code == 303
    assert response.headers["Location"] == f"{SITE}/nyhetsbrev/takk?fra=skjema"
    assert counts(session) == ONE


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example.com/takk",
        "//evil.example.com/takk",
        "/\\evil.example.com",
        "https://www.example.no@evil.example.com/",
        "https://evil.example.com\\@www.example.no/",
        "https://www.example.no.evil.example.com/",
        "http://www.example.no/takk",
        "https://www.example.no:8443/takk",
        "javascript:alert(1)//https://www.example.no/",
        "https://www.example.no/\r\nSet-Cookie: a=b",
        " https://www.example.no/",
        "data:text/html,<script>alert(1)</script>",
    ],
)
def test_no_open_redirect(client, session, site, target):
    response = _embed_post(client, {"Origin": SITE}, next=target)

    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "Sjekk e-posten din" in response.get_data(as_text=True)
    assert counts(session) == ONE  # the signup itself still counts


def test_our_own_form_may_carry_next_to_an_allowed_origin_only(client, session, site):
    page = client.get(f"/subscribe?next={SITE}/takk")
    assert hidden_fields(page.get_data(as_text=True))["next"] == f"{SITE}/takk"
    evil = client.get("/subscribe?next=https://evil.example.com/")
    assert "next" not in hidden_fields(evil.get_data(as_text=True))


def test_safe_redirect_accepts_only_exact_allowed_origins():
    allowed = (SITE,)
    assert safe_redirect(f"{SITE}/a?b=c#d", allowed) == f"{SITE}/a?b=c#d"
    assert safe_redirect(SITE, allowed) == SITE
    for bad in (
        "",
        None,
        "/relative",
        f"{SITE}:notaport/",
        "https://[::1/",
        "ftp://www.example.no/",
    ):
        assert safe_redirect(bad, allowed) is None


# --- CORS on the signup API --------------------------------------------------------------------


def test_preflight_from_an_allowed_origin_is_answered(client, session, site):
    response = client.options(
        "/api/v1/subscribers",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"].lower() == "content-type"
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_preflight_from_another_origin_gets_no_cors_headers(client, session, site):
    response = client.options(
        "/api/v1/subscribers",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
    )

    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


def test_api_post_from_allowed_origin_carries_cors_header_and_others_do_not(client, session, site):
    body = {"email": "per@example.no", "consent": True}
    allowed = client.post("/api/v1/subscribers", json=body, headers={"Origin": SITE})
    other = client.post(
        "/api/v1/subscribers", json=body, headers={"Origin": "https://evil.example.com"}
    )

    assert allowed.status_code == other.status_code == 202
    assert allowed.headers["Access-Control-Allow-Origin"] == SITE
    assert "Access-Control-Allow-Origin" not in other.headers
    # Errors are readable cross-origin too, so the site can show them.
    bad = client.post("/api/v1/subscribers", json={"email": "x"}, headers={"Origin": SITE})
    assert bad.status_code == 400
    assert bad.headers["Access-Control-Allow-Origin"] == SITE


def test_without_configured_origins_the_api_sends_no_cors_headers(client, session):
    response = client.post(
        "/api/v1/subscribers",
        json={"email": "per@example.no", "consent": True},
        headers={"Origin": SITE},
    )
    assert response.status_code == 202
    assert "Access-Control-Allow-Origin" not in response.headers


# --- configuration -----------------------------------------------------------------------------


def test_allowed_origins_are_read_and_normalised(monkeypatch, test_env):
    monkeypatch.setenv(
        "MAILER_ALLOWED_ORIGINS",
        " https://WWW.Example.no/ , http://127.0.0.1:8123,https://www.example.no:443",
    )
    assert load_settings().allowed_origins == (SITE, "http://127.0.0.1:8123")


@pytest.mark.parametrize(
    "value", ["www.example.no", "https://www.example.no/takk", "ftp://example.no", "https://"]
)
def test_a_bad_allowed_origin_stops_the_service_with_its_name(monkeypatch, test_env, value):
    monkeypatch.setenv("MAILER_ALLOWED_ORIGINS", value)
    with pytest.raises(ConfigError, match="MAILER_ALLOWED_ORIGINS"):
        load_settings()


def test_normalise_origin():
    assert normalise_origin("HTTP://[::1]:80/") == "http://[::1]"
    assert normalise_origin("https://www.example.no:8443") == "https://www.example.no:8443"
    assert normalise_origin("https://user@www.example.no") is None


# --- the snippet, the help page, the README ----------------------------------------------------


def test_help_page_shows_the_snippet_for_the_allowed_origin(client, session, site):
    response = client.get("/help/embed")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "&lt;form action=&#34;https://nyhetsbrev.example.no/subscribe&#34;" in html
    assert f"name=&#34;next&#34; value=&#34;{SITE}/&#34;" in html
    assert html.count("name=&#34;embed&#34; value=&#34;1&#34;") == 2  # nb and en
    assert "Innovasjon" in html  # the configured topics


def test_readme_shows_the_snippet_and_the_new_variables():
    readme = (ROOT / "README.md").read_text()
    snippet = embed_snippet(
        "https://nyhetsbrev.example.no", "nb", "https://www.example.no/nyhetsbrev/takk"
    )
    assert snippet in readme
    assert readme.index("## The two commands") < readme.index("## Embedding the signup form")
    for variable in (
        "MAILER_ALLOWED_ORIGINS",
        "MAILER_PENDING_DAYS",
        "MAILER_MIN_FILL_SECONDS",
        "MAILER_SIGNUP_LIMITS",
        "MAILER_TRUSTED_PROXIES",
    ):
        assert f"| `{variable}` |" in readme, variable
