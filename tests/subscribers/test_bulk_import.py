"""An import's new readers are written a thousand a statement (issue 12, item 15: 3,000 rows
take seconds), and what it writes is exactly what the per-row path writes.

Mutants this pins (each applied by hand and seen to fail): ``bulk_import.CHUNK = 1`` (a
statement per row again); the consents' INSERT without its RETURNING (a driver's
executemany: the database runs it once per row); a consented reader's ``confirm``
consent record, event or counter left out, or its ``confirmed_at`` not set; the hourly
mailbox rule decided for the new readers after the known addresses' rows instead of in
file order.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine.interfaces import ExecuteStyle

from mailer.db import utcnow
from mailer.events import Event
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.csv_files import ImportReport, _parse_rows, import_csv
from mailer.subscribers.models import Consent, Subscriber, Subscription
from mailer.subscribers.subscriptions import BulkSignups, confirm, subscribe
from tests.conftest import SECRET
from tests.harness import factories

pytestmark = pytest.mark.rolled_back

TOPICS = ("Innovasjon", "Klima", "Forskning")
SOURCE = "import:lesere.csv by admin@example.no"
PENDING_METRICS = "mailer.metrics.pending"
# What an import asks and writes per thousand new readers: the look-ups (readers who left,
# the suppression list, known addresses) and the four INSERTs (consents and events of a
# consented import are two thousand rows: one or two statements each, by backend).
PER_CHUNK = 9


@contextmanager
def counted(engine) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The SQL statements run meanwhile, the transaction's own (BEGIN, savepoints) left
    out: the rolled-back harness adds savepoints a real import does not have. A driver's
    executemany counts once per row: the database runs the statement once per row (psycopg
    pipelines them, sqlite3 loops in C), which is what a multi-row INSERT avoids."""
    statements: list[str] = []
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.strip().upper().startswith(control):
            # (An "insertmanyvalues" batch is one statement of many rows, also flagged
            # executemany.)
            rows = context.execute_style is ExecuteStyle.EXECUTEMANY
            statements.extend([statement] * (len(parameters) if rows else 1))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _file(rows: int, prefix: str) -> str:
    lines = ["email,name,language,topics"]
    for i in range(rows):
        domain = "blåbær.no" if i % 10 == 0 else "example.no"
        lines.append(f"{prefix}{i}@{domain},Åse Ødegård {i},{'en' if i % 3 else 'nb'},Klima")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("already_consented", [False, True], ids=["to-confirm", "consented"])
def test_new_readers_cost_a_few_statements_per_thousand_not_per_row(
    rt, session, queued_tasks, already_consented
):
    counts: dict[int, int] = {}
    for rows in (1001, 2001):
        with counted(rt.db.engine) as statements:
            report = import_csv(
                session,
                _file(rows, f"n{rows}-"),
                TOPICS,
                already_consented=already_consented,
                source=SOURCE,
                secret_keys=(SECRET,),
            )
        assert (report.imported, report.unchanged, report.errors) == (rows, 0, [])
        counts[rows] = len(statements)
        session.rollback()

    # A thousand readers more cost one chunk's statements more, not 8,000 (the ORM's
    # eight a row), and the whole import a few per thousand.
    assert counts[2001] - counts[1001] <= PER_CHUNK, counts
    assert counts[2001] <= 3 + PER_CHUNK * math.ceil(2001 / 1000), counts


def _per_row(session, text: str, already_consented: bool) -> ImportReport:  # type: ignore[no-untyped-def]
    """What import_csv did for every row before the bulk path (and still does for a known
    address): subscribe, then confirm the ones the file says consented."""
    import csv

    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    mapping = {f: f for f in ("email", "name", "language", "topics")}
    parsed = _parse_rows(reader, mapping, TOPICS, report, None)
    ctx = RequestContext(channel="import", user_agent=SOURCE[:400])
    bulk = BulkSignups.load(session, utcnow(), (signup.email for _, signup in parsed))
    for _, signup in parsed:
        if already_consented:
            signup = dataclasses.replace(signup, consent_text=f"already consented: {SOURCE}")
        outcome = subscribe(session, signup, ctx, mail_confirmation=False, bulk=bulk)
        subscription = session.get(Subscription, outcome.subscription_id)
        assert subscription is not None
        if already_consented and subscription.status == "pending":
            confirm(session, subscription.id, ctx)
            report.imported += 1
        elif outcome.send_confirmation:
            report.to_confirm.append(subscription.id)
            report.imported += 1
        else:
            report.unchanged += 1
    session.flush()
    return report


