"""GDPR self-service: the export holds everything, erasure leaves no address, and the
reader can come back; the consent log only grows."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime

import itsdangerous.timed
import pytest
from sqlalchemy import JSON, String, Text, select
from sqlalchemy.orm import Session

import mailer.models  # noqa: F401  (every table on Base.metadata)
from mailer.db import Base, utcnow
from mailer.events import Event
from mailer.issues.models import Issue
from mailer.sending.models import Delivery
from mailer.sending.states import DeliveryStatus
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.erasure import erase_subscriber
from mailer.subscribers.export import request_export
from mailer.subscribers.models import Consent, Subscriber, Suppression
from mailer.subscribers.preferences import Preferences, update_preferences
from mailer.subscribers.signup_requests import SignupRequest
from mailer.subscribers.subscriptions import confirm, subscribe
from mailer.subscribers.suppression import is_suppressed
from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.reader import (
    counts,
    events,
    good_form,
    hidden_fields,
    link_in,
    link_token,
    local,
    post_signup_form,
    subscription_of,
)

EMAIL = "kari.nordmann@example.no"
OTHER = "per.hansen@example.no"
CTX = RequestContext(ip="192.0.2.44", user_agent="Lesar/2.0", channel="web")
# Which export section holds each table that refers to a reader.
SECTIONS = {
    "subscriber": "profile",
    "subscription": "subscriptions",
    "consent": "consents",
    "delivery": "deliveries",
    "event": "events",
    "bounce_report": "bounce_reports",
}


def _reader(session: Session, email: str, name: str) -> int:
    """A reader with something in every table: signup, confirm, preferences (a delivery
    comes from _deliveries). Made through the domain, so no confirmation mail is queued."""
    outcome = subscribe(
        session,
        SignupRequest(email=email, name=name, language="nb", topics=("Klima",)),
        CTX,
    )
    confirm(session, outcome.subscription_id, CTX)
    update_preferences(
        session,
        outcome.subscription_id,
        Preferences(name=name, language="en", topics=("Klima",)),
        CTX,
    )
    session.commit()
    return outcome.subscription_id


def _deliveries(session: Session, readers: dict[int, str]) -> None:
    """One failed delivery each, its SMTP error naming the reader's address."""
    issue = factories.drafted_issue(session)
    for subscription_id, email in readers.items():
        session.add(
            Delivery(
                issue_id=issue.id,
                subscription_id=subscription_id,
                status=DeliveryStatus.FAILED,
                attempts=2,
                last_error=f"550 5.1.1 <{email}>: no such user",
                message_id=f"<{subscription_id}.1@nyhetsbrev.example.no>",
                sent_at=None,
            )
        )
    session.commit()


def _plain(value):  # type: ignore[no-untyped-def]
    return value.isoformat() if isinstance(value, datetime | date) else value


def _rows_about(session: Session, subscriber_id: int, subscription_ids: list[int]):  # type: ignore[no-untyped-def]
    """Every row of every table that refers to the reader, by table name."""
    found: dict[str, list[dict]] = {}
    for table in Base.metadata.sorted_tables:
        columns = table.columns
        if table.name == "subscriber":
            where = columns["id"] == subscriber_id
        elif "subscriber_id" in columns:
            where = columns["subscriber_id"] == subscriber_id
        elif "subscription_id" in columns:
            where = columns["subscription_id"].in_(subscription_ids)
        else:
            continue
        found[table.name] = [
            dict(row._mapping) for row in session.execute(select(table).where(where))
        ]
    return found


def test_every_table_that_can_name_a_reader_has_an_export_section():
    referring = {
        table.name
        for table in Base.metadata.sorted_tables
        if table.name == "subscriber"
        or {"subscriber_id", "subscription_id"} & set(table.columns.keys())
        or any(fk.column.table.name in ("subscriber", "subscription") for fk in table.foreign_keys)
    }
    assert referring == set(SECTIONS), "a new table refers to readers: add it to the export"


