"""Arbitrary text and JSON at every reader endpoint: never a 500, never a stored row that
breaks the rules a signup is validated by.

The examples share one database (no clean-up between them), so the test asserts only
what must hold after *any* sequence of requests: every subscriber row is a normalised
address with a clean name and a known language; every subscription's topics are allowed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mailer.i18n import LANGUAGES
from mailer.subscribers.addresses import has_control_characters, normalise_email
from mailer.subscribers.models import Consent, Subscriber, Subscription
from mailer.subscribers.signup_requests import MAX_NAME
from mailer.tokens import Purpose
from mailer.web.limits import limiter
from tests.harness import factories
from tests.harness.reader import SITE, configure, hidden_fields, link_token

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

# Example counts come from the profile tests/conftest.py loads (MAILER_HYPOTHESIS_PROFILE:
# small, 200 each, by default; large, 2,000 each, in .ci/run).

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
    # The honeypot mostly empty: a filled one is a bot, dropped before the domain is reached.
    optional={
        "consent_version": st.just("2026-11"),
        "embed": st.just("1"),
        "website": st.one_of(st.just(""), st.just(""), text),
    },
)
# Mostly valid forms drawn as often as arbitrary ones twice over: the control below asks
# that a real share of the examples reach the domain and store a signup.
form_bodies = st.one_of(form_bodies, plausible_forms, plausible_forms)

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
# The purpose each route's token is made for: a valid token for its own route is the path
# that reaches a reader's row, so it is drawn often (a random purpose rarely matches).
ROUTE_PURPOSE = {
    "confirm": Purpose.CONFIRM,
    "unsubscribe": Purpose.UNSUBSCRIBE,
    "preferences": Purpose.PREFERENCES,
    "data": Purpose.EXPORT,
    "erase": Purpose.PREFERENCES,
    "resend": Purpose.CONFIRM,
    "data-request": Purpose.PREFERENCES,
}
token_kinds = st.one_of(
    st.just(("for-route", None)),
    st.just(("for-route", None)),
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
        # No rollback first: the requests write on this session's connection (tests in a
        # rolled_back module share one), and rolling this session back would roll their
        # rows back too, unseen: the checks below would then look at nothing new.
        session = self.session
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
        "paths": Counter(),
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
# Each property is run by a test that then checks its control: a meaningful share of the
# examples took the path the property is about (counted per example, and reported to
# hypothesis as events). A strategy that drifted into all-rejects would otherwise pass
# while testing nothing.


def _took(world, path: str) -> None:  # type: ignore[no-untyped-def]
    world["paths"][path] += 1
    event(path)


def _share(world, path: str) -> float:  # type: ignore[no-untyped-def]
    paths: Counter[str] = world["paths"]
    return paths[path] / max(1, sum(paths.values()))


@given(
    body=form_bodies,
    # Mostly with the form's token: without it every post stops at the CSRF check.
    with_token=st.sampled_from([True, True, True, False]),
    origin=st.sampled_from([None, SITE, "null"]),
)
def _signup_form(world, body, with_token, origin):  # type: ignore[no-untyped-def]
    data = dict(body)
    if with_token:
        data["csrf_token"] = world["csrf"]
    headers = {"Origin": origin} if origin else {}
    before = _subscription_count(world["session"])

    response = world["client"].post("/subscribe", data=data, headers=headers)

    _not_a_server_error(response)
    world["invariants"].check()
    # The path under test: a form that got through to the domain and stored a signup.
    if _subscription_count(world["session"]) > before:
        _took(world, "stored a new signup")
    else:
        _took(world, f"answered {response.status_code} and stored nothing new")


def test_signup_form_never_fails_and_stores_only_valid_rows(world):  # type: ignore[no-untyped-def]
    _signup_form(world)
    assert sum(world["paths"].values()) == settings().max_examples
    # Seen: 10-20 % (a fifth of that would be 1 in 50: the strategy has drifted).
    assert _share(world, "stored a new signup") >= 0.05, world["paths"]


@given(body=json_bodies, raw=st.one_of(st.none(), st.binary(max_size=200)))
def _signup_api(world, body, raw):  # type: ignore[no-untyped-def]
    client = world["client"]
    if raw is None:
        response = client.post("/api/v1/subscribers", json=body)
    else:
        response = client.post("/api/v1/subscribers", data=raw, content_type="application/json")

    _not_a_server_error(response)
    if response.status_code == 202:
        assert response.get_json()["status"] == "accepted"
    world["invariants"].check()
    _took(world, f"answered {response.status_code}")


def test_signup_api_never_fails_and_stores_only_valid_rows(world):  # type: ignore[no-untyped-def]
    _signup_api(world)
    assert _share(world, "answered 202") >= 0.05, world["paths"]  # seen: ~16 %
    assert _share(world, "answered 400") >= 0.10, world["paths"]


@given(
    route=st.sampled_from(LINK_ROUTES),
    token=token_kinds,
    method=st.sampled_from(["GET", "POST"]),
    body=form_bodies,
    with_token=st.booleans(),
)
def _link_pages(world, route, token, method, body, with_token):  # type: ignore[no-untyped-def]
    kind, value = token
    rt = world["rt"]
    if kind == "for-route":
        kind, value = "valid", ROUTE_PURPOSE[route]
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
    # The path under test: a page opened by a token that names a reader.
    if kind == "valid" and response.status_code < 400:
        _took(world, "a reader's page answered")
    else:
        _took(world, "refused")


def test_link_pages_never_fail_and_store_only_valid_rows(world):  # type: ignore[no-untyped-def]
    _link_pages(world)
    assert _share(world, "a reader's page answered") >= 0.05, world["paths"]  # seen: ~15 %
    assert _share(world, "refused") >= 0.10, world["paths"]


@given(body=plausible_forms)
def _plausible_signups(world, body):  # type: ignore[no-untyped-def]
    """The control for the properties above: the mostly-valid strategy does store rows."""
    data = {**body, "csrf_token": world["csrf"], "website": "", "consent_version": "2026-11"}
    data.pop("embed", None)
    response = world["client"].post("/subscribe", data=data)
    _not_a_server_error(response)
    world["invariants"].check()
    _took(world, "accepted" if response.status_code == 200 else f"answered {response.status_code}")


def _subscription_count(session) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(Subscription)) or 0)


def test_plausible_signups_mostly_succeed(world):  # type: ignore[no-untyped-def]
    _plausible_signups(world)
    assert _share(world, "accepted") >= 0.5, world["paths"]
    assert _subscription_count(world["session"]) >= settings().max_examples // 10


def test_the_profile_is_chosen_explicitly():
    """MAILER_HYPOTHESIS_PROFILE picks it (tests/conftest.py); .ci/run asks for large."""
    import os

    from tests.conftest import HYPOTHESIS_PROFILES

    name = os.environ.get("MAILER_HYPOTHESIS_PROFILE", "") or "small"
    assert settings().max_examples == HYPOTHESIS_PROFILES[name]
    assert settings.get_profile("large").max_examples >= 2000
