"""Signed link tokens: purpose, expiry, tampering, key rotation; and what the links do over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import itsdangerous.timed
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.events import Event
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.models import Consent, Subscription
from mailer.subscribers.signup_requests import SignupRequest
from mailer.subscribers.subscriptions import confirm, subscribe
from mailer.tokens import (
    CONFIRM_MAX_AGE,
    ExpiredToken,
    InvalidToken,
    LinkToken,
    Purpose,
    Tokens,
)
from tests.harness.reader import link_token

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

DAY = 24 * 3600
T0 = 1_800_000_000  # a fixed "now" in 2027
SECRET = "c2VjcmV0LXNlY3Jl"


class FrozenClock:
    """Stands in for the `time` module inside itsdangerous.timed: only time() is used there."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(T0)
    monkeypatch.setattr(itsdangerous.timed, "time", frozen)
    return frozen


def _tamper(token: str, index: int) -> str:
    """The token with one character changed to another URL-safe character."""
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


# --- unit tests of Tokens -----------------------------------------------------------------


@pytest.mark.parametrize("purpose", list(Purpose))
@pytest.mark.parametrize("subscription_id", [1, 42, 2**31 + 7])
def test_round_trip(purpose, subscription_id):
    tokens = Tokens(("key-one",))

    token = tokens.make(purpose, subscription_id, SECRET)

    assert isinstance(token, str) and token.isascii()
    link = tokens.read(purpose, token)
    assert (link.subscription_id, link.secret) == (subscription_id, SECRET)
    # Short enough for any URL, and for a line of a plain-text mail with the base URL.
    assert len(token) <= 90


def test_tokens_for_different_ids_differ():
    tokens = Tokens(("key-one",))
    assert tokens.make(Purpose.CONFIRM, 1, SECRET) != tokens.make(Purpose.CONFIRM, 2, SECRET)


def test_the_clock_fixture_controls_the_timestamp(clock):
    # Guards the expiry tests below: the patched clock really is the one itsdangerous reads.
    signer = URLSafeTimedSerializer("k")
    _, signed_at = signer.loads(signer.dumps(1), return_timestamp=True)
    assert signed_at.timestamp() == T0


@pytest.mark.parametrize(
    "where",
    ["payload", "timestamp", "signature-start", "signature-middle"],
)
@pytest.mark.parametrize("purpose", list(Purpose))
def test_tampered_token_is_invalid(purpose, where):
    tokens = Tokens(("key-one",))
    token = tokens.make(purpose, 42, SECRET)
    payload, timestamp, signature = token.split(".")
    index = {
        "payload": 0,
        "timestamp": len(payload) + 1,
        "signature-start": len(payload) + len(timestamp) + 2,
        "signature-middle": len(payload) + len(timestamp) + 2 + len(signature) // 2,
    }[where]
    tampered = _tamper(token, index)
    assert tampered != token

    with pytest.raises(InvalidToken) as raised:
        tokens.read(purpose, tampered)
    assert not isinstance(raised.value, ExpiredToken)


@pytest.mark.parametrize(
    "bad",
    ["", "x", "not.a.token", "...", "ÆØÅ.æøå.ü", "%00", "eyJ9.AAAA.BBBB"],
)
def test_garbage_is_invalid(bad):
    with pytest.raises(InvalidToken):
        Tokens(("key-one",)).read(Purpose.CONFIRM, bad)


def test_payload_of_another_token_with_a_valid_signature_part_is_invalid():
    tokens = Tokens(("key-one",))
    one = tokens.make(Purpose.UNSUBSCRIBE, 1, SECRET)
    two = tokens.make(Purpose.UNSUBSCRIBE, 2, SECRET)
    forged = two.split(".")[0] + "." + ".".join(one.split(".")[1:])
    assert forged not in (one, two)

    with pytest.raises(InvalidToken):
        tokens.read(Purpose.UNSUBSCRIBE, forged)


def test_truncated_and_extended_tokens_are_invalid():
    tokens = Tokens(("key-one",))
    token = tokens.make(Purpose.CONFIRM, 42, SECRET)
    for bad in (token[:-1], token + "A", token[1:], token.rsplit(".", 1)[0]):
        with pytest.raises(InvalidToken):
            tokens.read(Purpose.CONFIRM, bad)


