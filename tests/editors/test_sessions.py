"""Sessions that end on the server (logout, "end all sessions"), disabled editors, and
API tokens that can be listed, revoked, expire and record their last use."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, select, text

from mailer.db import utcnow
from mailer.editors.api_tokens import LAST_USED_PRECISION, create_token, editor_for
from mailer.editors.models import ApiToken, Editor
from mailer.events import Event
from mailer.migrate import alembic_config
from tests.harness.admin import ADMIN, EDITOR, PASSWORD, log_in, make_editors, token_from
from tests.harness.databases import ThrowawayDatabase
from tests.harness.pages import csrf_token

API = "/api/v1/issues"


def _form_login(client, email: str = EDITOR, password: str = PASSWORD):
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )


def _post(client, path: str, **data: str):
    return client.post(path, data={**data, "csrf_token": token_from(client)})


def _copy(app, client):
    """Another browser holding a copy of this client's session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _kinds(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(Event.kind).order_by(Event.id)))


# ---- logout and "end all sessions" -------------------------------------------------------


def test_a_cookie_copied_before_logout_no_longer_works_after_it(app, client, session):
    make_editors(session)
    assert _form_login(client).status_code == 302
    copy = _copy(app, client)
    assert _logged_in(copy)
    assert _post(client, "/admin/logout").status_code == 302
    replayed = copy.get("/admin/")
    assert replayed.status_code == 302
    assert replayed.headers["Location"].startswith("/admin/login")
    # Logging in again makes a new session that works.
    assert _form_login(client).status_code == 302 and _logged_in(client)


def test_an_editor_ends_all_their_own_sessions(app, client, session):
    ids = make_editors(session)
    laptop, phone, admin = client, app.test_client(), app.test_client()
    for browser in (laptop, phone):
        assert _form_login(browser).status_code == 302
    log_in(admin, ids["admin"])
    ended = _post(laptop, "/admin/account/sessions/end")
    assert ended.status_code == 302 and ended.headers["Location"] == "/admin/login"
    assert not _logged_in(laptop) and not _logged_in(phone)
    assert _logged_in(admin)  # someone else's sessions are not touched
    assert "admin.sessions_end" in _kinds(session)


def test_an_admin_ends_one_editors_sessions(app, client, session):
    ids = make_editors(session)
    editor, other_admin_tab = app.test_client(), app.test_client()
    assert _form_login(editor).status_code == 302
    log_in(client, ids["admin"])
    log_in(other_admin_tab, ids["admin"])
    response = _post(client, f"/admin/editors/{ids['editor']}/sessions/end")
    assert response.status_code == 302
    assert not _logged_in(editor)
    assert _logged_in(client) and _logged_in(other_admin_tab)
    session.expire_all()
    audit = session.scalars(select(Event).where(Event.kind == "admin.editor_sessions_end")).one()
    assert audit.data["target_editor_id"] == ids["editor"]
    assert audit.data["editor_id"] == ids["admin"]


def test_an_editor_cannot_end_someone_elses_sessions(app, client, session):
    ids = make_editors(session)
    admin = log_in(app.test_client(), ids["admin"])
    log_in(client, ids["editor"])
    assert _post(client, f"/admin/editors/{ids['admin']}/sessions/end").status_code == 403
    assert _logged_in(admin)


# ---- disabling an editor -----------------------------------------------------------------


def test_disabling_ends_sessions_revokes_tokens_and_refuses_login_until_enabled(
    app, client, session
):
    ids = make_editors(session)
    tokens = [create_token(session, EDITOR) for _ in range(2)]
    other = create_token(session, ADMIN)
    session.commit()
    editor = app.test_client()
    assert _form_login(editor).status_code == 302
    assert client.get(API, headers=_bearer(tokens[0])).status_code == 200
    log_in(client, ids["admin"])

    assert _post(client, f"/admin/editors/{ids['editor']}/disable").status_code == 302

    assert not _logged_in(editor)
    for token in tokens:
        assert client.get(API, headers=_bearer(token)).status_code == 401
    assert client.get(API, headers=_bearer(other)).status_code == 200
    session.expire_all()
    assert session.scalars(select(ApiToken.editor_id)).all() == [ids["admin"]]
    refused = _form_login(app.test_client())
    assert refused.status_code == 403
    assert "Kontoen er deaktivert" in refused.get_data(as_text=True)
    assert "Deaktivert" in client.get("/admin/editors").get_data(as_text=True)

    assert _post(client, f"/admin/editors/{ids['editor']}/enable").status_code == 302
    assert _form_login(app.test_client()).status_code == 302
    # Revoked stays revoked.
    assert client.get(API, headers=_bearer(tokens[0])).status_code == 401
    kinds = _kinds(session)
    assert "admin.editor_disable" in kinds and "admin.editor_enable" in kinds