def _written(session, report: ImportReport, started) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Every row of the file's readers, by address (ids and times aside: times are
    checked to lie within the import, ids are the database's)."""
    ended = utcnow()
    readers: dict[str, Any] = {}
    rows = session.execute(
        select(Subscriber, Subscription)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .order_by(Subscriber.email)
    ).all()
    by_subscription = {}
    for subscriber, sub in rows:
        by_subscription[sub.id] = subscriber.email
        consents = session.scalars(
            select(Consent).where(Consent.subscription_id == sub.id).order_by(Consent.id)
        ).all()
        events = session.scalars(
            select(Event).where(Event.subscription_id == sub.id).order_by(Event.id)
        ).all()
        stamps = [sub.confirmed_at, sub.confirmation_sent_at]
        stamps += [c.created_at for c in consents] + [e.created_at for e in events]
        if subscriber.created_at >= started:  # a new reader: every time is the import's
            stamps += [subscriber.created_at, sub.created_at]
            assert all(started <= t <= ended for t in stamps if t is not None), subscriber.email
        readers[subscriber.email] = {
            "subscriber": (subscriber.name, subscriber.language),
            "subscription": (
                sub.newsletter_id,
                sub.status,
                sub.topics,
                sub.confirmed_at is None,
                sub.unsubscribed_at,
                sub.confirmation_sent_at is None,
                sub.legacy_links_until,
                len(sub.link_secret),
            ),
            "consents": [
                (c.action, c.text, c.text_version, c.channel, c.ip, c.user_agent) for c in consents
            ],
            "events": [(e.kind, e.data, e.issue_id) for e in events],
        }
    return {
        "readers": readers,
        "report": (report.imported, report.unchanged, report.rows, report.errors),
        "to_confirm": [by_subscription[sid] for sid in report.to_confirm],
        "counted after the commit": sorted(session.info.get(PENDING_METRICS, [])),
    }


@pytest.mark.parametrize("already_consented", [False, True], ids=["to-confirm", "consented"])
def test_the_bulk_path_writes_exactly_what_the_per_row_path_writes(
    session, queued_tasks, already_consented
):
    # Known readers: one mailed a confirmation a minute ago (its tagged sibling in the file
    # gets none), one pending whose mailbox a new row before it in the file claims first.
    mailed = factories.subscription(session, "sendt@example.no", status="pending")
    mailed.confirmation_sent_at = utcnow() - timedelta(minutes=1)
    factories.subscription(session, "venter@example.no", "Venter", status="pending")
    factories.subscription(session, "aktiv@example.no", "Aktiv", status="active")
    session.commit()
    text = (
        "email,name,language,topics\n"
        "kari@blåbær.no,Kari Ødegård,nb,Klima;Forskning\n"
        "ola@example.no,,en,\n"
        "bomb+1@example.no,Bomb,nb,Innovasjon\n"
        "bomb+2@example.no,Bomb,nb,Innovasjon\n"
        "sendt+ny@example.no,Ny,en,Klima\n"
        "venter+ny@example.no,Før,nb,\n"
        "venter@example.no,Venter,nb,\n"
        "aktiv@example.no,Aktiv,nb,\n"
        + "".join(
            f"leser{i}@example.no,Leser {i},{'en' if i % 2 else 'nb'},Klima\n" for i in range(20)
        )
    )

    started = utcnow()
    reference = _written(session, _per_row(session, text, already_consented), started)
    session.rollback()
    started = utcnow()
    report = import_csv(session, text, TOPICS, already_consented=already_consented, source=SOURCE)
    bulk = _written(session, report, started)

    assert bulk == reference
    # The control: the file has readers in every case the comparison is meant to cover.
    readers = bulk["readers"]
    assert readers["kari@xn--blbr-roah.no"]["subscription"][2] == ["Klima", "Forskning"]
    assert readers["bomb+2@example.no"]["subscription"][5] is True  # no second mail
    assert readers["sendt+ny@example.no"]["subscription"][5] is True
    assert ("venter@example.no" in bulk["to_confirm"]) is False
    if already_consented:
        assert [c[0] for c in readers["ola@example.no"]["consents"]] == ["signup", "confirm"]
    else:
        # The 20, kari, ola, bomb+1 and venter+ny (venter's own row comes after it).
        assert len(bulk["to_confirm"]) == 24


