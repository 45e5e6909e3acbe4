"""A signup costs at most four SQL statements (BEGIN and COMMIT not counted), counted with
an engine event on whichever database the suite runs on (on PostgreSQL one: the four
INSERTs as CTEs of one statement); settings that change only when an admin changes them
are cached per process, not looked up per request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from mailer.events import Event
from mailer.subscribers.models import Consent, Subscriber, Subscription

pytestmark = pytest.mark.rolled_back

MAX_STATEMENTS = 4


@contextmanager
def counted(engine) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.strip().upper() not in ("BEGIN", "COMMIT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _signup(client, email: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/subscribers",
        json={"email": email, "name": "Kåre Ødegård", "consent": True, "topics": []},
    )


@pytest.mark.committed  # real transactions: BEGIN and COMMIT, not the harness's savepoints
def test_a_new_signup_costs_at_most_four_statements(rt, client, session, queued_tasks):
    _signup(client, "varm@example.no")  # the process's caches are warm after one signup
    with counted(rt.db.engine) as statements:
        response = _signup(client, "ny.leser@example.no")
    assert response.status_code == 202
    assert len(statements) <= MAX_STATEMENTS, "\n".join(statements)
    if rt.db.engine.dialect.name == "postgresql":
        assert len(statements) == 1, "\n".join(statements)  # one round trip
    subscription = session.scalar(
        select(Subscription).join(Subscriber).where(Subscriber.email == "ny.leser@example.no")
    )
    assert subscription is not None and subscription.status == "pending"
    assert subscription.confirmation_sent_at is not None
    assert ("mailer.send_confirmation", (subscription.id,)) in queued_tasks
    # All four rows, whichever way they were written.
    [consent] = session.scalars(select(Consent).where(Consent.subscription_id == subscription.id))
    assert (consent.action, consent.channel) == ("signup", "api") and consent.text
    [signup] = session.scalars(select(Event).where(Event.subscription_id == subscription.id))
    assert (signup.kind, signup.data) == ("signup", {"channel": "api"})


@pytest.mark.committed
def test_topics_are_cached_until_an_admin_changes_them(rt, client, session):
    from mailer.issues.newsletter import load_topics, update_settings

    before = load_topics(rt.db, rt.settings)
    with counted(rt.db.engine) as statements:
        assert load_topics(rt.db, rt.settings) == before
    assert statements == []  # the copy, no lookup

    update_settings(session, "Nyhetsbrev", "nb", ["Havbruk", "Klima"], rt.settings)
    assert load_topics(rt.db, rt.settings) == before  # not committed yet: unchanged
    session.commit()
    assert load_topics(rt.db, rt.settings) == ("Havbruk", "Klima")
    response = client.post(
        "/api/v1/subscribers",
        json={"email": "havbruk@example.no", "consent": True, "topics": ["Havbruk"]},
    )
    assert response.status_code == 202, response.get_json()


@pytest.mark.committed
def test_a_repeat_signup_takes_the_general_path(rt, client, session, queued_tasks):
    """The address exists: the general path (throttle, states) decides, and the answer and
    the one confirmation are as before."""
    assert _signup(client, "igjen@example.no").status_code == 202
    assert _signup(client, "igjen@example.no").status_code == 202
    rows = session.scalars(
        select(Subscription).join(Subscriber).where(Subscriber.email == "igjen@example.no")
    ).all()
    assert len(rows) == 1
    assert [t for t in queued_tasks if t[0] == "mailer.send_confirmation"] == [
        ("mailer.send_confirmation", (rows[0].id,))
    ]


@pytest.mark.committed
def test_another_process_sees_an_admin_change_through_redis(rt, session, test_env, tmp_path):
    """The change is committed by another process (its own settings, the same database and
    Redis): this process's copy goes once that process has bumped the generation in Redis."""
    import dataclasses
    import subprocess
    import sys

    from mailer.issues.newsletter import load_topics
    from tests.harness.databases import RedisServer
    from tests.harness.processes import ROOT, wait_until

    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        settings = dataclasses.replace(rt.settings, redis_url=server.url)
        before = load_topics(rt.db, settings)
        assert "Havbruk" not in before
        change = (
            "from mailer.app import create_app\n"
            "from mailer.issues.newsletter import update_settings\n"
            "app = create_app(web=False)\n"
            "rt = app.extensions['mailer']\n"
            "with app.app_context(), rt.db.session() as s:\n"
            "    update_settings(s, 'Nyhetsbrev', 'nb', ['Havbruk'], rt.settings)\n"
            "    s.commit()\n"
        )
        subprocess.run(
            [sys.executable, "-c", change],
            cwd=ROOT,
            env={**test_env, "MAILER_REDIS_URL": server.url},
            check=True,
            capture_output=True,
        )
        assert server.client().get("mailer:newsletter:generation") == b"1"
        wait_until(lambda: load_topics(rt.db, settings) == ("Havbruk",), "the new topics to show")
    finally:
        server.kill()
