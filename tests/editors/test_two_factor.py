"""Two-factor login for editors (issue 12 item 18): TOTP with replay refused, argon2-hashed
recovery codes used once, the code step after the password, admins requiring it for
everyone, and `mailer editor reset-2fa`. The browser run is in tests/browser."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from mailer.editors.models import Editor, RecoveryCode
from mailer.editors.two_factor import (
    check_second_factor,
    confirm_enrolment,
    reset_two_factor,
    start_enrolment,
)
from mailer.errors import ValidationFailed
from mailer.site.store import save
from tests.harness.admin import EDITOR, PASSWORD, log_in, make_editors, token_from
from tests.harness.pages import csrf_token

pytestmark = pytest.mark.rolled_back
NOW = 1_800_000_000.0


def _enrolled(session) -> tuple[Editor, list[str]]:  # type: ignore[no-untyped-def]
    editor = session.get(Editor, make_editors(session)["editor"])
    secret = start_enrolment(session, editor)
    codes = confirm_enrolment(session, editor, pyotp.TOTP(secret).at(NOW), now=NOW)
    session.commit()
    return editor, codes


def test_enrolment_needs_a_right_code_and_keeps_only_hashes(session):
    editor = session.get(Editor, make_editors(session)["editor"])
    secret = start_enrolment(session, editor)
    right = pyotp.TOTP(secret).at(NOW)
    with pytest.raises(ValidationFailed):
        confirm_enrolment(session, editor, f"{(int(right) + 1) % 1_000_000:06d}", now=NOW)
    assert not editor.has_two_factor
    codes = confirm_enrolment(session, editor, pyotp.TOTP(secret).at(NOW), now=NOW)
    assert editor.has_two_factor and len(codes) == 10 and len(set(codes)) == 10
    stored = session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and all(h.startswith("$argon2") for h in stored)
    assert not any(code.replace("-", "") in h for code in codes for h in stored)


def test_a_code_works_once_and_a_recovery_code_once(session):
    editor, codes = _enrolled(session)
    totp = pyotp.TOTP(editor.totp_secret)
    later = NOW + 60
    assert check_second_factor(session, editor, totp.at(later), now=later)
    assert not check_second_factor(session, editor, totp.at(later), now=later)  # replayed
    assert not check_second_factor(session, editor, totp.at(NOW - 3600), now=later)  # old
    assert check_second_factor(session, editor, codes[3].upper(), now=later)
    assert not check_second_factor(session, editor, codes[3], now=later)
    assert not check_second_factor(session, editor, "abcde-fghjk", now=later)


def _form_login(client, email: str = EDITOR):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    return client.post(
        "/admin/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )


def test_the_password_alone_does_not_log_in_an_enrolled_editor(client, session):
    editor, codes = _enrolled(session)
    response = _form_login(client)
    assert response.headers["Location"] == "/admin/login/code"
    assert client.get("/admin/").status_code == 302  # not logged in yet
    page = client.get("/admin/login/code")
    wrong = client.post(
        "/admin/login/code",
        data={"code": "12345", "csrf_token": csrf_token(page.get_data(as_text=True))},
    )
    assert wrong.status_code == 401 and "Koden stemmer ikke" in wrong.get_data(as_text=True)
    right = client.post(
        "/admin/login/code",
        data={"code": codes[0], "csrf_token": csrf_token(page.get_data(as_text=True))},
    )
    assert right.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admins_can_require_it_and_editors_without_it_go_to_enrolment(client, session, rt):
    ids = make_editors(session)
    save(session, {"require_two_factor": True}, rt.env_settings)
    session.commit()
    rt.site.invalidate()
    log_in(client, ids["editor"])
    for path in ("/admin/", "/admin/subscribers", "/admin/issues"):
        response = client.get(path)
        assert response.headers.get("Location") == "/admin/account/two-factor", path
    enrol = client.get("/admin/account/two-factor").get_data(as_text=True)
    assert "Administratorene krever tofaktorinnlogging" in enrol
    assert 'src="data:image/svg+xml' in enrol
    session.expire_all()
    secret = session.get(Editor, ids["editor"]).totp_secret
    done = client.post(
        "/admin/account/two-factor",
        data={
            "code": pyotp.TOTP(secret).now(),
            "csrf_token": token_from(client, "/admin/account/two-factor"),
        },
    )
    assert done.status_code == 200 and 'id="recovery-codes"' in done.get_data(as_text=True)
    assert client.get("/admin/").status_code == 200


def test_reset_2fa_turns_it_off_and_ends_the_sessions(cli, session):
    editor, _ = _enrolled(session)
    epoch = editor.session_epoch
    result = cli.invoke(args=["editor", "reset-2fa", EDITOR.upper()])
    assert result.exit_code == 0, result.output
    assert "two-factor login is off for redaktor@example.no" in result.output
    session.expire_all()
    editor = session.get(Editor, editor.id)
    assert not editor.has_two_factor and editor.totp_secret is None
    assert editor.session_epoch == epoch + 1
    assert session.scalars(select(RecoveryCode)).all() == []
    assert cli.invoke(args=["editor", "reset-2fa", "ingen@example.no"]).exit_code == 1


def test_reset_in_the_domain_needs_no_code(session):
    editor, _ = _enrolled(session)
    reset_two_factor(session, editor)
    assert not editor.has_two_factor
