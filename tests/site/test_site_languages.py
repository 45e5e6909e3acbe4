"""The texts an editor writes for readers come in nb and en (issue 12, "every item works in
nb and en"): description, how often it comes and the welcome mail, each edited per language
in /admin/settings/site; a reader in English gets the English text, or the Norwegian one
when the English is empty; a variable sets one language's text and locks only that field.

Mutants this pins (each applied by hand and seen to fail): ``SiteSettings.text`` returning
the Norwegian text whatever the language (every English assertion below), or the English
even when empty (the fall-back test); ``merged`` not picking the ``_en`` keys (the stored
English text never shows); the English welcome pair check dropped (a half-English mail is
saved); the archive copy's or the confirmed page's frequency read as ``site.frequency``
(the Norwegian for everyone)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailer.config import load_settings
from mailer.issues.states import IssueStatus
from mailer.site.models import SiteSetting
from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.admin import log_in, make_editors, token_from
from tests.harness.apps import other_app
from tests.harness.reader import link_token

pytestmark = pytest.mark.rolled_back

TEXTS = {
    "description": "Nytt om EU-programmer for regionene på Østlandet.",
    "description_en": "News on EU programmes for the regions of Eastern Norway.",
    "frequency": "én gang i måneden",
    "frequency_en": "once a month",
}
PATH = "/admin/settings/site"


def _save(client, form):  # type: ignore[no-untyped-def]
    data = {key: "" for key in ("welcome_subject", "welcome_body")}
    data.update(form)
    return client.post(PATH, data={"csrf_token": token_from(client, PATH), **data})


@pytest.fixture
def admin(client, session):  # type: ignore[no-untyped-def]
    return log_in(client, make_editors(session)["admin"])


@pytest.mark.parametrize(
    ("language", "shown", "hidden"),
    [
        ("nb", ("description", "frequency"), ("description_en", "frequency_en")),
        ("en", ("description_en", "frequency_en"), ("description", "frequency")),
    ],
)
def test_the_signup_page_shows_the_description_and_frequency_in_its_language(
    admin, language, shown, hidden
):
    assert _save(admin, TEXTS).status_code == 302

    page = admin.get(f"/subscribe?lang={language}").get_data(as_text=True)
    for key in shown:
        assert TEXTS[key] in page, key
    for key in hidden:
        assert TEXTS[key] not in page, key
    feed = admin.get(f"/archive.xml?lang={language}").get_data(as_text=True)
    assert f"<description>{TEXTS[shown[0]]}</description>" in feed


@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_archive_and_the_confirmed_page_say_how_often_in_the_readers_language(
    admin, session, rt, language
):
    assert _save(admin, TEXTS).status_code == 302
    mine, other = (
        (TEXTS["frequency_en"], TEXTS["frequency"])
        if language == "en"
        else (TEXTS["frequency"], TEXTS["frequency_en"])
    )
    issue = factories.drafted_issue(session)
    issue.status, issue.sent_at = IssueStatus.SENT, datetime.now(UTC)
    waiting = factories.subscription(
        session, f"ny-{language}@example.no", status="pending", language=language
    )
    session.commit()
    archive = admin.get(f"/archive/{issue.id}?lang={language}").get_data(as_text=True)
    assert mine in archive and other not in archive

    page = admin.post(f"/confirm/{link_token(rt, Purpose.CONFIRM, waiting.id)}")
    text = page.get_data(as_text=True)
    assert mine in text and other not in text


def test_an_empty_english_text_falls_back_to_the_norwegian(admin):
    assert (
        _save(admin, {"description": TEXTS["description"], "frequency": "månedlig"}).status_code
        == 302
    )

    page = admin.get("/subscribe?lang=en").get_data(as_text=True)
    assert TEXTS["description"] in page
    assert "How often it comes: månedlig" in page


def test_the_form_has_both_languages_and_says_what_an_empty_english_field_does(admin):
    page = admin.get(PATH).get_data(as_text=True)
    for key in ("description", "description_en", "frequency", "frequency_en"):
        assert f'id="site-{key}"' in page
    for key in ("welcome_subject", "welcome_subject_en", "welcome_body", "welcome_body_en"):
        assert f'id="site-{key}"' in page
    assert "Står feltet tomt, ser de den norske teksten." in page

    admin.post("/admin/language", data={"csrf_token": token_from(admin), "language": "en"})
    page = admin.get(PATH).get_data(as_text=True)
    assert "Short description (English)" in page
    assert "If left empty, they see the Norwegian text." in page


@pytest.mark.parametrize(
    ("language", "message"),
    [("nb", "Skriv både engelsk emne og engelsk tekst"), ("en", "Write both the English subject")],
)
def test_half_an_english_welcome_mail_is_refused_naming_the_field(
    admin, session, rt, language, message
):
    admin.post("/admin/language", data={"csrf_token": token_from(admin), "language": language})
    response = _save(
        admin,
        {
            "welcome_enabled": "on",
            "welcome_subject": "Velkommen",
            "welcome_body": "Takk for at du vil lese oss.",
            "welcome_subject_en": "Welcome",
            "welcome_body_en": "",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page and 'id="welcome_body_en-error"' in page
    assert session.scalars(select(SiteSetting)).all() == []
    assert not rt.settings.site.welcome_enabled


@pytest.mark.committed  # a second app on its own engine
def test_a_variable_sets_its_own_language_and_locks_only_that_field(app, session, monkeypatch):
    """MAILER_DESCRIPTION is the Norwegian text; the English one stays the admin's until
    MAILER_DESCRIPTION_EN is set too."""
    ids = make_editors(session)
    monkeypatch.setenv("MAILER_DESCRIPTION", "Fra miljøet")
    with other_app(app, load_settings()) as built:
        client = log_in(built.test_client(), ids["admin"])
        page = client.get(PATH).get_data(as_text=True)
        assert "Satt av MAILER_DESCRIPTION:" in page
        assert "Satt av MAILER_DESCRIPTION_EN" not in page
        assert (
            _save(client, {"description": "Lagret", "description_en": "Stored"}).status_code == 302
        )
        assert "Fra miljøet" in client.get("/subscribe?lang=nb").get_data(as_text=True)
        english = client.get("/subscribe?lang=en").get_data(as_text=True)
        assert "Stored" in english and "Fra miljøet" not in english

    monkeypatch.setenv("MAILER_DESCRIPTION_EN", "From the environment")
    with other_app(app, load_settings()) as built:
        client = log_in(built.test_client(), ids["admin"])
        assert "Satt av MAILER_DESCRIPTION_EN" in client.get(PATH).get_data(as_text=True)
        assert "From the environment" in client.get("/subscribe?lang=en").get_data(as_text=True)