def test_send_me_my_data_mails_a_link_to_everything_the_database_holds(
    client, session, rt, celery_worker, smtp_sink
):
    subscription_id = _reader(session, EMAIL, "Kari Nordmann")
    other_id = _reader(session, OTHER, "Per Hansen")
    _deliveries(session, {subscription_id: EMAIL, other_id: OTHER})
    smtp_sink.clear()
    token = link_token(rt, Purpose.PREFERENCES, subscription_id)
    preferences = client.get(f"/preferences/{token}")
    page = preferences.get_data(as_text=True)
    assert "Send me my data" in page  # the reader chose English in their preferences
    action = f"/data-request/{token}"
    assert f'action="{action}"' in page

    response = client.post(action, data={"csrf_token": hidden_fields(page)["csrf_token"]})

    assert response.status_code == 200
    assert "We have sent a link to your email address" in response.get_data(as_text=True)
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == [EMAIL]
    assert mail.message["Subject"].startswith("Your data from")
    assert "/preferences/" in mail.part("text/plain")
    download = client.get(local(link_in(mail, "/data/"), ""))
    assert download.status_code == 200
    assert download.mimetype == "application/json"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "no-store"
    data = json.loads(download.get_data(as_text=True))

    session.rollback()
    subscriber_id = subscription_of(session, EMAIL).subscriber_id
    rows = _rows_about(session, subscriber_id, [subscription_id])
    assert set(rows) == set(SECTIONS)
    assert {table: len(found) for table, found in rows.items()} == {
        "subscriber": 1,
        "subscription": 1,
        "consent": 3,  # signup, confirm, preferences
        "delivery": 1,
        "event": 4,  # signup, confirm, preferences, export.requested
        "bounce_report": 0,  # tests/bounces/test_pipeline.py exports one
    }
    for table, found in rows.items():
        section = data[SECTIONS[table]]
        exported = {item["id"]: item for item in ([section] if table == "subscriber" else section)}
        for row in found:
            item = exported.get(row["id"])
            assert item is not None, f"{table} row {row['id']} missing from the export"
            for column, value in row.items():
                assert item[column] == _plain(value), (table, column)
    assert data["subscriptions"][0]["topics"] == ["Klima"]
    assert data["consents"][0]["text"].startswith("Ja, send meg nyhetsbrevet")
    assert data["consents"][0]["user_agent"] == "Lesar/2.0"
    assert (
        data["deliveries"][0]["issue_subject"]
        == session.get(Issue, rows["delivery"][0]["issue_id"]).subject
    )
    assert data["profile"]["email"] == EMAIL
    # Nothing about the other reader.
    text = download.get_data(as_text=True)
    assert OTHER not in text and "Per Hansen" not in text
    assert str(other_id) not in {str(c["subscription_id"]) for c in data["consents"]}


def _old_token(rt, monkeypatch, purpose: Purpose, subscription_id: int, days: float) -> str:  # type: ignore[no-untyped-def]
    class Past:
        @staticmethod
        def time() -> float:
            return datetime.now(UTC).timestamp() - days * 86400

    with monkeypatch.context() as patch:
        patch.setattr(itsdangerous.timed, "time", Past)
        return link_token(rt, purpose, subscription_id)


def test_export_link_expires_after_seven_days(client, session, rt, monkeypatch):
    subscription = factories.subscription(session, EMAIL, "Kari")
    session.commit()
    fresh = _old_token(rt, monkeypatch, Purpose.EXPORT, subscription.id, days=6.9)
    stale = _old_token(rt, monkeypatch, Purpose.EXPORT, subscription.id, days=7.1)

    assert client.get(f"/data/{fresh}").status_code == 200
    expired = client.get(f"/data/{stale}")
    assert expired.status_code == 400
    assert "Nedlastingslenken virker i 7 dager" in expired.get_data(as_text=True)
    # A preferences token (another purpose) is no export link.
    other = client.get(f"/data/{link_token(rt, Purpose.PREFERENCES, subscription.id)}")
    assert other.status_code == 400
    assert "Ugyldig lenke" in other.get_data(as_text=True)


def test_export_requests_send_one_mail_per_ten_minutes(session):
    subscription = factories.subscription(session, EMAIL)
    session.commit()
    now = utcnow()
    assert request_export(session, subscription.id, now) is True
    session.commit()
    assert request_export(session, subscription.id, now) is False
    assert request_export(session, 999_999, now) is False


# --- erasure -----------------------------------------------------------------------------------