def test_token_signed_with_another_key_is_invalid():
    forged = Tokens(("attacker-key",)).make(Purpose.UNSUBSCRIBE, 42, SECRET)
    with pytest.raises(InvalidToken):
        Tokens(("key-one",)).read(Purpose.UNSUBSCRIBE, forged)


@pytest.mark.parametrize(
    ("made_for", "used_for"),
    [(Purpose.UNSUBSCRIBE, Purpose.CONFIRM), (Purpose.CONFIRM, Purpose.UNSUBSCRIBE)],
    ids=["unsubscribe-as-confirm", "confirm-as-unsubscribe"],
)
def test_token_is_refused_for_another_purpose(made_for, used_for):
    tokens = Tokens(("key-one",))
    token = tokens.make(made_for, 42, SECRET)

    assert tokens.read(made_for, token).subscription_id == 42
    with pytest.raises(InvalidToken):
        tokens.read(used_for, token)


@pytest.mark.parametrize(
    "value",
    [
        "42",
        True,
        None,
        4.2,
        [42],
        {"id": 42},
        [42, ""],
        [True, SECRET],
        ["42", SECRET],
        [42, 5],
        [42, SECRET, "x"],
    ],
)
def test_correctly_signed_value_that_is_not_an_id_is_invalid(value):
    # Signed with the right key and salt, as a future bug elsewhere might do.
    serializer = URLSafeTimedSerializer(["key-one"], salt="mailer.confirm")
    tokens = Tokens(("key-one",))
    # The salt here is the real one: both the current and the legacy form read.
    assert tokens.read(Purpose.CONFIRM, serializer.dumps([42, SECRET])).secret == SECRET
    assert tokens.read(Purpose.CONFIRM, serializer.dumps(42)).secret is None
    signed = serializer.dumps(value)

    with pytest.raises(InvalidToken):
        tokens.read(Purpose.CONFIRM, signed)


def test_confirm_token_expires_after_seven_days(clock):
    tokens = Tokens(("key-one",))
    token = tokens.make(Purpose.CONFIRM, 42, SECRET)

    clock.now = T0 + 7 * DAY - 1
    assert tokens.read(Purpose.CONFIRM, token).subscription_id == 42
    clock.now = T0 + CONFIRM_MAX_AGE
    # Exactly seven days is still fine.
    assert tokens.read(Purpose.CONFIRM, token).subscription_id == 42

    clock.now = T0 + 7 * DAY + 1
    with pytest.raises(ExpiredToken):
        tokens.read(Purpose.CONFIRM, token)
    clock.now = T0 + 30 * DAY
    with pytest.raises(ExpiredToken):
        tokens.read(Purpose.CONFIRM, token)


def test_unsubscribe_token_does_not_expire(clock):
    tokens = Tokens(("key-one",))
    token = tokens.make(Purpose.UNSUBSCRIBE, 42, SECRET)

    for days in (8, 400, 10 * 365):
        clock.now = T0 + days * DAY
        assert tokens.read(Purpose.UNSUBSCRIBE, token).subscription_id == 42


def test_expired_tampered_token_is_still_just_invalid(clock):
    tokens = Tokens(("key-one",))
    token = tokens.make(Purpose.CONFIRM, 42, SECRET)
    clock.now = T0 + 30 * DAY

    with pytest.raises(InvalidToken) as raised:
        tokens.read(Purpose.CONFIRM, Tokens(("other",)).make(Purpose.CONFIRM, 42, SECRET))
    assert not isinstance(raised.value, ExpiredToken)
    with pytest.raises(ExpiredToken):
        tokens.read(Purpose.CONFIRM, token)