def test_a_disabled_editor_with_a_planted_session_is_not_let_in(app, client, session):
    ids = make_editors(session)
    session.get(Editor, ids["editor"]).disabled_at = utcnow()
    session.commit()
    log_in(client, ids["editor"])  # a stamp made for the current epoch
    assert not _logged_in(client)


def test_an_admin_cannot_disable_themselves_nor_leave_no_active_admin(client, session):
    ids = make_editors(session)
    log_in(client, ids["admin"])
    own = _post(client, f"/admin/editors/{ids['admin']}/disable")
    assert own.status_code == 400
    assert 'data-field="editor"' in own.get_data(as_text=True)
    session.expire_all()
    assert session.get(Editor, ids["admin"]).active
    session.get(Editor, ids["editor"]).role = "admin"
    session.commit()
    assert _post(client, f"/admin/editors/{ids['editor']}/disable").status_code == 302
    # A disabled admin does not count: the one active admin cannot step down.
    last = _post(client, f"/admin/editors/{ids['admin']}/role", role="editor")
    assert last.status_code == 400
    session.expire_all()
    assert session.get(Editor, ids["admin"]).role == "admin"


# ---- API tokens ----------------------------------------------------------------------------


def test_an_editor_lists_creates_with_expiry_and_revokes_their_own_tokens(client, session):
    ids = make_editors(session)
    log_in(client, ids["editor"])
    made = _post(client, "/admin/account/token", expires_days="30")
    assert made.status_code == 200
    token = re.search(r'<code id="new-token">([^<]+)</code>', made.get_data(as_text=True))[1]
    row = session.scalars(select(ApiToken)).one()
    assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)
    assert client.get(API, headers=_bearer(token)).status_code == 200
    page = client.get("/admin/account").get_data(as_text=True)
    assert f'data-token="{row.id}"' in page
    # The last use is shown (to the minute).
    assert "Aldri" not in page.split(f'data-token="{row.id}"')[1].split("</tr>")[0]

    revoked = _post(client, f"/admin/tokens/{row.id}/revoke", next="/admin/account")
    assert revoked.status_code == 302 and revoked.headers["Location"] == "/admin/account"
    assert client.get(API, headers=_bearer(token)).status_code == 401
    assert 'id="no-tokens"' in client.get("/admin/account").get_data(as_text=True)


def test_a_bad_expiry_is_refused_with_the_field_named(client, session):
    ids = make_editors(session)
    log_in(client, ids["editor"])
    for value in ("7", "abc", "-30", ""):
        response = _post(client, "/admin/account/token", expires_days=value)
        assert response.status_code == 400, value
        assert 'data-field="expires_days"' in response.get_data(as_text=True)
    assert session.scalars(select(ApiToken)).all() == []


def test_an_editor_cannot_revoke_someone_elses_token_but_an_admin_can(app, client, session):
    ids = make_editors(session)
    admins = create_token(session, ADMIN)
    editors = create_token(session, EDITOR)
    session.commit()
    admin_row = session.scalar(select(ApiToken).where(ApiToken.editor_id == ids["admin"]))
    editor_row = session.scalar(select(ApiToken).where(ApiToken.editor_id == ids["editor"]))
    log_in(client, ids["editor"])
    assert _post(client, f"/admin/tokens/{admin_row.id}/revoke").status_code == 404
    assert client.get(API, headers=_bearer(admins)).status_code == 200
    admin = log_in(app.test_client(), ids["admin"])
    listing = admin.get("/admin/tokens").get_data(as_text=True)
    assert f'data-token="{editor_row.id}"' in listing and EDITOR in listing
    assert _post(admin, f"/admin/tokens/{editor_row.id}/revoke").status_code == 302
    assert client.get(API, headers=_bearer(editors)).status_code == 401


def test_an_expired_token_is_refused(client, session):
    make_editors(session)
    token = create_token(session, EDITOR, expires_at=utcnow() + timedelta(days=1))
    session.commit()
    assert client.get(API, headers=_bearer(token)).status_code == 200
    session.scalars(select(ApiToken)).one().expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert client.get(API, headers=_bearer(token)).status_code == 401


