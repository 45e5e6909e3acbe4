"""An editor changes their own password: the checks, the throttle, the other sessions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer.editors.accounts import WrongPassword, change_password, verify_password
from mailer.editors.models import Editor
from mailer.errors import ValidationFailed
from mailer.events import Event
from mailer.web.limits import limiter
from tests.harness.admin import EDITOR, PASSWORD, log_in, make_editors, token_from
from tests.harness.pages import csrf_token

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back

NEW = "et helt nytt passord for mars"


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        limiter.reset()


def _hash(session, editor_id: int) -> str:
    session.expire_all()
    return session.get(Editor, editor_id).password_hash


# ---- the domain ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new", "repeat", "field"),
    [
        ("feil passord her", NEW, NEW, "current_password"),
        (PASSWORD, "kort", "kort", "new_password"),
        (PASSWORD, NEW, NEW + " ", "repeat_password"),
        (PASSWORD, PASSWORD, PASSWORD, "new_password"),
    ],
    ids=["wrong-current", "too-short", "mismatch", "unchanged"],
)
def test_a_bad_change_names_the_field_and_keeps_the_old_password(
    session, current, new, repeat, field
):
    ids = make_editors(session)
    editor = session.get(Editor, ids["editor"])
    before = editor.password_hash
    with pytest.raises(ValidationFailed) as caught:
        change_password(session, editor, current, new, repeat)
    assert field in caught.value.errors
    assert isinstance(caught.value, WrongPassword) == (field == "current_password")
    session.commit()
    assert _hash(session, ids["editor"]) == before


def test_a_good_change_stores_a_new_argon2_hash(session):
    ids = make_editors(session)
    editor = session.get(Editor, ids["editor"])
    change_password(session, editor, PASSWORD, NEW, NEW)
    session.commit()
    editor = session.get(Editor, ids["editor"])
    assert editor.password_hash.startswith("$argon2id$")
    assert verify_password(editor, NEW) and not verify_password(editor, PASSWORD)
    kinds = session.scalars(select(Event.kind)).all()
    assert "editor.password_changed" in kinds


# ---- the page -----------------------------------------------------------------------------


@pytest.fixture
def editor(client, session):
    ids = make_editors(session)
    log_in(client, ids["editor"])
    client.token = token_from(client, "/admin/account/password")
    client.ids = ids
    return client


def _change(client, current: str, new: str = NEW, repeat: str | None = None):
    return client.post(
        "/admin/account/password",
        data={
            "current_password": current,
            "new_password": new,
            "repeat_password": new if repeat is None else repeat,
            "csrf_token": client.token,
        },
    )


def _login(client, email: str, password: str):
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )


def test_the_page_is_linked_from_the_header_for_every_editor(editor):
    page = editor.get("/admin/").get_data(as_text=True)
    assert 'id="nav-password"' in page and 'href="/admin/account/password"' in page


@pytest.mark.parametrize(
    ("current", "new", "repeat", "field", "message"),
    [
        ("feil passord her", NEW, NEW, "current_password", "Passordet stemmer ikke."),
        (PASSWORD, "kort", "kort", "new_password", "Passordet må ha minst 10 tegn."),
        (PASSWORD, NEW, "noe annet enn det", "repeat_password", "ikke like"),
    ],
    ids=["wrong-current", "too-short", "mismatch"],
)
def test_errors_show_next_to_their_field_and_nothing_changes(
    editor, session, current, new, repeat, field, message
):
    before = _hash(session, editor.ids["editor"])
    response = _change(editor, current, new, repeat)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'data-field="{field}"' in page
    assert f'id="{field}-error">' in page and message in page.split(f'id="{field}-error">')[1]
    assert _hash(session, editor.ids["editor"]) == before
    assert session.scalar(select(Event.id).where(Event.kind == "admin.password")) is None
    assert editor.get("/admin/").status_code == 200  # still logged in


def test_success_logs_out_other_sessions_and_only_the_new_password_works(app, editor, session):
    elsewhere = app.test_client()
    log_in(elsewhere, editor.ids["editor"])
    assert elsewhere.get("/admin/").status_code == 200

    response = _change(editor, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/account"
    assert "Passordet er endret." in editor.get("/admin/account").get_data(as_text=True)
    assert editor.get("/admin/").status_code == 200  # this session goes on
    assert elsewhere.get("/admin/").status_code == 302  # the other one is over
    event = session.scalars(select(Event).where(Event.kind == "admin.password")).one()
    assert event.data["editor_id"] == editor.ids["editor"]

    fresh = app.test_client()
    assert _login(fresh, EDITOR, PASSWORD).status_code == 401
    assert _login(fresh, EDITOR, NEW).status_code == 302
    assert fresh.get("/admin/").status_code == 200


def test_wrong_current_passwords_are_throttled_per_account(app, editor, session):
    before = _hash(session, editor.ids["editor"])
    for _ in range(5):
        assert _change(editor, "feil passord her").status_code == 400
    throttled = _change(editor, PASSWORD)
    assert throttled.status_code == 429
    page = throttled.get_data(as_text=True)
    assert "For mange forsøk" in page and 'id="current_password-error"' in page
    assert _hash(session, editor.ids["editor"]) == before
    failed = session.scalars(select(Event).where(Event.kind == "admin.password_failed")).all()
    assert len(failed) == 5
    # Another account is not locked out by this one.
    other = app.test_client()
    log_in(other, editor.ids["admin"])
    other.token = token_from(other, "/admin/account/password")
    assert _change(other, PASSWORD).status_code == 302


def test_mistakes_in_the_new_password_do_not_count_towards_the_throttle(editor, session):
    for _ in range(6):
        assert _change(editor, PASSWORD, "kort").status_code == 400
    assert _change(editor, PASSWORD).status_code == 302


def test_an_english_editor_gets_the_page_and_errors_in_english(editor):
    editor.post("/admin/language", data={"language": "en", "csrf_token": editor.token})
    response = _change(editor, PASSWORD, NEW, "something else entirely")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Change password" in page and "The two new passwords do not match." in page
    assert "Bytt passord" not in page
