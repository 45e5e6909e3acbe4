"""The newsletter's settings: validation, the admin page, the JSON API, and the topics
reaching the signup form, the signup API, preferences and the digest. Real database."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest
from sqlalchemy import select

from mailer.editors.accounts import create_editor
from mailer.editors.api_tokens import create_token
from mailer.errors import ValidationFailed
from mailer.events import Event
from mailer.issues.newsletter import (
    current_topics,
    offered_topics,
    topics_from_lines,
    update_settings,
)
from mailer.issues.previews import preview_for
from mailer.subscribers.models import Subscriber, Subscription
from mailer.subscribers.subscriptions import default_newsletter
from mailer.tokens import Purpose
from mailer.web.limits import limiter
from tests.harness import factories
from tests.harness.admin import log_in, make_editors, token_from
from tests.harness.pages import csrf_token
from tests.harness.reader import link_token

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

SEED = ("Innovasjon", "Klima", "Forskning")  # MAILER_TOPICS in the test environment


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        limiter.reset()


def _row(session) -> tuple[str, str, list[str]]:
    session.expire_all()
    newsletter = default_newsletter(session)
    return newsletter.name, newsletter.language, list(newsletter.topics)


# ---- the domain ---------------------------------------------------------------------------


def test_the_configured_topics_are_the_default_until_the_row_has_its_own(session, rt):
    assert rt.settings.newsletter_topics == SEED
    assert current_topics(session, rt.settings) == SEED
    changes = update_settings(
        session, "  Europanytt ", "en", ["  Energi ", "Klima", "Forskning"], rt.settings
    )
    session.commit()
    assert _row(session) == ("Europanytt", "en", ["Energi", "Klima", "Forskning"])
    assert current_topics(session, rt.settings) == ("Energi", "Klima", "Forskning")
    assert changes == {
        "name": ["Nyhetsbrev", "Europanytt"],
        "language": ["nb", "en"],
        "topics_added": ["Energi"],
        "topics_removed": ["Innovasjon"],
    }


BAD_SETTINGS: list[tuple[str, str, dict[str, Any]]] = [
    ("empty-name", "name", {"name": "   "}),
    ("long-name", "name", {"name": "Å" * 201}),
    ("name-with-a-line-break", "name", {"name": "Nytt\r\nBcc: x@y.no"}),
    ("name-not-text", "name", {"name": 7}),
    ("unknown-language", "language", {"language": "de"}),
    ("empty-topic", "topics", {"topics": ["Klima", " "]}),
    ("long-topic", "topics", {"topics": ["x" * 61]}),
    ("duplicate-topic", "topics", {"topics": ["Klima", "KLIMA"]}),
    ("control-character", "topics", {"topics": ["Kli\x00ma"]}),
    ("zero-width-character", "topics", {"topics": ["Kli\u200bma"]}),
    ("semicolon", "topics", {"topics": ["Klima; Energi"]}),
    ("thirty-one-topics", "topics", {"topics": [f"Tema {i}" for i in range(31)]}),
    ("no-topics-while-a-default-exists", "topics", {"topics": []}),
    ("topics-not-a-list", "topics", {"topics": "Klima"}),
    ("topic-not-text", "topics", {"topics": ["Klima", 3]}),
]


@pytest.mark.parametrize(
    ("field", "changes"),
    [(field, changes) for _, field, changes in BAD_SETTINGS],
    ids=[case for case, _, _ in BAD_SETTINGS],
)
def test_bad_settings_name_the_field_and_change_nothing(session, rt, field, changes):
    good: dict[str, Any] = {"name": "Europanytt", "language": "en", "topics": ["Klima"]}
    before = _row(session)
    with pytest.raises(ValidationFailed) as caught:
        update_settings(session, **{**good, **changes}, settings=rt.settings, ui="en")
    assert list(caught.value.errors) == [field]
    session.commit()
    assert _row(session) == before


def test_topics_at_the_limits_are_accepted_and_a_rejected_one_is_named(session, rt):
    topics = [f"Tema {i}" for i in range(29)] + ["x" * 60]
    update_settings(session, "N" * 200, "nb", topics, rt.settings)
    session.commit()
    assert current_topics(session, rt.settings) == tuple(topics)
    with pytest.raises(ValidationFailed) as caught:
        update_settings(session, "N", "nb", ["Klima", "Miljø", "miljø"], rt.settings)
    assert "«miljø»" in caught.value.errors["topics"]


def test_textarea_lines_and_retired_topics_a_reader_still_has():
    assert topics_from_lines("Klima\r\n\n  Energi  \n\n") == ["Klima", "Energi"]
    assert offered_topics(("Klima", "Energi"), ["Forskning", "Klima"]) == (
        "Klima",
        "Energi",
        "Forskning",
    )


# ---- the admin page -----------------------------------------------------------------------


@pytest.fixture
def admin(client, session):
    ids = make_editors(session)
    log_in(client, ids["admin"])
    client.token = token_from(client)
    client.ids = ids
    return client


def _save(client, **form: str):
    return client.post("/admin/settings", data={**form, "csrf_token": client.token})


def test_the_settings_page_shows_the_default_topics_and_is_linked_for_admins_only(admin, session):
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'id="nav-settings"' in page and 'id="topics-default"' in page
    assert ">Innovasjon\nKlima\nForskning</textarea>" in page
    editor = admin.application.test_client()
    log_in(editor, admin.ids["editor"])
    assert 'id="nav-settings"' not in editor.get("/admin/").get_data(as_text=True)


def test_an_admin_saves_the_settings_and_the_change_is_audited(admin, session):
    response = _save(admin, name="Europanytt", language="en", topics="Klima\r\nEnergi\r\n")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/settings"
    assert _row(session) == ("Europanytt", "en", ["Klima", "Energi"])
    event = session.scalars(select(Event).where(Event.kind == "admin.newsletter_settings")).one()
    assert event.data["editor_id"] == admin.ids["admin"]
    assert event.data["changes"]["topics_removed"] == ["Innovasjon", "Forskning"]
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "Innstillingene er lagret." in page
    assert 'id="topics-default"' not in page and ">Klima\nEnergi</textarea>" in page


def test_bad_input_on_the_page_is_shown_next_to_the_field_and_changes_nothing(admin, session):
    before = _row(session)
    response = _save(admin, name="", language="nb", topics="Klima\nklima\n")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'data-field="name"' in page and 'data-field="topics"' in page
    assert 'id="name-error">Navnet kan ikke være tomt.' in page
    assert 'id="topics-error">Det samme temaet står to ganger: «klima»' in page
    assert ">Klima\nklima\n</textarea>" in page  # what the admin typed, to correct it
    assert _row(session) == before
    assert session.scalar(select(Event.id).where(Event.kind == "admin.newsletter_settings")) is None


def test_an_english_admin_gets_the_messages_in_english(admin, session):
    admin.post("/admin/language", data={"language": "en", "csrf_token": admin.token})
    response = _save(admin, name="Europanytt", language="sv", topics="Klima")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Choose Norwegian (nb) or English (en)." in page and "Default language" in page


# ---- the topics reach every reader-facing door -------------------------------------------


def _signup_page(client) -> str:
    page = client.get("/subscribe")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _topic_boxes(html: str) -> list[str]:
    import re

    return re.findall(r'name="topics" value="([^"]+)"', html)


def test_new_topics_reach_the_signup_form_the_api_and_the_embed_snippet(admin, client, session):
    assert _topic_boxes(_signup_page(client)) == list(SEED)
    assert _save(admin, name="Nyhetsbrev", language="nb", topics="Klima\nEnergi").status_code == 302

    html = _signup_page(client)
    assert _topic_boxes(html) == ["Klima", "Energi"]
    form = {"email": "ny@example.no", "consent": "on", "language": "nb", "topics": ["Energi"]}
    ok = client.post("/subscribe", data={**form, "csrf_token": csrf_token(html)})
    assert ok.status_code == 200
    retired = client.post(
        "/subscribe",
        data={
            **form,
            "email": "gammel@example.no",
            "topics": ["Innovasjon"],
            "csrf_token": csrf_token(_signup_page(client)),
        },
    )
    assert retired.status_code == 400 and 'id="topics-error"' in retired.get_data(as_text=True)
    api_ok = client.post("/api/v1/subscribers", json={**form, "email": "api@example.no"})
    assert api_ok.status_code == 202
    api_retired = client.post(
        "/api/v1/subscribers", json={**form, "email": "api2@example.no", "topics": ["Forskning"]}
    )
    assert api_retired.status_code == 400 and "topics" in api_retired.get_json()["errors"]
    session.rollback()
    rows = session.execute(select(Subscriber.email, Subscription.topics).join(Subscription))
    stored = {address: topics for address, topics in rows}
    assert stored == {"ny@example.no": ["Energi"], "api@example.no": ["Energi"]}
    embed = client.get("/help/embed").get_data(as_text=True)
    assert "Energi" in embed and "Innovasjon" not in embed


def test_subscriber_filters_follow_the_new_topics(admin, session):
    _save(admin, name="Nyhetsbrev", language="nb", topics="Klima\nEnergi")
    assert admin.get("/admin/subscribers?topic=Energi").status_code == 200
    assert admin.get("/admin/subscribers?topic=Innovasjon").status_code == 400


def test_a_removed_topic_stays_with_its_readers_and_still_cuts_the_digest(
    admin, client, session, rt
):
    reader = factories.subscription(session, "kare@example.no", "Kåre")
    reader.topics = ["Forskning"]
    issue = factories.drafted_issue(session, articles=2)
    research, climate = (item.article for item in issue.items)
    research.topics, climate.topics = ["Forskning"], ["Klima"]
    session.commit()
    reader_id = reader.id

    assert _save(admin, name="Nyhetsbrev", language="nb", topics="Klima\nEnergi").status_code == 302
    session.expire_all()
    assert session.get(Subscription, reader_id).topics == ["Forskning"]
    message = preview_for(session, rt.settings, rt.tokens, issue.id, "kare@example.no")
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    text = next(str(p.get_content()) for p in parsed.walk() if p.get_content_type() == "text/plain")
    assert research.title in text and climate.title not in text

    # The reader's preferences still show the retired topic, ticked; saving keeps it.
    link = f"/preferences/{link_token(rt, Purpose.PREFERENCES, reader_id)}"
    page = client.get(link).get_data(as_text=True)
    assert _topic_boxes(page) == ["Klima", "Energi", "Forskning"]
    assert 'value="Forskning" checked' in page
    saved = client.post(
        link,
        data={
            "csrf_token": csrf_token(page),
            "name": "Kåre Ø",
            "language": "nb",
            "topics": ["Forskning", "Energi"],
        },
    )
    assert saved.status_code == 200
    session.expire_all()
    assert session.get(Subscription, reader_id).topics == ["Forskning", "Energi"]


def test_the_csv_import_command_takes_the_current_topics(cli, session, tmp_path, rt):
    update_settings(session, "Nyhetsbrev", "nb", ["Energi"], rt.settings)
    session.commit()
    path = tmp_path / "liste.csv"
    path.write_text("email,topics\nen@example.no,Energi\nto@example.no,Klima\n", encoding="utf-8")
    result = cli.invoke(args=["subscribers", "import", str(path), "--already-consented"])
    assert "1 imported" in result.output and "1 with errors" in result.output, result.output
    session.rollback()
    assert session.scalars(select(Subscriber.email)).all() == ["en@example.no"]


# ---- the JSON API -------------------------------------------------------------------------


def _bearer(session, address: str, role: str) -> dict[str, str]:
    create_editor(session, address, "et langt passord", role)
    token = create_token(session, address)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_the_api_reads_for_any_editor_and_changes_for_admins_only(client, session):
    editor = _bearer(session, "redaktor@example.no", "editor")
    admin = _bearer(session, "admin@example.no", "admin")
    assert client.get("/api/v1/newsletter").status_code == 401
    shown = client.get("/api/v1/newsletter", headers=editor).get_json()
    assert shown == {
        "name": "Nyhetsbrev",
        "language": "nb",
        "topics": list(SEED),
        "topics_from_default": True,
    }
    refused = client.put("/api/v1/newsletter", json={"topics": ["Energi"]}, headers=editor)
    assert refused.status_code == 403
    bad = client.put("/api/v1/newsletter", json={"topics": ["Energi", "energi"]}, headers=admin)
    assert bad.status_code == 400
    assert bad.get_json()["errors"] == {"topics": "The same topic appears twice: «energi»"}
    assert _row(session) == ("Nyhetsbrev", "nb", [])
    changed = client.put("/api/v1/newsletter", json={"topics": ["Energi"]}, headers=admin)
    assert changed.status_code == 200
    assert changed.get_json() == {
        "name": "Nyhetsbrev",
        "language": "nb",
        "topics": ["Energi"],
        "topics_from_default": False,
    }
    event = session.scalars(select(Event).where(Event.kind == "api.newsletter_settings")).one()
    assert event.data["changes"]["topics_added"] == ["Energi"]
    assert client.put("/api/v1/newsletter", data="x", headers=admin).status_code == 400