def test_the_last_use_is_written_at_most_once_a_minute(session):
    make_editors(session)
    token = create_token(session, EDITOR)
    session.commit()
    start = utcnow()
    assert editor_for(session, token, now=start) is not None
    row = session.scalars(select(ApiToken)).one()
    assert row.last_used_at == start
    session.commit()
    assert editor_for(session, token, now=start + LAST_USED_PRECISION / 2) is not None
    assert not session.dirty  # nothing to write
    later = start + LAST_USED_PRECISION
    assert editor_for(session, token, now=later) is not None
    session.commit()
    session.expire_all()
    assert session.scalars(select(ApiToken)).one().last_used_at == later


# ---- the command line ----------------------------------------------------------------------


def test_cli_disables_enables_ends_sessions_and_manages_tokens(app, cli, session):
    ids = make_editors(session)
    browser = app.test_client()
    assert _form_login(browser).status_code == 302
    made = cli.invoke(args=["editor", "token", EDITOR, "--expires-days", "90"])
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    row = session.scalars(select(ApiToken)).one()
    listed = cli.invoke(args=["tokens", "list", "--editor", EDITOR])
    assert listed.exit_code == 0 and listed.output.startswith(f"{row.id}\t{EDITOR}\t")
    assert cli.invoke(args=["tokens", "list", "--editor", ADMIN]).output == ""

    ended = cli.invoke(args=["editor", "end-sessions", EDITOR])
    assert ended.exit_code == 0 and not _logged_in(browser)

    disabled = cli.invoke(args=["editor", "disable", EDITOR])
    assert disabled.exit_code == 0, disabled.output
    assert "1 API token(s) revoked" in disabled.output
    assert browser.get(API, headers=_bearer(token)).status_code == 401
    assert _form_login(app.test_client()).status_code == 403
    refused = cli.invoke(args=["editor", "token", EDITOR])
    assert refused.exit_code == 1 and "disabled" in refused.output
    assert cli.invoke(args=["editor", "enable", EDITOR]).exit_code == 0
    assert _form_login(app.test_client()).status_code == 302

    last_admin = cli.invoke(args=["editor", "disable", ADMIN])
    assert last_admin.exit_code == 1 and "last active admin" in last_admin.output
    session.expire_all()
    assert session.get(Editor, ids["admin"]).active

    again = create_token(session, EDITOR)
    session.commit()
    again_id = session.scalars(select(ApiToken.id)).one()
    assert cli.invoke(args=["tokens", "revoke", str(again_id)]).exit_code == 0
    assert browser.get(API, headers=_bearer(again)).status_code == 401
    missing = cli.invoke(args=["tokens", "revoke", str(again_id)])
    assert missing.exit_code == 1 and "no API token" in missing.output


@pytest.mark.parametrize("command", ["disable", "enable", "end-sessions"])
def test_cli_names_an_unknown_editor(cli, session, command):
    result = cli.invoke(args=["editor", command, "ingen@example.no"])
    assert result.exit_code == 1 and "no editor with the address ingen@example.no" in result.output


# ---- the migration -------------------------------------------------------------------------


@pytest.fixture
def empty_database(tmp_path) -> Iterator[str]:
    """A database of its own on the run's backend (SQLite, or PostgreSQL when set)."""
    server = os.environ.get("MAILER_TEST_DATABASE_URL", "")
    if not server:
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    database = ThrowawayDatabase(server)
    yield database.url
    database.drop()


def test_migration_0007_adds_and_removes_the_columns_keeping_editors(empty_database):
    cfg = alembic_config(empty_database)
    engine = create_engine(empty_database)

    def columns(table: str) -> set[str]:
        return {c["name"] for c in inspect(engine).get_columns(table)}

    try:
        command.upgrade(cfg, "0006")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO editor (email, password_hash, role, language, created_at) "
                    "VALUES ('ed@example.no', 'x', 'editor', 'nb', CURRENT_TIMESTAMP)"
                )
            )
        command.upgrade(cfg, "0007")
        assert {"session_epoch", "disabled_at"} <= columns("editor")
        assert "expires_at" in columns("api_token")
        with engine.connect() as conn:
            row = conn.execute(text("SELECT session_epoch, disabled_at FROM editor")).one()
        assert tuple(row) == (0, None)
        command.downgrade(cfg, "0006")
        assert not {"session_epoch", "disabled_at"} & columns("editor")
        assert "expires_at" not in columns("api_token")
    finally:
        engine.dispose()
