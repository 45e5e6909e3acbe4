"""`mailer db backup` and `mailer db restore` on the run's backend (SQLite's online backup
API, or pg_dump/pg_restore with MAILER_TEST_DATABASE_URL; .ci/run runs both): a backup
goes into a fresh database, and a reader's unsubscribe link mailed before the backup
still works against the restored copy."""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from mailer.app import create_app
from mailer.backup import tables_of
from mailer.mail.links import personal_link
from mailer.migrate import head_revision
from mailer.runtime import Runtime
from mailer.subscribers.models import Subscription
from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.databases import scratch_database

READER = "kare.odegard@eksempel.no"


@pytest.fixture
def fresh_app(app: Flask, rt: Runtime, tmp_path: Path) -> Iterator[Flask]:
    """The app as configured for the run, but on a new, empty database."""
    with scratch_database(tmp_path, "restored") as url:
        other = create_app(dataclasses.replace(rt.settings, database_url=url))
        other.config.update(TESTING=True)
        yield other
        other.extensions["mailer"].db.engine.dispose()
        # create_app makes its Celery app the default: give it back to the session's app.
        app.extensions["celery"].set_default()


def _status(flask_app: Flask, subscription_id: int) -> str:
    with flask_app.extensions["mailer"].db.session() as s:
        return s.scalars(
            select(Subscription.status).where(Subscription.id == subscription_id)
        ).one()


def test_backup_restores_into_a_fresh_database_and_mailed_links_still_work(
    app: Flask, rt: Runtime, session: Session, cli, fresh_app: Flask, tmp_path: Path
) -> None:
    reader = factories.subscription(session, READER, name="Kåre Ødegård")
    factories.drafted_issue(session)  # commits
    link = personal_link(rt.settings, rt.tokens, Purpose.UNSUBSCRIBE, reader.id, reader.link_secret)
    path = link.removeprefix(rt.settings.base_url)
    file = tmp_path / "mailer.backup"

    made = cli.invoke(args=["db", "backup", str(file)])

    assert made.exit_code == 0, made.output
    assert f"backup written to {file}" in made.output
    assert "secret key" in made.output and "MAILER_SECRET_KEY" in made.output
    assert stat.S_IMODE(file.stat().st_mode) == 0o600  # personal data: the owner's alone

    restored = fresh_app.test_cli_runner().invoke(args=["db", "restore", str(file)])

    assert restored.exit_code == 0, restored.output
    assert f"(schema revision {head_revision()})" in restored.output
    assert "run `mailer db upgrade`" not in restored.output
    assert "MAILER_SECRET_KEY" in restored.output
    assert tables_of(fresh_app.extensions["mailer"].db.url) == tables_of(rt.db.url)

    client = fresh_app.test_client()
    page = client.get(path)
    assert page.status_code == 200
    assert client.post(path).status_code == 200
    assert _status(fresh_app, reader.id) == "unsubscribed"
    assert _status(app, reader.id) == "active"  # the backup's source is untouched
    with fresh_app.extensions["mailer"].db.session() as s:
        assert s.execute(text("SELECT subject FROM issue")).scalars().all() != []
        # New rows never reuse an id the backup holds (SQLite AUTOINCREMENT, PG sequences).
        newer = factories.subscription(s, "ny@eksempel.no")
        assert newer.id > reader.id
        s.rollback()


def test_restore_refuses_a_database_that_has_tables(
    rt: Runtime, session: Session, cli, tmp_path: Path
) -> None:
    reader = factories.subscription(session, READER)
    session.commit()
    file = tmp_path / "mailer.backup"
    assert cli.invoke(args=["db", "backup", str(file)]).exit_code == 0
    session.execute(text("UPDATE subscription SET status = 'unsubscribed'"))
    session.commit()

    refused = cli.invoke(args=["db", "restore", str(file)])

    assert refused.exit_code == 1
    assert "the database is not empty" in refused.output
    assert "Nothing was changed" in refused.output
    assert _status_in(session, reader.id) == "unsubscribed"


def _status_in(session: Session, subscription_id: int) -> str:
    session.expire_all()
    return session.get_one(Subscription, subscription_id).status


def test_backup_never_overwrites_a_file(session: Session, cli, tmp_path: Path) -> None:
    file = tmp_path / "earlier.backup"
    file.write_bytes(b"an earlier backup")

    refused = cli.invoke(args=["db", "backup", str(file)])

    assert refused.exit_code == 1
    assert f"{file} already exists" in refused.output
    assert file.read_bytes() == b"an earlier backup"


def test_restore_refuses_a_file_that_is_not_a_backup(fresh_app: Flask, tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("ikke en sikkerhetskopi")

    refused = fresh_app.test_cli_runner().invoke(args=["db", "restore", str(file)])

    assert refused.exit_code == 1
    assert "is not a backup made by mailer db backup" in refused.output
    assert tables_of(fresh_app.extensions["mailer"].db.url) == []
