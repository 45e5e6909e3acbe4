"""Unconfirmed signups are deleted after MAILER_PENDING_DAYS; an expired confirmation link
offers a new one (at most one an hour)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import itsdangerous.timed
import pytest
from sqlalchemy import select

from mailer.config import ConfigError, load_settings
from mailer.db import utcnow
from mailer.events import Event
from mailer.subscribers.cleanup import delete_stale_pending
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.models import Consent, Subscriber, Subscription
from mailer.subscribers.signup_requests import SignupRequest
from mailer.subscribers.subscriptions import subscribe, unsubscribe
from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.reader import (
    configure,
    events,
    hidden_fields,
    link_in,
    link_token,
    local,
    subscription_of,
)

CTX = RequestContext(ip="192.0.2.7", user_agent="tests", channel="web")
NOW = utcnow()


def _signup(session, email: str, days_ago: float) -> int:  # type: ignore[no-untyped-def]
    # Its confirmation mail went out when it was made, days ago: none is queued now.
    request = SignupRequest(email=email, name="", language="nb", topics=())
    outcome = subscribe(session, request, CTX, mail_confirmation=False)
    subscription = session.get(Subscription, outcome.subscription_id)
    when = NOW - timedelta(days=days_ago)
    subscription.created_at = when
    subscription.confirmation_sent_at = when
    session.commit()
    return outcome.subscription_id


def _emails(session) -> set[str]:  # type: ignore[no-untyped-def]
    session.rollback()
    return set(session.scalars(select(Subscriber.email)))


def test_pending_signups_older_than_the_limit_are_deleted_with_their_records(session):
    old = _signup(session, "gammel@example.no", days_ago=31)
    _signup(session, "fersk@example.no", days_ago=29)
    active = factories.subscription(session, "aktiv@example.no")
    active.created_at = NOW - timedelta(days=400)
    left = factories.subscription(session, "borte@example.no")
    left.created_at = NOW - timedelta(days=400)
    session.commit()
    unsubscribe(session, left.id, CTX)
    session.commit()

    result = delete_stale_pending(session, NOW, days=30)
    session.commit()

    assert (result.subscriptions, result.subscribers) == (1, 1)
    assert _emails(session) == {"fersk@example.no", "aktiv@example.no", "borte@example.no"}
    for model in (Consent, Event):
        assert not session.scalars(select(model).where(model.subscription_id == old)).all()
    cleanup = session.scalars(select(Event).where(Event.kind == "cleanup.pending")).one()
    assert cleanup.data == {"subscriptions": 1, "subscribers": 1, "days": 30}
    # Nothing left to do: a second run deletes nothing and writes no event.
    again = delete_stale_pending(session, NOW, days=30)
    session.commit()
    assert (again.subscriptions, again.subscribers) == (0, 0)
    assert events(session, "cleanup.pending") == 1


def test_a_former_reader_who_signed_up_again_recently_is_kept(session):
    subscription_id = _signup(session, "tilbake@example.no", days_ago=500)
    subscription = session.get(Subscription, subscription_id)
    subscription.status = "unsubscribed"
    session.commit()
    # Signs up again today: the row is old, the signup is new.
    again = subscribe(
        session,
        SignupRequest(email="tilbake@example.no", name="", language="nb", topics=()),
        CTX,
    )
    session.commit()
    assert again.subscription_id == subscription_id

    result = delete_stale_pending(session, NOW, days=30)
    session.commit()

    assert result.subscriptions == 0
    assert subscription_of(session, "tilbake@example.no").status == "pending"


def test_the_limit_follows_the_setting(session):
    _signup(session, "ti@example.no", days_ago=10)
    assert delete_stale_pending(session, NOW, days=30).subscriptions == 0
    assert delete_stale_pending(session, NOW, days=7).subscriptions == 1
    session.commit()
    assert _emails(session) == set()


def test_beat_runs_the_clean_up_task_nightly_with_the_configured_days(
    app, session, rt, monkeypatch
):
    from celery.schedules import crontab

    from mailer.subscribers.tasks import cleanup_pending

    celery = app.extensions["celery"]
    [entry] = [
        e for e in celery.conf.beat_schedule.values() if e["task"] == "mailer.cleanup_pending"
    ]
    assert isinstance(entry["schedule"], crontab)
    assert entry["schedule"].hour == {3} and entry["schedule"].minute == {30}
    assert "mailer.cleanup_pending" in celery.tasks

    _signup(session, "elleve@example.no", days_ago=11)
    _signup(session, "ni@example.no", days_ago=9)
    configure(rt, monkeypatch, pending_days=10)
    with app.app_context():
        cleanup_pending.run()

    assert _emails(session) == {"ni@example.no"}


def test_pending_days_is_read_from_the_environment(monkeypatch, test_env):
    assert load_settings().pending_days == 30
    monkeypatch.setenv("MAILER_PENDING_DAYS", "14")
    assert load_settings().pending_days == 14
    for bad in ("0", "fjorten"):
        monkeypatch.setenv("MAILER_PENDING_DAYS", bad)
        with pytest.raises(ConfigError, match="MAILER_PENDING_DAYS"):
            load_settings()


# --- expired confirmation links ----------------------------------------------------------------


def _token_from(rt, monkeypatch, subscription_id: int, days_ago: float) -> str:  # type: ignore[no-untyped-def]
    class Past:
        @staticmethod
        def time() -> float:
            return datetime.now(UTC).timestamp() - days_ago * 86400

    with monkeypatch.context() as patch:
        patch.setattr(itsdangerous.timed, "time", Past)
        return link_token(rt, Purpose.CONFIRM, subscription_id)


@pytest.mark.parametrize(
    ("language", "button"), [("nb", "Send meg en ny lenke"), ("en", "Send me a new link")]
)
def test_an_expired_confirmation_link_offers_a_new_one(
    client, session, rt, monkeypatch, language, button
):
    subscription_id = _signup(session, "treg@example.no", days_ago=8)
    token = _token_from(rt, monkeypatch, subscription_id, days_ago=8)

    for method in ("GET", "POST"):
        response = client.open(f"/confirm/{token}?lang={language}", method=method)
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert f'action="/resend/{token}"' in html
        assert button in html
    assert subscription_of(session, "treg@example.no").status == "pending"


def test_a_new_link_is_mailed_and_confirms(
    client, session, rt, monkeypatch, celery_worker, smtp_sink
):
    subscription_id = _signup(session, "treg@example.no", days_ago=8)
    token = _token_from(rt, monkeypatch, subscription_id, days_ago=8)
    page = client.get(f"/confirm/{token}")

    response = client.post(f"/resend/{token}", data=hidden_fields(page.get_data(as_text=True)))

    assert response.status_code == 200
    assert "vi sendt en ny lenke" in response.get_data(as_text=True)
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["treg@example.no"]
    confirm_path = local(link_in(mail, "/confirm/"), "")
    assert confirm_path != f"/confirm/{token}"
    assert client.post(confirm_path).status_code == 200
    assert subscription_of(session, "treg@example.no").status == "active"


def test_new_links_are_sent_at_most_once_an_hour(client, session, rt, monkeypatch):
    subscription_id = _signup(session, "treg@example.no", days_ago=8)
    token = _token_from(rt, monkeypatch, subscription_id, days_ago=8)
    fields = hidden_fields(client.get(f"/confirm/{token}").get_data(as_text=True))

    answers = {
        client.post(f"/resend/{token}", data=fields).get_data(as_text=True) for _ in range(3)
    }

    assert len(answers) == 1
    assert events(session, "confirmation.resend") == 1
    # An hour later, once more.
    subscription = session.get(Subscription, subscription_id)
    subscription.confirmation_sent_at = utcnow() - timedelta(minutes=61)
    session.commit()
    client.post(f"/resend/{token}", data=fields)
    assert events(session, "confirmation.resend") == 2


def test_a_forged_token_gets_no_new_link(client, session, rt, monkeypatch):
    subscription_id = _signup(session, "treg@example.no", days_ago=8)
    token = _token_from(rt, monkeypatch, subscription_id, days_ago=8)
    fields = hidden_fields(client.get(f"/confirm/{token}").get_data(as_text=True))
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    unsubscribe_token = link_token(rt, Purpose.UNSUBSCRIBE, subscription_id)

    for bad in (forged, unsubscribe_token):
        response = client.post(f"/resend/{bad}", data=fields)
        assert response.status_code == 400
        assert "Ugyldig lenke" in response.get_data(as_text=True)
    assert events(session, "confirmation.resend") == 0


def test_read_expired_still_refuses_forgeries(rt, monkeypatch):
    from mailer.tokens import InvalidToken

    token = _token_from(rt, monkeypatch, 42, days_ago=30)
    assert rt.tokens.read_expired(Purpose.CONFIRM, token).subscription_id == 42
    fresh = link_token(rt, Purpose.CONFIRM, 7)
    assert rt.tokens.read_expired(Purpose.CONFIRM, fresh).subscription_id == 7
    with pytest.raises(InvalidToken):
        rt.tokens.read_expired(Purpose.CONFIRM, token[:-2] + "xx")
    with pytest.raises(InvalidToken):
        rt.tokens.read_expired(Purpose.PREFERENCES, token)
