"""The upgrade path: a database populated at the first migration and at every later one
that adds a table, migrated step by step to the newest, and the app reads every row.

Each table gets its rows at the oldest revision that has it, with the columns it had
then; later columns come from the migrations' defaults and data steps. Runs on the run's
backend (SQLite, or PostgreSQL with MAILER_TEST_DATABASE_URL; .ci/run runs both).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy.orm import Session

from mailer.app import create_app
from mailer.db import Base, UTCDateTime, utcnow
from mailer.migrate import alembic_config, upgrade
from mailer.runtime import Runtime
from mailer.tokens import Purpose
from tests.harness.databases import scratch_database
from tests.subscribers.test_links import legacy_token

API_TOKEN = "mlr_oppgradering-token-0123456789"  # the prefix tokens have carried from 0002
READER = "ase.orstavik@eksempel.no"
SUBJECT = "Nytt fra Brussel – mars"
CREATED = utcnow() - timedelta(days=100)

Ids = dict[str, Any]


def _insert(conn: sa.Connection, table_name: str, **values: Any) -> Any:
    """One row through a lightweight table of exactly the given columns (the schema of
    that revision, not today's models); returns its id when it has one."""
    types = {datetime: UTCDateTime(), list: sa.JSON(), dict: sa.JSON()}
    columns = [sa.column(key, types.get(type(value))) for key, value in values.items()]
    table = sa.table(table_name, *columns)
    if table_name in NO_ID_COLUMN:
        conn.execute(sa.insert(table).values(**values))
        return None
    returned = sa.column("id")
    return conn.execute(sa.insert(table).values(**values).returning(returned)).scalar_one()


NO_ID_COLUMN = {"issue_article"}


def _seed_0001(conn: sa.Connection, ids: Ids) -> None:
    ids["newsletter"] = conn.execute(sa.text("SELECT id FROM newsletter")).scalar_one()
    ids["article"] = _insert(
        conn,
        "article",
        source="https://europakontor.example.no/feed",
        guid="sak-1",
        url="https://europakontor.example.no/nyheter/sak-1",
        title="Klimaavtalen – «et steg videre»",
        summary="Bærekraft i Brussel, med æ, ø og å.",
        image_url=None,
        topics=["Klima"],
        published_at=CREATED,
        created_at=CREATED,
    )
    ids["editor"] = _insert(
        conn,
        "editor",
        email="redaktor@eksempel.no",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        role="admin",
        created_at=CREATED,
    )
    ids["feed"] = _insert(
        conn,
        "feed",
        url="https://europakontor.example.no/feed",
        etag='"abc"',
        last_modified=None,
        last_polled_at=CREATED,
        last_error=None,
    )
    ids["subscriber"] = _insert(
        conn, "subscriber", email=READER, name="Åse Ørstavik", language="nb", created_at=CREATED
    )
    ids["issue"] = _insert(
        conn,
        "issue",
        newsletter_id=ids["newsletter"],
        subject=SUBJECT,
        intro="Hei **alle**",
        language="nb",
        period_start=CREATED - timedelta(days=31),
        period_end=CREATED,
        status="sent",
        created_at=CREATED,
        send_requested_at=CREATED,
        deliveries_created_at=CREATED,
        sent_at=CREATED,
    )
    ids["subscription"] = _insert(
        conn,
        "subscription",
        subscriber_id=ids["subscriber"],
        newsletter_id=ids["newsletter"],
        status="active",
        topics=["Klima"],
        created_at=CREATED,
        confirmed_at=CREATED,
        unsubscribed_at=None,
        confirmation_sent_at=CREATED,
    )
    _insert(
        conn,
        "consent",
        subscription_id=ids["subscription"],
        action="signup",
        text="Ja, send meg nyhetsbrevet.",
        text_version="1",
        channel="web",
        ip="192.0.2.10",
        user_agent="Mozilla/5.0",
        created_at=CREATED,
    )
    ids["delivery"] = _insert(
        conn,
        "delivery",
        issue_id=ids["issue"],
        subscription_id=ids["subscription"],
        status="sent",
        attempts=1,
        last_error=None,
        message_id="<1.1@europakontor.example.no>",
        enqueued_at=CREATED,
        claimed_at=CREATED,
        sent_at=CREATED,
    )
    _insert(conn, "issue_article", issue_id=ids["issue"], article_id=ids["article"], position=0)
    _insert(
        conn,
        "event",
        kind="subscription.confirmed",
        subscription_id=ids["subscription"],
        issue_id=None,
        data={"channel": "web"},
        created_at=CREATED,
    )


def _seed_0002(conn: sa.Connection, ids: Ids) -> None:
    _insert(
        conn,
        "api_token",
        editor_id=ids["editor"],
        token_hash=hashlib.sha256(API_TOKEN.encode()).hexdigest(),
        created_at=CREATED,
        last_used_at=None,
    )


def _seed_0004(conn: sa.Connection, ids: Ids) -> None:
    _insert(
        conn,
        "suppression",
        email_hash=hashlib.sha256(b"erased@eksempel.no").hexdigest(),
        reason="erased",
        created_at=CREATED,
    )


def _seed_0009(conn: sa.Connection, ids: Ids) -> None:
    _insert(
        conn,
        "send_run",
        id="run-upgrade-1",
        issue_id=ids["issue"],
        host="worker-1",
        pid=4242,
        process_id="abcdef0123456789",
        delivery_ids=[ids["delivery"]],
        started_at=CREATED,
        lease_expires_at=CREATED + timedelta(seconds=60),
        stopped_seen_at=None,
    )


def _seed_0010(conn: sa.Connection, ids: Ids) -> None:
    _insert(
        conn,
        "bounce_report",
        source="smtp",
        digest="0" * 64,
        envelope_to="bounces@nyhetsbrev.example.no",
        content="Subject: Undelivered Mail Returned to Sender\n\n",
        size=48,
        received_at=CREATED,
        status="unrecognised",
        kind=None,
        delivery_id=None,
        subscription_id=None,
        issue_id=None,
        detail={},
        processed_at=CREATED,
    )


STORED_DESCRIPTION = "Nytt fra Brussel for regionene – «kort og godt»."


def _seed_0012(conn: sa.Connection, ids: Ids) -> None:
    # A stored setting's value is JSON (a text here): typed as such, not by Python's type.
    setting = sa.table(
        "site_setting",
        sa.column("key"),
        sa.column("value", sa.JSON()),
        sa.column("updated_at", UTCDateTime()),
    )
    conn.execute(
        sa.insert(setting),
        [
            {"key": "organisation", "value": "Europakontoret i Brussel", "updated_at": CREATED},
            # One text for both languages then; after the upgrade it is the Norwegian one.
            {"key": "description", "value": STORED_DESCRIPTION, "updated_at": CREATED},
            {"key": "frequency", "value": "én gang i måneden", "updated_at": CREATED},
        ],
    )
    _insert(
        conn,
        "editor_recovery_code",
        editor_id=ids["editor"],
        code_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
        used_at=None,
    )


# The tables each seeding step fills, by the revision that created them. A migration that
# adds a table adds its step here (the test says which table lacks one).
SEEDS: dict[str, Callable[[sa.Connection, Ids], None]] = {
    "0001": _seed_0001,
    "0002": _seed_0002,
    "0004": _seed_0004,
    "0009": _seed_0009,
    "0010": _seed_0010,
    "0012": _seed_0012,
}


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]


