"""Abuse protection: request limits, honeypot, fill time, one confirmation an hour,
and answers that never tell whether an address is known."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from mailer.db import utcnow
from mailer.subscribers.abuse import filled_too_fast, form_age, honeypot_filled, make_form_stamp
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.models import Consent
from mailer.subscribers.subscriptions import MAX_SIGNUPS_PER_ADDRESS
from mailer.tokens import Purpose
from tests.harness.reader import (
    SITE,
    configure,
    counts,
    events,
    good_form,
    hidden_fields,
    link_token,
    post_signup_form,
    subscription_of,
)

NOTHING = {"Subscriber": 0, "Subscription": 0, "Consent": 0, "Suppression": 0}
CTX = RequestContext(ip="192.0.2.1", user_agent="tests", channel="web")


def _api(client, email: str, **extra):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/subscribers", json={"email": email, "consent": True, **extra})


# --- request limits ----------------------------------------------------------------------------


def test_default_limit_is_ten_signup_posts_a_minute_per_ip(client, session, rt):
    assert rt.settings.signup_limits == "10/minute;50/hour"
    _, token = _page_and_token(client)
    statuses = [
        client.post("/subscribe", data={"csrf_token": token, "email": "x"}).status_code
        for _ in range(11)
    ]
    assert statuses == [400] * 10 + [429]


def _page_and_token(client):  # type: ignore[no-untyped-def]
    html = client.get("/subscribe").get_data(as_text=True)
    return html, hidden_fields(html)["csrf_token"]


@pytest.mark.parametrize(
    ("accept_language", "title", "detail"),
    [
        ("nb", "For mange forespørsler", "Vent litt og prøv igjen."),
        ("en", "Too many requests", "Wait a little and try again."),
    ],
)
def test_over_the_limit_the_form_gets_a_readable_429_page(
    client, session, rt, monkeypatch, accept_language, title, detail
):
    configure(rt, monkeypatch, signup_limits="2/minute")
    headers = {"Accept-Language": accept_language}
    form = good_form("kari@example.no", language=accept_language)
    for _ in range(2):
        assert post_signup_form(client, form, headers=headers).status_code == 200

    response = post_signup_form(client, form, headers=headers)

    assert response.status_code == 429
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert f"<h1>{title}</h1>" in html
    assert detail in html
    assert f'<html lang="{accept_language}">' in html
    assert int(response.headers["Retry-After"]) > 0
    # The page itself (GET) is not limited: the reader can still read the form.
    assert client.get("/subscribe").status_code == 200


def test_over_the_limit_the_api_answers_429_json(client, session, rt, monkeypatch):
    configure(rt, monkeypatch, signup_limits="2/minute")
    assert [_api(client, f"p{i}@example.no").status_code for i in range(2)] == [202, 202]

    response = client.post(
        "/api/v1/subscribers",
        json={"email": "p9@example.no", "consent": True},
        headers={"Accept-Language": "en"},
    )

    assert response.status_code == 429
    assert response.is_json
    assert response.get_json() == {
        "errors": {
            "request": "Too many requests. You have sent many requests in a short time. "
            "Wait a little and try again."
        }
    }
    assert int(response.headers["Retry-After"]) > 0
    session.rollback()
    assert counts(session)["Subscriber"] == 2


def test_an_accepted_signup_reads_no_limit_window_and_a_429_says_when_to_return(
    client, session, rt, monkeypatch
):
    """No X-RateLimit-* headers (reading the window cost two Redis round trips per signup,
    bench/signup_profile.py); the 429 still carries Retry-After within the window."""
    configure(rt, monkeypatch, signup_limits="1/minute")
    accepted = _api(client, "w1@example.no")
    assert accepted.status_code == 202
    assert not [h for h in accepted.headers.keys() if h.lower().startswith("x-ratelimit")]

    refused = _api(client, "w2@example.no")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 61


def test_limits_count_per_client_ip(client, session, rt, monkeypatch):
    configure(rt, monkeypatch, signup_limits="1/minute")
    first = {"REMOTE_ADDR": "198.51.100.1"}
    second = {"REMOTE_ADDR": "198.51.100.2"}
    assert _api_from(client, "a@example.no", first).status_code == 202
    assert _api_from(client, "b@example.no", first).status_code == 429
    assert _api_from(client, "c@example.no", second).status_code == 202


def _api_from(client, email, environ):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/subscribers", json={"email": email, "consent": True}, environ_base=environ
    )


def test_behind_a_trusted_proxy_the_forwarded_address_counts(
    app_behind_proxy, session, monkeypatch
):
    configure(app_behind_proxy.extensions["mailer"], monkeypatch, signup_limits="1/minute")
    client = app_behind_proxy.test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}

    def post(email: str, forwarded: str):  # type: ignore[no-untyped-def]
        return client.post(
            "/api/v1/subscribers",
            json={"email": email, "consent": True},
            environ_base=proxy,
            headers={"X-Forwarded-For": forwarded},
        )

    assert post("a@example.no", "203.0.113.5").status_code == 202
    assert post("b@example.no", "203.0.113.6").status_code == 202
    # A client cannot pick its own address: only the last hop (our proxy's) is trusted.
    assert post("c@example.no", "1.2.3.4, 203.0.113.5").status_code == 429
    session.rollback()
    ips = set(session.scalars(select(Consent.ip)))
    assert ips == {"203.0.113.5", "203.0.113.6"}


def test_without_trusted_proxies_x_forwarded_for_is_ignored(client, session, rt, monkeypatch):
    configure(rt, monkeypatch, signup_limits="1/minute")
    assert _api(client, "a@example.no").status_code == 202
    spoofed = client.post(
        "/api/v1/subscribers",
        json={"email": "b@example.no", "consent": True},
        headers={"X-Forwarded-For": "203.0.113.99"},
    )
    assert spoofed.status_code == 429


@pytest.mark.parametrize("route", ["resend", "data-request", "erase"])
def test_the_other_reader_posts_are_limited_too(client, session, rt, monkeypatch, route):
    from tests.harness import factories

    configure(rt, monkeypatch, signup_limits="1/minute")
    subscription = factories.subscription(session, "kari@example.no", status="pending")
    session.commit()
    purpose = Purpose.CONFIRM if route == "resend" else Purpose.PREFERENCES
    other = factories.subscription(session, "per@example.no", status="pending")
    session.commit()
    page = client.get(f"/preferences/{link_token(rt, Purpose.PREFERENCES, subscription.id)}")
    token = hidden_fields(page.get_data(as_text=True))["csrf_token"]

    first = client.post(
        f"/{route}/{link_token(rt, purpose, subscription.id)}", data={"csrf_token": token}
    )
    second = client.post(
        f"/{route}/{link_token(rt, purpose, other.id)}", data={"csrf_token": token}
    )

    assert first.status_code == 200
    assert second.status_code == 429


# --- honeypot and fill time --------------------------------------------------------------------


def _reference_answer(client, session) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """What a real, new signup gets; used to compare the silent answers with."""
    response = post_signup_form(client, good_form("ekte@example.no"))
    assert response.status_code == 200
    assert subscription_of(session, "ekte@example.no").status == "pending"
    return response.status_code, response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["https://spam.example.com", "x", " a "])
def test_honeypot_on_our_form_is_answered_as_usual_and_stores_nothing(client, session, value):
    reference = _reference_answer(client, session)
    before = counts(session)

    response = post_signup_form(client, good_form("bot@example.no", website=value))

    assert (response.status_code, response.get_data(as_text=True)) == reference
    assert counts(session) == before


def test_honeypot_on_the_embed_snippet_redirects_as_usual_and_stores_nothing(
    client, session, rt, monkeypatch
):
    configure(rt, monkeypatch, allowed_origins=(SITE,))
    data = good_form("bot@example.no", embed="1", next=f"{SITE}/takk", website="http://x")

    response = client.post("/subscribe", data=data, headers={"Origin": SITE})

    assert response.status_code == 303
    assert response.headers["Location"] == f"{SITE}/takk"
    assert counts(session) == NOTHING


def test_honeypot_on_the_api_is_answered_as_usual_and_stores_nothing(client, session):
    real = _api(client, "ekte@example.no")
    bot = _api(client, "bot@example.no", website="http://spam.example.com")

    assert (bot.status_code, bot.get_json()) == (real.status_code, real.get_json())
    assert counts(session)["Subscriber"] == 1


@pytest.fixture
def slow_form(rt, monkeypatch):  # type: ignore[no-untyped-def]
    configure(rt, monkeypatch, min_fill_seconds=3.0)


@pytest.mark.parametrize(
    ("language", "message"),
    [("nb", "Se over opplysningene og prøv igjen."), ("en", "Please check the details and try")],
)
def test_a_form_posted_right_after_it_was_served_comes_back_with_try_again(
    client, session, slow_form, language, message
):
    """Issue 12 item 8: autofill is that fast too; the reader sees the form again, filled
    as they left it, instead of a thank-you for a signup that was silently dropped."""
    before = counts(session)

    response = post_signup_form(
        client, good_form("rask@example.no", name="Åse Rask", language=language)
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    assert 'value="rask@example.no"' in page and 'value="Åse Rask"' in page
    assert counts(session) == before  # nothing stored, no mail queued

    # Sent again once the minimum time has passed, it is a normal signup.
    assert _post_with_stamp(client, "rask@example.no", served_seconds_ago=10).status_code == 200
    assert counts(session)["Subscriber"] == before["Subscriber"] + 1


def _post_with_stamp(client, email, served_seconds_ago, stamp=None):  # type: ignore[no-untyped-def]
    from mailer.runtime import runtime

    page = client.get("/subscribe")
    fields = hidden_fields(page.get_data(as_text=True))
    with client.application.app_context():
        keys = runtime().settings.secret_keys
    if stamp is None:
        stamp = make_form_stamp(keys, time.time() - served_seconds_ago)
    fields["form_stamp"] = stamp
    return client.post("/subscribe", data={**fields, **good_form(email)})


@pytest.mark.parametrize(
    ("stamp", "stored"),
    [
        (None, True),  # a form served 10 s ago: a person
        ("", False),  # stamp removed
        ("bm90LWEtc3RhbXA.forged", False),
        ("future", False),  # served "in 60 s"
    ],
    ids=["ten-seconds", "missing", "forged", "future"],
)
def test_the_fill_time_stamp_decides(client, session, rt, slow_form, stamp, stored):
    if stamp == "future":
        stamp = make_form_stamp(rt.settings.secret_keys, time.time() + 60)
    response = _post_with_stamp(client, "kari@example.no", served_seconds_ago=10, stamp=stamp)

    assert response.status_code == 200
    # Not stored: the form again with «prøv igjen» (and a fresh stamp), never a thank-you.
    page = response.get_data(as_text=True)
    assert ("Sjekk e-posten din" in page) == stored
    assert ("prøv igjen" in page) != stored
    assert counts(session)["Subscriber"] == (1 if stored else 0)


def test_the_embed_snippet_skips_the_fill_time_check(client, session, rt, monkeypatch):
    configure(rt, monkeypatch, min_fill_seconds=3.0, allowed_origins=(SITE,))

    response = client.post(
        "/subscribe", data=good_form("kari@example.no", embed="1"), headers={"Origin": SITE}
    )

    assert response.status_code == 200
    assert counts(session)["Subscriber"] == 1


def test_form_stamp_helpers():
    keys = ("k1",)
    now = 1_800_000_000.0
    stamp = make_form_stamp(keys, now - 5)
    assert form_age(keys, stamp, now) == pytest.approx(5)
    assert form_age(("other",), stamp, now) is None
    assert form_age(("new", "k1"), stamp, now) == pytest.approx(5)  # rotated keys still read
    assert filled_too_fast(keys, stamp, now, 3) is False
    assert filled_too_fast(keys, stamp, now, 6) is True
    assert filled_too_fast(keys, None, now, 0) is False  # 0 turns the check off
    assert filled_too_fast(keys, None, now, 1) is True
    assert [honeypot_filled(v) for v in (None, "", "  ", "x", [], ["x"], 0, False)] == [
        False,
        False,
        False,
        True,
        False,
        True,
        True,
        False,
    ]


# --- one confirmation an hour, and per-address limits ------------------------------------------


def test_an_address_bombed_from_many_ips_gets_one_confirmation(
    client, session, celery_worker, smtp_sink
):
    for i in range(4):
        response = client.post(
            "/api/v1/subscribers",
            json={"email": "offer@example.no", "consent": True},
            environ_base={"REMOTE_ADDR": f"198.51.100.{i + 1}"},
        )
        assert response.status_code == 202
    # A second address, signed up last: its mail arriving means the worker got past ours.
    assert _api(client, "barriere@example.no").status_code == 202

    smtp_sink.wait_for(2)

    assert len(smtp_sink.to("offer@example.no")) == 1
    assert len(smtp_sink.to("barriere@example.no")) == 1
    assert events(session, "signup") == 5


def test_more_than_the_hourly_signups_for_one_address_are_not_recorded(client, session):
    answers = {
        (r.status_code, r.get_data(as_text=True))
        for r in (_api(client, "mye@example.no") for _ in range(MAX_SIGNUPS_PER_ADDRESS + 3))
    }

    assert len(answers) == 1  # the same answer every time
    subscription = subscription_of(session, "mye@example.no")
    consents = session.scalars(
        select(Consent).where(Consent.subscription_id == subscription.id)
    ).all()
    assert len(consents) == MAX_SIGNUPS_PER_ADDRESS
    assert events(session, "signup") == MAX_SIGNUPS_PER_ADDRESS
    # An hour later the address may sign up again.
    session.execute(Consent.__table__.update().values(created_at=utcnow() - timedelta(hours=2)))
    from mailer.events import Event

    session.execute(Event.__table__.update().values(created_at=utcnow() - timedelta(hours=2)))
    session.commit()
    _api(client, "mye@example.no")
    assert events(session, "signup") == MAX_SIGNUPS_PER_ADDRESS + 1
