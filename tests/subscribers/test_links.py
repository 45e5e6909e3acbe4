"""Personal links open only the row they were made for (issue 9, item 1).

A link carries the subscription id and the row's random secret, so an erased reader's
links never open a later row that was given the same id; links mailed before the
secret existed (the id alone) work for 60 days after the upgrade, and only for the row
that existed when they were signed. SQLite never hands out a deleted id again.
Each test runs on the suite's database: SQLite, or PostgreSQL with
MAILER_TEST_DATABASE_URL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

import mailer.models  # noqa: F401  (every table on Base.metadata)
from mailer.articles.models import Article, Feed
from mailer.db import Base, UTCDateTime, make_engine, utcnow
from mailer.editors.models import ApiToken, Editor
from mailer.events import Event
from mailer.issues.models import Issue
from mailer.migrate import alembic_config, upgrade
from mailer.runtime import Runtime
from mailer.sending.models import Delivery
from mailer.subscribers.links import (
    LEGACY_LINK_WINDOW,
    names_another_row,
    opens,
    subscription_for,
)
from mailer.subscribers.models import Consent, Subscriber, Subscription
from mailer.subscribers.subscriptions import default_newsletter
from mailer.subscribers.suppression import is_suppressed, suppress_address
from mailer.tokens import LinkToken, Purpose
from tests.harness import factories
from tests.harness.databases import ThrowawayDatabase
from tests.harness.reader import (
    good_form,
    hidden_fields,
    link_in,
    link_token,
    local,
    post_signup_form,
    subscription_of,
)

ANNE = "anne.aas@example.no"
BJORN = "bjorn.berg@example.no"
INVALID = "Ugyldig lenke"
INVALID_EN = "Invalid link"  # the page in the language a form asked for


class _SignedAt(TimestampSigner):
    """Signs with a given timestamp instead of the clock's: links "mailed" at any time."""

    def __init__(self, *args: Any, at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.at = at

    def get_timestamp(self) -> int:
        return self.at


def legacy_token(rt: Runtime, purpose: Purpose, subscription_id: int, at: datetime) -> str:
    """A link as mailed before link secrets existed: the id alone, signed at ``at``."""
    serializer = URLSafeTimedSerializer(
        list(reversed(rt.settings.secret_keys)),
        salt=f"mailer.{purpose.value}",
        signer=_SignedAt,
        signer_kwargs={"at": int(at.timestamp())},
    )
    return str(serializer.dumps(subscription_id))


def _count(session: Session, model: type[Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- an erased reader's links and the next row with the same id ------------------------------


def test_an_erased_readers_links_never_open_the_next_row_with_the_same_id(
    client, session, rt, celery_worker, smtp_sink
):
    # Anne signs up, confirms, asks for her data: her links come from her own mails and pages.
    assert post_signup_form(client, good_form(ANNE, name="Anne Aas")).status_code == 200
    [confirmation] = smtp_sink.wait_for(1)
    confirm = local(link_in(confirmation, "/confirm/"), "")
    # The mail's "delete my data" link opens the erase page with the preferences token.
    erase = local(link_in(confirmation, "/erase/"), "")
    preferences = erase.replace("/erase/", "/preferences/", 1)
    assert client.post(confirm).status_code == 200
    page = client.get(preferences).get_data(as_text=True)
    [unsubscribe] = set(re.findall(r'action="(/unsubscribe/[^"]+)"', page))
    [data_request] = set(re.findall(r'action="(/data-request/[^"]+)"', page))
    requested = client.post(data_request, data={"csrf_token": hidden_fields(page)["csrf_token"]})
    assert requested.status_code == 200
    export = smtp_sink.wait_for(2)[1]
    data = local(link_in(export, "/data/"), "")
    assert client.get(data).status_code == 200
    anne_id = subscription_of(session, ANNE).id
    # She erases herself through her preferences.
    erase = preferences.replace("/preferences/", "/erase/")
    question = client.get(erase).get_data(as_text=True)
    erased = client.post(erase, data={"csrf_token": hidden_fields(question)["csrf_token"]})
    assert erased.status_code == 200
    session.rollback()
    assert session.get(Subscription, anne_id) is None

    # Bjørn, once erased himself (on the suppression list), signs up anew and his row gets
    # Anne's id: SQLite hands out a deleted highest id unless the table is AUTOINCREMENT,
    # and any database takes an explicit one (a restore, an import).
    suppress_address(session, BJORN, rt.settings.secret_keys[0], "erased")
    bjorn = Subscriber(email=BJORN, name="Bjørn Berg", language="nb")
    session.add(bjorn)
    session.flush()
    session.add(
        Subscription(
            id=anne_id,
            subscriber_id=bjorn.id,
            newsletter_id=default_newsletter(session).id,
            status="pending",
            topics=["Klima"],
        )
    )
    session.commit()
    before = (_count(session, Consent), _count(session, Event))
    csrf = hidden_fields(client.get("/subscribe").get_data(as_text=True))["csrf_token"]
    now = utcnow()
    # Anne's links as mailed, and the same ids in links mailed before link secrets.
    legacy = {
        purpose: legacy_token(rt, purpose, anne_id, now)
        for purpose in (Purpose.CONFIRM, Purpose.UNSUBSCRIBE, Purpose.PREFERENCES, Purpose.EXPORT)
    }
    attempts: list[tuple[str, str, dict[str, str]]] = []
    for confirm_path in (confirm, f"/confirm/{legacy[Purpose.CONFIRM]}"):
        attempts += [("GET", confirm_path, {}), ("POST", confirm_path, {})]
        resend = confirm_path.replace("/confirm/", "/resend/")
        attempts.append(("POST", resend, {"csrf_token": csrf}))
    for unsubscribe_path in (unsubscribe, f"/unsubscribe/{legacy[Purpose.UNSUBSCRIBE]}"):
        attempts += [
            ("GET", unsubscribe_path, {}),
            ("POST", unsubscribe_path, {}),
            ("POST", unsubscribe_path, {"List-Unsubscribe": "One-Click"}),
        ]
    for preferences_path in (preferences, f"/preferences/{legacy[Purpose.PREFERENCES]}"):
        form = {"csrf_token": csrf, "name": "Anne var her", "language": "en", "topics": "Klima"}
        token = preferences_path.rsplit("/", 1)[1]
        attempts += [
            ("GET", preferences_path, {}),
            ("POST", preferences_path, form),
            ("POST", f"/data-request/{token}", {"csrf_token": csrf}),
            ("GET", f"/erase/{token}", {}),
            ("POST", f"/erase/{token}", {"csrf_token": csrf}),
        ]
    for data_path in (data, f"/data/{legacy[Purpose.EXPORT]}"):
        attempts.append(("GET", data_path, {}))

    for method, path, form in attempts:
        response = client.open(path, method=method, data=form)
        assert response.status_code == 400, (method, path)
        body = response.get_data(as_text=True)
        assert INVALID in body or INVALID_EN in body, (method, path)

    session.rollback()
    session.expire_all()
    row = session.get(Subscription, anne_id)
    assert row is not None and row.subscriber.email == BJORN
    assert (row.status, row.confirmed_at, row.unsubscribed_at) == ("pending", None, None)
    assert (row.subscriber.name, row.subscriber.language, row.topics) == (
        "Bjørn Berg",
        "nb",
        ["Klima"],
    )
    assert (_count(session, Consent), _count(session, Event)) == before
    assert is_suppressed(session, BJORN, rt.settings.secret_keys)
    # The control: Bjørn's own link does confirm him (and lifts his suppression).
    assert client.post(f"/confirm/{link_token(rt, Purpose.CONFIRM, anne_id)}").status_code == 200
    assert subscription_of(session, BJORN).status == "active"
    assert not is_suppressed(session, BJORN, rt.settings.secret_keys)


# --- ids are never handed out twice ------------------------------------------------------------

NO_ID_REUSE = {
    "subscriber",
    "subscription",
    "delivery",
    "issue",
    "article",
    "feed",
    "editor",
    "api_token",
    "bounce_report",  # named by id in the events about a reader
}


def test_the_tables_whose_ids_leave_the_database_are_autoincrement():
    flagged = {
        name
        for name, table in Base.metadata.tables.items()
        if table.dialect_options["sqlite"]["autoincrement"]
    }
    assert flagged == NO_ID_REUSE


def _reader(session: Session, email: str) -> int:
    return factories.subscription(session, email).id


def _issue(session: Session, subject: str) -> int:
    now = utcnow()
    row = Issue(
        newsletter_id=default_newsletter(session).id,
        subject=subject,
        period_start=now,
        period_end=now,
    )
    session.add(row)
    session.flush()
    return row.id


def _article(session: Session, guid: str) -> int:
    return factories.article(session, guid, f"Sak {guid}").id


def _delivery(session: Session, email: str) -> int:
    row = Delivery(issue_id=_issue(session, email), subscription_id=_reader(session, email))
    session.add(row)
    session.flush()
    return row.id


def _feed(session: Session, name: str) -> int:
    row = Feed(url=f"https://europakontor.example.no/{name}.xml")
    session.add(row)
    session.flush()
    return row.id


def _editor(session: Session, email: str) -> int:
    row = Editor(email=email, password_hash="x")
    session.add(row)
    session.flush()
    return row.id


def _api_token(session: Session, email: str) -> int:
    row = ApiToken(editor_id=_editor(session, email), token_hash=email.ljust(64, "0")[:64])
    session.add(row)
    session.flush()
    return row.id


# Subscriber: test_an_erased_readers_ids_are_not_handed_out_again.
ROWS: dict[type[Base], Callable[[Session, str], int]] = {
    Subscription: _reader,
    Issue: _issue,
    Article: _article,
    Delivery: _delivery,
    Feed: _feed,
    Editor: _editor,
    ApiToken: _api_token,
}


@pytest.mark.parametrize("model", list(ROWS), ids=lambda m: m.__tablename__)
def test_a_deleted_highest_id_is_not_handed_out_again(session, model):
    first = ROWS[model](session, "forste@example.no")
    session.commit()
    session.execute(delete(model).where(model.id == first))  # type: ignore[attr-defined]
    session.commit()

    second = ROWS[model](session, "andre@example.no")
    session.commit()

    assert second > first


def test_an_erased_readers_ids_are_not_handed_out_again(client, session, rt):
    row = factories.subscription(session, ANNE, "Anne")
    session.commit()
    ids = (row.id, row.subscriber_id)
    token = link_token(rt, Purpose.PREFERENCES, row.id)
    question = client.get(f"/erase/{token}").get_data(as_text=True)
    assert (
        client.post(
            f"/erase/{token}", data={"csrf_token": hidden_fields(question)["csrf_token"]}
        ).status_code
        == 200
    )

    assert post_signup_form(client, good_form(BJORN)).status_code == 200

    again = subscription_of(session, BJORN)
    assert again.id > ids[0] and again.subscriber_id > ids[1]


# --- links mailed before the upgrade (the id alone) ------------------------------------------


def _row(created: datetime, until: datetime | None, secret: str = "s3cret") -> Subscription:
    return Subscription(id=7, link_secret=secret, created_at=created, legacy_links_until=until)


CREATED = datetime(2027, 3, 1, 12, 0, 0, 700_000, tzinfo=UTC)
UNTIL = CREATED + timedelta(days=40)


@pytest.mark.parametrize(
    ("signed", "now", "until", "opened"),
    [
        (CREATED + timedelta(days=1), UNTIL - timedelta(days=1), UNTIL, True),
        # itsdangerous stamps whole seconds: mailed in the second the row was made.
        (CREATED.replace(microsecond=0), CREATED, UNTIL, True),
        (CREATED - timedelta(seconds=1), CREATED, UNTIL, False),  # an earlier row's link
        (CREATED - timedelta(days=30), UNTIL - timedelta(days=1), UNTIL, False),
        (CREATED + timedelta(days=1), UNTIL, UNTIL, True),  # the last moment
        (CREATED + timedelta(days=1), UNTIL + timedelta(microseconds=1), UNTIL, False),
        (CREATED + timedelta(days=1), UNTIL + timedelta(days=400), UNTIL, False),
        # A row made after the upgrade never takes a link without its secret.
        (CREATED + timedelta(seconds=1), CREATED + timedelta(seconds=2), None, False),
    ],
    ids=[
        "in-window",
        "same-second",
        "a-second-before-the-row",
        "long-before-the-row",
        "last-moment",
        "just-after-the-window",
        "long-after-the-window",
        "row-made-after-upgrade",
    ],
)
def test_a_legacy_link_opens_its_row_only_in_the_window(signed, now, until, opened):
    row = _row(CREATED, until)
    assert opens(row, LinkToken(7, None, signed), now) is opened


def test_a_link_with_a_secret_opens_only_the_row_with_that_secret_and_id():
    row = _row(CREATED, None)
    late = CREATED + timedelta(days=10_000)
    assert opens(row, LinkToken(7, "s3cret", CREATED), late)  # never expires by itself
    assert not opens(row, LinkToken(7, "s3cres", CREATED), CREATED)
    assert not opens(row, LinkToken(7, "s3cret!", CREATED), CREATED)
    assert not opens(row, LinkToken(8, "s3cret", CREATED), CREATED)
    # A secret in a token is never excused by the legacy window.
    assert not opens(_row(CREATED, UNTIL), LinkToken(7, "other", CREATED), CREATED)


@pytest.mark.rolled_back
def test_an_expired_legacy_link_names_its_own_row_not_another(session):
    """Mutant ``links.names_another_row``: ``now or utcnow()`` → ``now and utcnow()`` (or
    ``None``), a survivor of the first `make mutate`: the reader pages ask without a time,
    and the legacy window cannot be judged without one (an expired confirm link mailed
    before the upgrade would answer 500)."""
    row = factories.subscription(session, ANNE, "Anne Aas")
    row.legacy_links_until = utcnow() + timedelta(days=1)
    session.flush()

    assert not names_another_row(session, LinkToken(row.id, None, utcnow()))
    earlier = row.created_at - timedelta(seconds=1)
    assert names_another_row(session, LinkToken(row.id, None, earlier))


def test_a_link_mailed_before_the_upgrade_works_for_its_window_then_never(client, session, rt):
    row = factories.subscription(session, ANNE, "Anne Aas")
    # What migration 0005 writes on every row that existed at the upgrade.
    row.legacy_links_until = utcnow() + timedelta(days=1)
    session.commit()
    mailed = legacy_token(rt, Purpose.PREFERENCES, row.id, utcnow())

    page = client.get(f"/preferences/{mailed}")
    assert page.status_code == 200 and "Anne Aas" in page.get_data(as_text=True)
    # One signed before this row existed was mailed to whoever had the id before.
    earlier = legacy_token(rt, Purpose.UNSUBSCRIBE, row.id, row.created_at - timedelta(seconds=1))
    assert client.post(f"/unsubscribe/{earlier}").status_code == 400
    assert subscription_of(session, ANNE).status == "active"

    # The window closes.
    row = subscription_of(session, ANNE)
    row.legacy_links_until = utcnow() - timedelta(seconds=1)
    session.commit()
    late = legacy_token(rt, Purpose.UNSUBSCRIBE, row.id, utcnow())
    for method in ("GET", "POST"):
        response = client.open(f"/unsubscribe/{late}", method=method)
        assert response.status_code == 400
        assert INVALID in response.get_data(as_text=True)
    assert client.get(f"/preferences/{mailed}").status_code == 400
    assert subscription_of(session, ANNE).status == "active"
    # The page's own links carry the secret: they keep working.
    assert (
        client.post(f"/unsubscribe/{link_token(rt, Purpose.UNSUBSCRIBE, row.id)}").status_code
        == 200
    )
    assert subscription_of(session, ANNE).status == "unsubscribed"


# --- migration 0005 on a database with readers -----------------------------------------------


@pytest.fixture
def scratch_url(tmp_path, test_env) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """An empty database on the suite's backend, for migrating step by step."""
    server = os.environ.get("MAILER_TEST_DATABASE_URL", "")
    if not server:
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    database = ThrowawayDatabase(server)
    yield database.url
    database.drop()


def _insert(conn: sa.Connection, table_name: str, **values: Any) -> int:
    types = {datetime: UTCDateTime(), list: sa.JSON()}
    columns = [sa.column(key, types.get(type(value))) for key, value in values.items()]
    table = sa.table(table_name, *columns)
    return int(
        conn.execute(sa.insert(table).values(**values).returning(sa.column("id"))).scalar_one()
    )


def test_migration_0005_keeps_readers_and_their_mailed_links(scratch_url, rt):
    upgrade(scratch_url, "0004")
    engine = make_engine(scratch_url)  # foreign keys on, as the app runs
    created = utcnow() - timedelta(days=100)
    with engine.begin() as conn:
        newsletter = conn.execute(sa.text("SELECT id FROM newsletter")).scalar_one()
        issue = _insert(
            conn,
            "issue",
            newsletter_id=newsletter,
            subject="Nytt fra Brussel",
            intro="",
            language="nb",
            period_start=created,
            period_end=created,
            status="sent",
            created_at=created,
        )
        ids = []
        for email in (ANNE, BJORN):
            subscriber = _insert(
                conn, "subscriber", email=email, name="", language="nb", created_at=created
            )
            subscription = _insert(
                conn,
                "subscription",
                subscriber_id=subscriber,
                newsletter_id=newsletter,
                status="active",
                topics=[],
                created_at=created,
            )
            _insert(
                conn,
                "consent",
                subscription_id=subscription,
                action="signup",
                text="Ja takk",
                text_version="1",
                channel="web",
                ip="192.0.2.1",
                user_agent="t",
                created_at=created,
            )
            _insert(
                conn,
                "delivery",
                issue_id=issue,
                subscription_id=subscription,
                status="sent",
                attempts=1,
            )
            ids.append(subscription)
    mailed = utcnow() - timedelta(days=50)  # an unsubscribe link in last month's digest

    before = utcnow()
    upgrade(scratch_url)
    after = utcnow()

    with Session(engine) as session:
        # Rebuilding the tables dropped no row that refers to them.
        assert (_count(session, Consent), _count(session, Delivery)) == (2, 2)
        anne, bjorn = (session.get(Subscription, i) for i in ids)
        assert anne is not None and bjorn is not None
        assert anne.link_secret and bjorn.link_secret and anne.link_secret != bjorn.link_secret
        until = anne.legacy_links_until
        assert until is not None and bjorn.legacy_links_until == until
        assert before + LEGACY_LINK_WINDOW <= until <= after + LEGACY_LINK_WINDOW
        assert LEGACY_LINK_WINDOW == timedelta(days=60)

        old = rt.tokens.read(
            Purpose.UNSUBSCRIBE, legacy_token(rt, Purpose.UNSUBSCRIBE, anne.id, mailed)
        )
        assert subscription_for(session, old, now=after) is anne
        assert subscription_for(session, old, now=until) is anne
        assert subscription_for(session, old, now=until + timedelta(seconds=1)) is None
        new = rt.tokens.read(
            Purpose.UNSUBSCRIBE, rt.tokens.make(Purpose.UNSUBSCRIBE, anne.id, anne.link_secret)
        )
        assert subscription_for(session, new, now=until + timedelta(days=400)) is anne
        crossed = rt.tokens.make(Purpose.UNSUBSCRIBE, anne.id, bjorn.link_secret)
        assert subscription_for(session, rt.tokens.read(Purpose.UNSUBSCRIBE, crossed)) is None

        # The highest id, deleted, is not handed out again.
        assert ids == sorted(ids)
        highest = max(ids)
        session.execute(delete(Subscription).where(Subscription.id == highest))
        session.commit()
        newcomer = factories.subscription(session, "ny@example.no")
        session.commit()
        assert newcomer.id > highest
        if engine.dialect.name == "sqlite":
            for name in NO_ID_REUSE:
                sql = session.execute(
                    sa.text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}
                ).scalar_one()
                assert "AUTOINCREMENT" in sql, name

        kept = (_count(session, Subscription), _count(session, Consent))
        assert kept == (2, 1)  # Anne's, with her consent, and the newcomer's

    # And back: the columns go, the readers stay.
    command.downgrade(alembic_config(scratch_url), "0004")
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("subscription")}
        assert not {"link_secret", "legacy_links_until"} & columns
        counts = [
            conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("subscription", "consent")
        ]
        assert tuple(counts) == kept
    engine.dispose()