def _tables(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names()) - {"alembic_version"}


def _empty_tables(engine: sa.Engine, tables: set[str]) -> set[str]:
    with engine.connect() as conn:
        return {
            t for t in tables if not conn.execute(sa.text(f"SELECT 1 FROM {t} LIMIT 1")).first()
        }


@pytest.fixture
def migrated_app(app: Flask, rt: Runtime, tmp_path: Path) -> Iterator[tuple[Flask, Ids]]:
    """A database populated revision by revision and migrated to the newest; the app on it."""
    with scratch_database(tmp_path, "upgrade") as url:
        engine = sa.create_engine(url)  # foreign keys as the migrations saw them
        ids: Ids = {}
        seen: set[str] = set()
        try:
            for revision in _revisions():
                upgrade(url, revision)
                new = _tables(engine) - seen
                if new and revision not in SEEDS:
                    raise AssertionError(
                        f"revision {revision} adds {sorted(new)}: give SEEDS rows for them"
                    )
                if revision in SEEDS:
                    with engine.begin() as conn:
                        SEEDS[revision](conn, ids)
                    assert _empty_tables(engine, new) == set(), f"rows for {revision}'s tables"
                seen |= new
            assert _empty_tables(engine, seen) == set()
        finally:
            engine.dispose()
        other = create_app(dataclasses.replace(rt.settings, database_url=url))
        other.config.update(TESTING=True)
        yield other, ids
        other.extensions["mailer"].db.engine.dispose()
        app.extensions["celery"].set_default()


def test_every_table_populated_on_the_oldest_schema_reads_after_the_newest(
    migrated_app: tuple[Flask, Ids], rt: Runtime
) -> None:
    app, ids = migrated_app
    db = app.extensions["mailer"].db
    with Session(db.engine) as session:
        # Every model loads its rows, every mapped column included.
        for mapper in Base.registry.mappers:
            rows = session.scalars(sa.select(mapper.class_)).all()
            assert rows, f"no {mapper.class_.__name__} rows after the upgrade"
            for row in rows:
                for attribute in mapper.column_attrs:
                    getattr(row, attribute.key)
        assert {mapper.local_table.name for mapper in Base.registry.mappers} >= {
            "article",
            "editor",
            "subscription",
            "delivery",
            "send_run",
            "api_token",
        }

    client = app.test_client()
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    issues = client.get("/api/v1/issues", headers=auth).get_json()["issues"]
    assert [i["subject"] for i in issues] == [SUBJECT]
    issue = client.get(f"/api/v1/issues/{ids['issue']}", headers=auth).get_json()
    assert issue["status"] == "sent" and issue["counts"]["sent"] == 1
    reader = client.get(f"/api/v1/subscribers/{ids['subscriber']}", headers=auth).get_json()
    assert READER in str(reader) and "Ja, send meg nyhetsbrevet." in str(reader)
    articles = client.get("/api/v1/articles", headers=auth).get_json()
    assert "Klimaavtalen – «et steg videre»" in str(articles)

    # A site text stored as one text is the Norwegian one, and English readers see it until
    # an English one is written.
    for language in ("nb", "en"):
        signup = client.get(f"/subscribe?lang={language}").get_data(as_text=True)
        assert STORED_DESCRIPTION in signup, language
        assert "én gang i måneden" in signup, language

    # The unsubscribe link in the mail that reader got before the upgrade still works.
    token = legacy_token(rt, Purpose.UNSUBSCRIBE, ids["subscription"], utcnow())
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    with Session(db.engine) as session:
        status = session.execute(
            sa.text("SELECT status FROM subscription WHERE id = :id"), {"id": ids["subscription"]}
        ).scalar_one()
    assert status == "unsubscribed"