def test_an_expired_link_still_says_when_it_was_signed(clock):
    """Mutant ``Tokens._expired``: ``_link(value, exc.date_signed)`` → ``_link(value, None)``
    (a survivor of the first `make mutate`): an expired link would lose its signing time,
    which the legacy-link window needs (``links.opens`` compares it with the row's)."""
    tokens = Tokens(("key-one",))
    token = tokens.make(Purpose.CONFIRM, 42, SECRET)
    clock.now = T0 + 30 * DAY
    signed = LinkToken(42, SECRET, datetime.fromtimestamp(T0, UTC))

    with pytest.raises(ExpiredToken) as raised:
        tokens.read(Purpose.CONFIRM, token)
    assert raised.value.link == signed
    assert tokens.read_expired(Purpose.CONFIRM, token) == signed


@pytest.mark.parametrize("purpose", list(Purpose))
def test_key_rotation_accepts_old_tokens_and_signs_with_the_new_key(purpose):
    old = Tokens(("old",))
    rotated = Tokens(("new", "old"))
    new_only = Tokens(("new",))

    old_token = old.make(purpose, 42, SECRET)
    assert rotated.read(purpose, old_token).subscription_id == 42
    with pytest.raises(InvalidToken):
        new_only.read(purpose, old_token)

    rotated_token = rotated.make(purpose, 43, SECRET)
    assert rotated.read(purpose, rotated_token).subscription_id == 43
    assert new_only.read(purpose, rotated_token).subscription_id == 43
    with pytest.raises(InvalidToken):
        old.read(purpose, rotated_token)


def test_key_rotation_keeps_the_purpose_separate():
    token = Tokens(("old",)).make(Purpose.UNSUBSCRIBE, 42, SECRET)
    with pytest.raises(InvalidToken):
        Tokens(("new", "old")).read(Purpose.CONFIRM, token)


def test_no_keys_is_an_error():
    with pytest.raises(ValueError):
        Tokens(())


# --- over HTTP, against the real app and database -----------------------------------------

CTX = RequestContext(ip="192.0.2.10", user_agent="pytest", channel="web")


def _signup(session: Session, email: str = "per@example.no", active: bool = False) -> int:
    outcome = subscribe(
        session, SignupRequest(email=email, name="Per", language="nb", topics=()), CTX
    )
    session.commit()
    if active:
        confirm(session, outcome.subscription_id, CTX)
        session.commit()
    return outcome.subscription_id


def _snapshot(session: Session, subscription_id: int) -> tuple[object, ...]:
    session.rollback()  # see what the requests committed
    subscription = session.get(Subscription, subscription_id)
    assert subscription is not None
    return (
        subscription.status,
        subscription.confirmed_at,
        subscription.unsubscribed_at,
        session.scalar(select(func.count()).select_from(Consent)),
        session.scalar(select(func.count()).select_from(Event)),
    )


@pytest.mark.committed
def test_http_tampered_confirm_token_is_refused_and_changes_nothing(client, session, rt):
    subscription_id = _signup(session)
    before = _snapshot(session, subscription_id)
    token = link_token(rt, Purpose.CONFIRM, subscription_id)
    tampered = _tamper(token, len(token.split(".")[0]) + len(token.split(".")[1]) + 2)

    for method in (client.get, client.post):
        response = method(f"/confirm/{tampered}")
        assert response.status_code == 400
        assert "Ugyldig lenke" in response.get_data(as_text=True)

    assert _snapshot(session, subscription_id) == before
    assert before[0] == "pending"
    # The control: the untampered token does confirm.
    assert client.post(f"/confirm/{token}").status_code == 200
    assert _snapshot(session, subscription_id)[0] == "active"


