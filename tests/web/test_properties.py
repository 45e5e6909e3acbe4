"""Arbitrary text and JSON at every reader endpoint: never a 500, never a stored row that
breaks the rules a signup is validated by.

The examples share one database (no clean-up between them), so the test asserts only
what must hold after *any* sequence of requests: every subscriber row is a normalised
address with a clean name and a known language; every subscription's topics are allowed.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mailer.i18n import LANGUAGES
from mailer.subscribers.addresses import has_control_characters, normalise_email
from mailer.subscribers.models import Consent, Subscriber, Subscription
from mailer.subscribers.subscriptions import MAX_NAME
from mailer.tokens import Purpose
from mailer.web.limits import limiter
from tests.harness import factories
from tests.harness.reader import SITE, configure, hidden_fields, link_token

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

# --- profiles: ~200 examples locally, 2 000 in CI (CI=true) -----------------------------------

_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,  # no .hypothesis/ directory in the repository
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,  # the fixtures hold for every example on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}
settings.register_profile("mailer-local", max_examples=200, **_COMMON)
settings.register_profile("mailer-ci", max_examples=2000, **_COMMON)
IN_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
PROFILE = settings.get_profile("mailer-ci" if IN_CI else "mailer-local")

TOPICS = ("Innovasjon", "Klima", "Forskning")
STATUSES = {"pending", "active", "unsubscribed", "bounced", "complained"}
CONSENT_ACTIONS = {"signup", "confirm", "preferences", "unsubscribe"}

# --- strategies --------------------------------------------------------------------------------

TRICKY = [
    "",
    " ",
    "ingrid@example.no",
    "INGRID@EXAMPLE.NO",
    "kåre@ødegård.example.no",
    "a@b",
    "a@b.c",
    "@example.no",
    "per@@example.no",
    "per@example.no\r\nBcc: x@y.no",
    "per@example.no\x00",
    "\u202eon.elpmaxe@rep",
    "a" * 65 + "@example.no",
    "x@" + "y" * 300 + ".no",
    "on",
    "true",
    "1",
    "nb",
    "en",
    "xx",
    "Klima",
    "<script>alert(1)</script>",
    "Robert'); DROP TABLE subscriber;--",
    "\ud7ff\ue000\ufffd",
    "Ø" * 201,
]
text = st.one_of(st.sampled_from(TRICKY), st.text(max_size=80), st.text(max_size=400))
emails = st.one_of(st.emails(), text)
form_value = st.one_of(text, st.lists(text, max_size=4))
topic_values = st.lists(st.one_of(st.sampled_from(TOPICS), text), max_size=5)

form_bodies = st.fixed_dictionaries(
    {},
    optional={
        "email": emails,
        "name": text,
        "consent": st.one_of(st.sampled_from(["on", "yes", "true", "1", "off", ""]), text),
        "consent_version": st.one_of(st.just("2026-11"), text),
        "language": st.one_of(st.sampled_from(["nb", "en", "NB", "no"]), text),
        "topics": topic_values,
        "website": st.one_of(st.just(""), text),
        "next": st.one_of(st.just(f"{SITE}/takk"), text),
        "form_stamp": text,
        "embed": st.one_of(st.just("1"), text),
    },
).flatmap(
    lambda known: st.dictionaries(text, form_value, max_size=3).map(
        lambda extra: {**extra, **known}
    )
)

# Mostly valid signups, one field at a time arbitrary: these reach the database.
good_emails = st.one_of(
    st.emails(),
    st.sampled_from(["ingrid@example.no", "Kåre@Ødegård.example.no", "per+nyhet@example.com"]),
)
plausible_forms = st.fixed_dictionaries(
    {
        "email": good_emails,
        "consent": st.just("on"),
        "name": text,
        "language": st.sampled_from(["nb", "en"]),
        "topics": st.lists(st.sampled_from(TOPICS), max_size=3),
    },
    optional={"consent_version": st.just("2026-11"), "embed": st.just("1"), "website": text},
)
form_bodies = st.one_of(form_bodies, plausible_forms)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
json_bodies = st.one_of(
    st.fixed_dictionaries(
        {
            "email": good_emails,
            "consent": st.just(True),
            "name": st.one_of(text, json_values),
            "language": st.sampled_from(["nb", "en"]),
            "topics": st.lists(st.sampled_from(TOPICS), max_size=3),
        },
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "email": st.one_of(emails, json_values),
            "name": st.one_of(text, json_values),
            "consent": st.one_of(st.booleans(), json_values),
            "consent_version": json_values,
            "language": st.one_of(st.sampled_from(["nb", "en"]), json_values),
            "topics": st.one_of(topic_values, json_values),
            "website": json_values,
        },
    ),
    json_values,
)

LINK_ROUTES = ["confirm", "unsubscribe", "preferences", "data", "erase", "resend", "data-request"]
token_kinds = st.one_of(
    st.sampled_from(list(Purpose)).map(lambda p: ("valid", p)),
    st.sampled_from(list(Purpose)).map(lambda p: ("gone", p)),
    text.map(lambda t: ("text", t)),
)


# --- the invariants ----------------------------------------------------------------------------


class Invariants:
    """Checks every stored row; rows already checked unchanged are skipped."""

    def __init__(self, session) -> None:  # type: ignore[no-untyped-def]
        self.session = session
        self.seen: set[tuple[Any, ...]] = set()

    def check(self) -> None:
        session = self.session
        session.rollback()
        for row in session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.language)
        ):
            key = ("subscriber", *row)
            if key in self.seen:
                continue
            _, email, name, language = row
            assert normalise_email(email) == email, email
            assert not has_control_characters(name) and len(name) <= MAX_NAME, name
            assert name == name.strip()
            assert language in LANGUAGES, language
            self.seen.add(key)
        for sid, status, topics in session.execute(
            select(Subscription.id, Subscription.status, Subscription.topics)
        ):
            key = ("subscription", sid, status, tuple(topics or ()))
            if key in self.seen:
                continue
            assert status in STATUSES
            assert set(topics or ()) <= set(TOPICS) and len(set(topics)) == len(topics)
            self.seen.add(key)
        for action, ip, agent, version in session.execute(
            select(Consent.action, Consent.ip, Consent.user_agent, Consent.text_version)
        ):
            assert action in CONSENT_ACTIONS and len(ip) <= 64 and len(agent) <= 400
            assert version in ("", "2026-11")


@pytest.fixture
def world(client, session, rt, monkeypatch):  # type: ignore[no-untyped-def]
    """One client and reader for all examples; limits off (thousands of posts from one IP)."""
    monkeypatch.setattr(limiter, "enabled", False)
    configure(rt, monkeypatch, allowed_origins=(SITE,))
    page = client.get("/subscribe").get_data(as_text=True)
    return {
        "client": client,
        "session": session,
        "rt": rt,
        "csrf": hidden_fields(page)["csrf_token"],
        "invariants": Invariants(session),
        "stored": [],
    }


def _reader_id(world) -> int:  # type: ignore[no-untyped-def]
    """The example reader, made again if an earlier example erased it."""
    session = world["session"]
    session.rollback()
    found = session.scalar(
        select(Subscription.id).join(Subscriber).where(Subscriber.email == "lesar@example.no")
    )
    if found is None:
        found = factories.subscription(session, "lesar@example.no", "Lesar").id
        session.commit()
    return int(found)


def _not_a_server_error(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]


# --- the properties ----------------------------------------------------------------------------


@settings(PROFILE)
@given(body=form_bodies, with_token=st.booleans(), origin=st.sampled_from([None, SITE, "null"]))
def test_signup_form_never_fails_and_stores_only_valid_rows(world, body, with_token, origin):
    data = dict(body)
    if with_token:
        data["csrf_token"] = world["csrf"]
    headers = {"Origin": origin} if origin else {}

    response = world["client"].post("/subscribe", data=data, headers=headers)

    _not_a_server_error(response)
    world["invariants"].check()


@settings(PROFILE)
@given(body=json_bodies, raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_signup_api_never_fails_and_stores_only_valid_rows(world, body, raw):
    client = world["client"]
    if raw is None:
        response = client.post("/api/v1/subscribers", json=body)
    else:
        response = client.post("/api/v1/subscribers", data=raw, content_type="application/json")

    _not_a_server_error(response)
    if response.status_code == 202:
        assert response.get_json()["status"] == "accepted"
    world["invariants"].check()


@settings(PROFILE)
@given(
    route=st.sampled_from(LINK_ROUTES),
    token=token_kinds,
    method=st.sampled_from(["GET", "POST"]),
    body=form_bodies,
    with_token=st.booleans(),
)
def test_link_pages_never_fail_and_store_only_valid_rows(
    world, route, token, method, body, with_token
):
    kind, value = token
    rt = world["rt"]
    if kind == "valid":
        path_token = link_token(rt, value, _reader_id(world))
    elif kind == "gone":
        path_token = link_token(rt, value, 987_654_321)
    else:
        path_token = quote(value, safe="")
    data = dict(body)
    if with_token:
        data["csrf_token"] = world["csrf"]

    response = world["client"].open(
        f"/{route}/{path_token}", method=method, data=data if method == "POST" else None
    )

    _not_a_server_error(response)
    world["invariants"].check()


@settings(PROFILE)
@given(body=plausible_forms)
def _plausible_signups(world, body):  # type: ignore[no-untyped-def]
    """The control for the properties above: the mostly-valid strategy does store rows."""
    data = {**body, "csrf_token": world["csrf"], "website": "", "consent_version": "2026-11"}
    data.pop("embed", None)
    response = world["client"].post("/subscribe", data=data)
    _not_a_server_error(response)
    world["invariants"].check()
    world["stored"].append(response.status_code == 200)


def _subscriber_count(session) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func

    session.rollback()
    return int(session.scalar(select(func.count()).select_from(Subscriber)) or 0)


def test_plausible_signups_mostly_succeed(world):
    _plausible_signups(world)
    assert sum(world["stored"]) >= len(world["stored"]) // 4, "the strategy rarely stores a row"
    assert _subscriber_count(world["session"]) > 0


def test_the_profile_follows_ci():
    assert PROFILE.max_examples == (2000 if IN_CI else 200)
    assert settings.get_profile("mailer-ci").max_examples >= 2000