def _text_values(session: Session) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text or JSON cell in the database."""
    session.rollback()
    cells = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
        if not columns:
            continue
        for row in session.execute(select(*columns)):
            for column, value in zip(columns, row, strict=True):
                if value is not None:
                    text = value if isinstance(value, str) else json.dumps(value)
                    cells.append((table.name, column.name, text))
    return cells


def test_delete_me_asks_first_then_leaves_only_a_keyed_hash(client, session, rt):
    subscription_id = _reader(session, EMAIL, "Kari Nordmann")
    other_id = _reader(session, OTHER, "Per Hansen")
    _deliveries(session, {subscription_id: EMAIL, other_id: OTHER})
    assert any(EMAIL in value for _, _, value in _text_values(session))  # the control
    token = link_token(rt, Purpose.PREFERENCES, subscription_id)
    before = counts(session)

    question = client.get(f"/erase/{token}")

    assert question.status_code == 200
    assert "Delete everything we hold about you?" in question.get_data(as_text=True)
    assert counts(session) == before  # asking deletes nothing

    done = client.post(
        f"/erase/{token}",
        data={"csrf_token": hidden_fields(question.get_data(as_text=True))["csrf_token"]},
    )

    assert done.status_code == 200
    assert "Everything we held about you has been deleted." in done.get_data(as_text=True)
    for table, column, value in _text_values(session):
        lowered = value.lower()
        assert EMAIL not in lowered and "kari.nordmann" not in lowered, (table, column)
        assert "Kari Nordmann" not in value, (table, column)
    session.rollback()
    assert session.scalar(select(Subscriber).where(Subscriber.email == EMAIL)) is None
    for model in (Consent, Delivery, Event):
        assert not session.scalars(
            select(model).where(model.subscription_id == subscription_id)
        ).all(), model.__name__
    [suppression] = session.scalars(select(Suppression)).all()
    expected = hmac.new(rt.settings.secret_keys[0].encode(), EMAIL.encode(), hashlib.sha256)
    assert suppression.email_hash == expected.hexdigest()
    assert is_suppressed(session, EMAIL, rt.settings.secret_keys)
    assert is_suppressed(session, EMAIL.upper(), rt.settings.secret_keys)  # normalised
    erased = session.scalars(select(Event).where(Event.kind == "subscriber.erased")).one()
    assert erased.subscription_id is None and erased.data["channel"] == "web"
    # The other reader keeps everything.
    assert subscription_of(session, OTHER).status == "active"
    assert (
        len(session.scalars(select(Consent).where(Consent.subscription_id == other_id)).all()) == 3
    )
    assert session.scalars(select(Delivery).where(Delivery.subscription_id == other_id)).one()
    # A second click (or the back button) says the same, and changes nothing.
    again = client.post(
        f"/erase/{token}",
        data={"csrf_token": hidden_fields(question.get_data(as_text=True))["csrf_token"]},
    )
    assert again.status_code == 200
    assert "Alt vi hadde lagret om deg, er slettet." in again.get_data(as_text=True)


def test_erase_needs_the_csrf_token_from_our_page(client, session, rt):
    subscription = factories.subscription(session, EMAIL, "Kari")
    session.commit()
    response = client.post(f"/erase/{link_token(rt, Purpose.PREFERENCES, subscription.id)}")
    assert response.status_code == 400
    assert counts(session)["Subscriber"] == 1


def test_after_erasure_a_new_signup_works_and_lifts_the_suppression(
    client, session, rt, celery_worker, smtp_sink
):
    subscription = factories.subscription(session, EMAIL, "Kari")
    session.commit()
    erase_subscriber(session, subscription.subscriber_id, rt.settings.secret_keys[0], CTX)
    session.commit()
    assert is_suppressed(session, EMAIL, rt.settings.secret_keys)

    response = post_signup_form(client, good_form(EMAIL, name="Kari"))

    assert response.status_code == 200
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == [EMAIL]
    # Signing up alone does not lift it: the address may not be the signer's.
    assert is_suppressed(session, EMAIL, rt.settings.secret_keys)
    confirm_path = local(link_in(mail, "/confirm/"), "")
    assert client.post(confirm_path).status_code == 200
    session.rollback()
    assert subscription_of(session, EMAIL).status == "active"
    assert not is_suppressed(session, EMAIL, rt.settings.secret_keys)
    assert events(session, "suppression.lifted") == 1


def test_confirm_without_keys_leaves_the_list_alone(session, rt):
    from mailer.subscribers.suppression import suppress_address

    subscription = factories.subscription(session, EMAIL, status="pending")
    suppress_address(session, EMAIL, rt.settings.secret_keys[0], "suppressed")
    session.commit()
    confirm(session, subscription.id, CTX)
    session.commit()
    assert is_suppressed(session, EMAIL, rt.settings.secret_keys)


def _files_naming(folder, needle: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Every file under ``folder`` whose bytes hold ``needle`` (any case)."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and needle.lower().encode() in path.read_bytes().lower():
            found.append(str(path.relative_to(folder)))
    return sorted(found)


def test_erasure_also_removes_csv_uploads_that_name_the_reader(client, session, rt):
    """An editor uploaded a list holding the reader's address (kept in var/imports up to
    24 h between preview and import); the reader erases themselves meanwhile: no file
    under var/ may still name them. Failed on main (the erasure looked at the database
    only, and on SQLite left the deleted rows in the write-ahead log and in the file's free
    space)."""
    from mailer.subscribers import csv_uploads

    subscription_id = _reader(session, EMAIL, "Kari Nordmann")
    # Long before they erase themselves, a checkpoint has copied the reader's rows from
    # SQLite's write-ahead log into the database file.
    rt.db.drop_deleted()
    var_dir = rt.settings.var_dir
    naming = csv_uploads.stash(var_dir, 1, f"email,name\n{EMAIL.upper()},Kari Nordmann\n")
    other = csv_uploads.stash(var_dir, 1, f"email,name\n{OTHER},Per Hansen\n")
    assert _files_naming(var_dir / "imports", EMAIL) != []  # the control
    token = link_token(rt, Purpose.PREFERENCES, subscription_id)
    question = client.get(f"/erase/{token}")

    done = client.post(
        f"/erase/{token}",
        data={"csrf_token": hidden_fields(question.get_data(as_text=True))["csrf_token"]},
    )

    assert done.status_code == 200
    assert _files_naming(var_dir, EMAIL) == []
    with pytest.raises(csv_uploads.UploadExpired):
        csv_uploads.load(var_dir, 1, naming)
    assert OTHER in csv_uploads.load(var_dir, 1, other)  # another reader's list stays