@pytest.mark.committed
def test_http_forged_unsubscribe_token_is_refused_and_changes_nothing(client, session, rt):
    subscription_id = _signup(session, active=True)
    before = _snapshot(session, subscription_id)
    forged = Tokens(("attacker-key",)).make(Purpose.UNSUBSCRIBE, subscription_id, SECRET)

    response = client.post(
        f"/unsubscribe/{forged}",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert client.post(f"/unsubscribe/{forged}").status_code == 400
    assert client.get(f"/unsubscribe/{forged}").status_code == 400

    assert _snapshot(session, subscription_id) == before
    assert before[0] == "active"
    # The control: the app's own token does unsubscribe.
    real = link_token(rt, Purpose.UNSUBSCRIBE, subscription_id)
    assert client.post(f"/unsubscribe/{real}").status_code == 200
    assert _snapshot(session, subscription_id)[0] == "unsubscribed"


def test_http_unsubscribe_token_on_confirm_is_refused_and_stays_pending(client, session, rt):
    subscription_id = _signup(session)
    before = _snapshot(session, subscription_id)
    token = link_token(rt, Purpose.UNSUBSCRIBE, subscription_id)

    assert client.get(f"/confirm/{token}").status_code == 400
    assert client.post(f"/confirm/{token}").status_code == 400

    after = _snapshot(session, subscription_id)
    assert after == before
    assert after[0] == "pending"
    assert after[1] is None


def test_http_confirm_token_on_unsubscribe_is_refused_and_stays_active(client, session, rt):
    subscription_id = _signup(session, active=True)
    before = _snapshot(session, subscription_id)
    token = link_token(rt, Purpose.CONFIRM, subscription_id)

    assert client.post(f"/unsubscribe/{token}").status_code == 400

    assert _snapshot(session, subscription_id) == before
    assert before[0] == "active"


def test_http_expired_confirm_link_is_refused_and_stays_pending(client, session, rt, clock):
    subscription_id = _signup(session)
    before = _snapshot(session, subscription_id)
    token = link_token(rt, Purpose.CONFIRM, subscription_id)
    clock.now = T0 + 8 * DAY

    response = client.post(f"/confirm/{token}")

    assert response.status_code == 400
    assert "Lenken har utløpt" in response.get_data(as_text=True)
    assert _snapshot(session, subscription_id) == before


def test_http_token_for_a_deleted_subscription_is_refused(client, session, rt):
    subscription_id = _signup(session)
    session.delete(session.get(Subscription, subscription_id))
    session.commit()

    for path in (
        f"/confirm/{link_token(rt, Purpose.CONFIRM, subscription_id)}",
        f"/unsubscribe/{link_token(rt, Purpose.UNSUBSCRIBE, subscription_id)}",
    ):
        response = client.post(path)
        assert response.status_code == 400, path
        assert "Ugyldig lenke" in response.get_data(as_text=True)


def test_an_expired_confirm_link_offers_a_new_one_in_the_pages_language(client, session, rt, clock):
    """Mutants of ``personal_links.link_error`` (survivors of `make mutate`): the purpose,
    the token or the language not handed to the page. A reader whose confirmation link
    expired would get no button for a new link, or one that posts another token, or a
    page and form in another language than the one asked for."""
    subscription_id = _signup(session)
    token = link_token(rt, Purpose.CONFIRM, subscription_id)
    clock.now = T0 + 8 * DAY

    response = client.get(f"/confirm/{token}?lang=en")

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert '<html lang="en">' in page and "The link has expired" in page
    assert f'action="/resend/{token}"' in page
    assert '<input type="hidden" name="language" value="en">' in page


def test_links_that_open_no_row_say_invalid_in_the_language_asked_for(client, session, rt, clock):
    """Mutants of ``personal_links.open_link`` (survivors of `make mutate`): the language or
    the purpose not handed to the error page, or "expired" said of an expired link whose id
    now names another row (it would offer that row's reader a new confirmation link), or of
    a link whose secret is not the row's."""
    subscription_id = _signup(session)
    earlier_readers = Tokens(rt.settings.secret_keys).make(
        Purpose.CONFIRM, subscription_id, "an-earlier-rows-secret"
    )
    clock.now = T0 + 8 * DAY  # expired, and its id now names another row
    fresh_for_another_secret = Tokens(rt.settings.secret_keys).make(
        Purpose.UNSUBSCRIBE, subscription_id, "an-earlier-rows-secret"
    )

    for path in (
        f"/confirm/{earlier_readers}",
        f"/unsubscribe/{fresh_for_another_secret}",
    ):
        response = client.get(f"{path}?lang=en")
        assert response.status_code == 400, path
        page = response.get_data(as_text=True)
        assert '<html lang="en">' in page and "Invalid link" in page, path
        assert "expired" not in page and "/resend/" not in page, path