@pytest.mark.committed  # real transactions: a second connection signs a reader up meanwhile
def test_an_import_that_fails_half_way_leaves_nothing_written(
    cli, rt, session, tmp_path, queued_tasks
):
    """A reader signs up on the site after the import has looked its addresses up and
    before it writes, with an address from the file's second thousand: the first thousand
    are written when the second INSERT fails on that address. The import fails whole:
    none of its readers, consent records or events stay, and no confirmation is queued.

    Mutant this pins (applied by hand, seen to fail): ``session.commit()`` after each
    chunk in ``insert_new_readers``."""
    from mailer.subscribers.signup_requests import parse_signup

    path = tmp_path / "lesere.csv"
    path.write_text(_file(1500, "halv"), encoding="utf-8")
    inserts: list[str] = []
    signing_up: list[bool] = []

    def signup_meanwhile(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.startswith("INSERT INTO subscriber ") or signing_up:
            return  # (the signup's own INSERT is not the import's)
        inserts.append(statement)
        if len(inserts) == 1:  # before the import's first write (SQLite: no lock yet)
            signing_up.append(True)
            with rt.db.session() as other:
                request = parse_signup({"email": "halv1201@example.no", "consent": "on"}, ())
                subscribe(other, request, RequestContext(channel="web"))
                other.commit()
            signing_up.clear()

    event.listen(rt.db.engine, "before_cursor_execute", signup_meanwhile)
    try:
        result = cli.invoke(args=["subscribers", "import", str(path)])
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", signup_meanwhile)

    assert len(inserts) == 2  # the control: the second thousand's INSERT is what failed
    assert type(result.exception).__name__ == "IntegrityError", result.output
    session.rollback()
    [reader] = session.execute(select(Subscriber.email, Subscription.id).join(Subscription))
    assert reader.email == "halv1201@example.no"  # the reader who signed up, alone
    assert [c.channel for c in session.scalars(select(Consent))] == ["web"]
    assert [e.data for e in session.scalars(select(Event))] == [{"channel": "web"}]
    assert queued_tasks == [("mailer.send_confirmation", (reader.id,))]


def test_an_import_keeps_out_suppressed_addresses_however_the_file_writes_them(session):
    """The import hashes its checked (normalised) addresses without validating them a
    second time: the hash must still be the one ``suppress_address`` stored, for an IDN
    address in Unicode and capitals, and under an older key."""
    from mailer.subscribers.suppression import suppress_address

    suppress_address(session, "Kari@Blåbær.no", SECRET, "erased")
    suppress_address(session, "per@example.no", "an older key", "bounce")
    session.commit()

    report = import_csv(
        session,
        "email\nKARI@BLÅBÆR.NO\nPer@Example.NO\nny@example.no\n",
        TOPICS,
        already_consented=True,
        source=SOURCE,
        secret_keys=(SECRET, "an older key"),
    )

    assert (report.suppressed, report.imported) == ([2, 3], 1)
    emails = session.scalars(select(Subscriber.email)).all()
    assert emails == ["ny@example.no"]
