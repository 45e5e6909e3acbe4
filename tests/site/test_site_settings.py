"""Site settings in the admin (issue 12 item 7): stored values used by the digest footer,
the signup page and the archive; a variable that is set wins and shows read-only; embed
origins for admins only, audited; read once per process (no statement per request)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from mailer.events import Event
from mailer.issues.previews import preview_for
from mailer.issues.states import IssueStatus
from mailer.site.models import SiteSetting
from tests.harness import factories
from tests.harness.admin import log_in, make_editors, token_from

pytestmark = pytest.mark.rolled_back

FACTS = {
    "organisation": "Europakontoret Oslo–Brussel",
    "postal_address": "Rue Belliard 20, 1040 Brussel",
    "privacy_url": "https://www.example.no/personvern",
    "description": "Nytt om EU-programmer for regionene på Østlandet.",
    "frequency": "én gang i måneden",
    "sender": "Europakontoret <post@europakontor.example.no>",
    "allowed_origins": "https://www.example.no\nhttps://www.bærum.example.no",
}


def _save(client, form, path="/admin/settings/site"):  # type: ignore[no-untyped-def]
    data = {key: "" for key in ("welcome_subject", "welcome_body")}
    data.update(form)
    return client.post(path, data={"csrf_token": token_from(client, path), **data})


@pytest.fixture
def admin(client, session):  # type: ignore[no-untyped-def]
    return log_in(client, make_editors(session)["admin"])


def test_saved_facts_reach_the_footer_the_signup_page_and_the_archive(admin, session, rt):
    response = _save(admin, FACTS)
    assert response.status_code == 302, response.get_data(as_text=True)

    reader = factories.subscription(session, "kari@example.no", "Kari")
    issue = factories.drafted_issue(session)
    mail = preview_for(session, rt.settings, rt.tokens, issue.id, reader.subscriber.email)
    text = mail.data.decode("utf-8", "replace")
    for value in ("Europakontoret Oslo", "Rue Belliard 20, 1040 Brussel", FACTS["privacy_url"]):
        assert value in text
    # MAILER_FROM is set in the suite: the variable wins over the stored sender.
    assert "From: =?utf-8?q?Europakontoret_=E2=80=93_nyhetsbrev?=" in text

    signup = admin.get("/subscribe").get_data(as_text=True)
    assert FACTS["description"] in signup
    assert FACTS["frequency"] in signup
    assert f'href="{FACTS["privacy_url"]}"' in signup

    issue.status, issue.sent_at = IssueStatus.SENT, datetime.now(UTC)
    session.commit()
    archive = admin.get(f"/archive/{issue.id}").get_data(as_text=True)
    assert "Rue Belliard 20" in archive and "Europakontoret Oslo–Brussel" in archive
    feed = admin.get("/archive.xml").get_data(as_text=True)
    assert f"<description>{FACTS['description']}</description>" in feed


def test_a_variable_that_is_set_shows_read_only_and_wins(admin, session, rt):
    page = admin.get("/admin/settings/site").get_data(as_text=True)
    assert 'name="sender" value="Europakontoret – nyhetsbrev' in page
    assert "Satt av MAILER_FROM" in page and "Satt av MAILER_BASE_URL" in page
    assert "Satt av MAILER_ORGANISATION" not in page

    _save(admin, {"sender": "Andre <andre@example.no>", "base_url": "https://annen.example.no"})
    stored = set(session.scalars(select(SiteSetting.key)))
    assert stored and not stored & {"sender", "base_url"}  # nothing stored for those two
    assert rt.settings.from_address == "nyhetsbrev@europakontor.example.no"
    assert rt.settings.base_url == "https://nyhetsbrev.example.no"


@pytest.mark.parametrize(
    ("language", "message"),
    [("nb", "Ikke et nettsted"), ("en", "Not a site")],
)
def test_a_bad_origin_names_the_field_and_changes_nothing(admin, session, rt, language, message):
    admin.post("/admin/language", data={"csrf_token": token_from(admin), "language": language})
    response = _save(admin, {**FACTS, "allowed_origins": "https://ok.example.no\njavascript:x"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page and 'id="allowed_origins-error"' in page
    assert session.scalars(select(SiteSetting)).all() == []
    assert rt.settings.allowed_origins == ()


def test_embed_origins_are_for_admins_and_every_change_is_audited(client, session, rt):
    ids = make_editors(session)
    editor = log_in(client, ids["editor"])
    assert editor.get("/admin/settings/site").status_code == 403
    assert _save(editor, {"allowed_origins": "https://evil.example.com"}).status_code == 403
    assert rt.settings.allowed_origins == ()

    admin = log_in(client, ids["admin"])
    assert "/help/embed" in admin.get("/admin/settings/site").get_data(as_text=True)
    _save(admin, {"allowed_origins": "https://www.example.no/"})
    assert rt.settings.allowed_origins == ("https://www.example.no",)
    [audit] = session.scalars(select(Event).where(Event.kind == "admin.site_settings")).all()
    assert audit.data["changes"]["allowed_origins"] == [[], ["https://www.example.no"]]
    assert audit.data["editor"] == "admin@example.no"


def test_settings_are_read_once_per_process_not_per_request(client, session, rt):
    """Another engineer counts statements per signup: cached settings cost none."""
    rt.site.invalidate()
    reads: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "site_setting" in statement:
            reads.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            assert client.get("/subscribe").status_code == 200
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", count)
    assert len(reads) == 1
